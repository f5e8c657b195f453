# The one image behind web, worker, beat and the one-shot migrate service
# (see docker-compose.yml); the command picks the process, as in the Procfile.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Run from the source tree: config/ (default.toml, alembic.ini) sits beside app/.
    PYTHONPATH=/app

WORKDIR /app

COPY pyproject.toml README.md ./
COPY app ./app
COPY workers ./workers
COPY config ./config
COPY Procfile ./
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin authsvc \
 && mkdir -p var/keys \
 && chown -R authsvc:authsvc var

USER authsvc
EXPOSE 8080
CMD ["python", "-m", "app", "serve"]
