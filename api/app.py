"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

import farmtel
from api.deps import ApiServices
from api.routes import (
    alerts,
    completeness,
    devices,
    fields,
    health,
    indicators,
    ingest,
    sites,
    targets,
    telemetry,
    tokens,
)
from api.web import create_web_app

API_PREFIX = "/api/v1"


def create_app(services: ApiServices) -> FastAPI:
    """An app serving ``services``; nothing is created at import time."""
    app = FastAPI(
        title="farmtel",
        version=farmtel.__version__,
        description="Agricultural IoT telemetry: devices, telemetry, ingest, dead letters.",
    )
    app.state.services = services
    for module in (health, sites, devices, telemetry, ingest, fields, alerts, indicators,
                   completeness, tokens, targets):
        app.include_router(module.router, prefix=API_PREFIX)
    app.mount("/web", create_web_app(services))  # the pages (api.web)
    app.add_api_route("/", lambda: RedirectResponse("/web/"), include_in_schema=False)
    return app
