"""The HTTP API (FastAPI) and web pages for agronomists and the bureau."""
