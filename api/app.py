"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import farmtel
from api.auth import NotSignedIn
from api.deps import bearer_principal
from api.errors import install_error_handlers
from api.metrics import install_metrics
from api.routes import (
    alerts,
    completeness,
    devices,
    fields,
    health,
    indicators,
    ingest,
    jurisdictions,
    registry_import,
    sites,
    targets,
    telemetry,
    tokens,
)
from api.services import ApiServices
from api.validation import refuse_nul
from api.web import create_web_app

API_PREFIX = "/api/v1"


async def _json_error(_request: Request, code: int, detail: str) -> Response:
    return JSONResponse({"detail": detail}, code)


async def _not_signed_in(request: Request, _exc: Exception) -> Response:
    has_header = bool(request.headers.get("authorization"))
    return JSONResponse({"detail": "invalid or revoked token" if has_header
                         else "bearer token required"},
                        status.HTTP_401_UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


def create_app(services: ApiServices) -> FastAPI:
    """An app serving ``services``; nothing is created at import time."""
    app = FastAPI(
        title="farmtel",
        version=farmtel.__version__,
        description="Agricultural IoT telemetry: devices, telemetry, ingest, dead letters.",
        dependencies=[Depends(refuse_nul)],  # no NUL in any text: 422 (api.validation)
    )
    app.state.services = services
    app.state.read_principal = bearer_principal
    install_error_handlers(app, _json_error)
    app.add_exception_handler(NotSignedIn, _not_signed_in)
    for module in (health, sites, devices, telemetry, ingest, fields, alerts, indicators,
                   completeness, tokens, targets, registry_import, jurisdictions):
        app.include_router(module.router, prefix=API_PREFIX)
    app.mount("/web", create_web_app(services))  # the pages (api.web)
    if services.metrics is not None:
        install_metrics(app, services.metrics)  # GET /metrics, request counts
    app.add_api_route("/", lambda: RedirectResponse("/web/"), include_in_schema=False)
    # The scheme and client address a trusted proxy forwards (X-Forwarded-Proto/-For), from
    # nobody else: the session cookie's Secure flag follows request.url.scheme.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(services.trusted_proxies))
    return app
