# Chaser's image. The service, with its data (SQLite store, secret key, digests) in a volume:
#   docker build -t chaser .
#   docker run -v chaser-data:/data -v "$PWD/config:/app/config:ro" chaser plan import /data/plan.xlsx
#   docker run -d -v chaser-data:/data -v "$PWD/config:/app/config:ro" -p 8080:8080 \
#       -e CHASER_SMTP_HOST=... -e CHASER_SECRET_KEY=... chaser          # = chaser run
# Any other verb works the same way (`... chaser digest --group SIB`). In the container the web
# app listens on 0.0.0.0:8080 so the reply form can be published (behind a TLS proxy); the
# secretary's pages are therefore refused until sign-in is configured: see docs/secretary-pages.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CHASER_DATA_DIR=/data \
    CHASER_CONFIG=/app/config \
    CHASER_LOG_FORMAT=json \
    CHASER_WEB_LISTEN=0.0.0.0:8080

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY chaser ./chaser
COPY workflows ./workflows
COPY notifications ./notifications
COPY integrations ./integrations
COPY config ./config
RUN pip install --no-cache-dir -e . \
    && useradd --system --home /data --uid 10001 chaser \
    && mkdir -p /data && chown chaser /data

USER chaser
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
ENTRYPOINT ["chaser"]
CMD ["run"]
