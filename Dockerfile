# Chaser's image: `docker run -v chaser-data:/data chaser run` (the service), or any verb.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CHASER_DATA_DIR=/data \
    CHASER_CONFIG=/app/config \
    CHASER_LOG_FORMAT=json

WORKDIR /app
COPY pyproject.toml README.md ./
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
ENTRYPOINT ["chaser"]
CMD ["run"]
