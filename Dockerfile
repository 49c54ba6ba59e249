# Chaser's image. The service, with its data (SQLite store, secret key, digests) in a volume:
#   docker build -t chaser .
#   docker run -v chaser-data:/data -v "$PWD/config:/app/config:ro" chaser plan import /data/plan.xlsx
#   docker run -v chaser-data:/data chaser users add secretary@council.example --role admin
#   docker run -d -v chaser-data:/data -v "$PWD/config:/app/config:ro" -p 8080:8080 \
#       -e CHASER_SMTP_HOST=... -e CHASER_SECRET_KEY=... chaser          # = chaser run
# Any other verb works the same way (`... chaser digest --group SIB`). In the container the web
# app listens on 0.0.0.0:8080, behind a TLS proxy (name it in CHASER_TRUSTED_PROXIES). The
# secretary's pages are served there to signed-in users: by an emailed link once mail goes by
# SMTP or Microsoft Graph, or with Microsoft (CHASER_ENTRA_*); see docs/secretary-pages.md.
# `chaser users signin-link EMAIL` prints the first admin's way in.
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
