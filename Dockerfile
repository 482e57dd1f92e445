FROM python:3.11-slim
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
