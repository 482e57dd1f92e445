# Debian 12 (bookworm) pinned: its postgresql-client-15 matches docker-compose's postgres:15
# (pg_dump refuses a server newer than itself; python:3.11-slim alone follows Debian's newest).
FROM python:3.11-slim-bookworm
# pg_dump and pg_restore of PostgreSQL 15, for `farmtel backup` / `farmtel restore` of the
# metadata database (installed under /usr/lib/postgresql/15/bin, where farmtel looks first).
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY farmtel farmtel
COPY devices devices
COPY storage storage
COPY ingest ingest
COPY analytics analytics
COPY api api
COPY simulators simulators
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT []
