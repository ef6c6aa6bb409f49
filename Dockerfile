# The case-journey service: slim, non-root, `casejourney` as the entry point.
# Build: docker build -t casejourney .   (README: "Run it in containers"; compose.yaml runs it whole)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# What is installed is what pyproject.toml pins; the tests, scripts and docs stay out (.dockerignore).
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY projections ./projections
COPY infrastructure ./infrastructure
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --home-dir /data casejourney \
    && mkdir -p /data && chown casejourney /data

USER 10001
# The embedded default keeps its file and keys here; on PostgreSQL only the key folder is used.
ENV CASEJOURNEY_SQLITE_PATH=/data/casejourney.sqlite \
    CASEJOURNEY_KEY_DIR=/data/keys \
    CASEJOURNEY_HTTP_HOST=0.0.0.0 \
    CASEJOURNEY_HTTP_PORT=8000
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3).status != 200)"]

ENTRYPOINT ["casejourney"]
CMD ["serve", "--workers", "2"]
