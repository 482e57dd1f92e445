"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

import farmtel
from api.deps import ApiServices
from api.routes import devices, fields, health, ingest, sites, telemetry

API_PREFIX = "/api/v1"


def create_app(services: ApiServices) -> FastAPI:
    """An app serving ``services``; nothing is created at import time."""
    app = FastAPI(
        title="farmtel",
        version=farmtel.__version__,
        description="Agricultural IoT telemetry: devices, telemetry, ingest, dead letters.",
    )
    app.state.services = services
    for module in (health, sites, devices, telemetry, ingest, fields):
        app.include_router(module.router, prefix=API_PREFIX)
    return app
