"""``GET /metrics`` of the API process and its request metrics (Prometheus text format).

The route serves the process's registry (``ApiServices.metrics``): in ``farmtel up`` that
also holds the in-process ingest worker's and alert service's collectors. Requests are
counted by method, route template (``/api/v1/devices/{device_id}``, never the raw path, so
the label set stays small) and status.
"""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRICS_PATH = "/metrics"


class _RequestMetrics:
    """Pure ASGI middleware: one counter increment and one histogram observation a request."""

    def __init__(self, app: ASGIApp, requests: Counter, duration: Histogram,
                 templates: _RouteTemplates) -> None:
        self._app = app
        self._requests = requests
        self._duration = duration
        self._templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, send_status)
        finally:
            route = self._templates.of(scope)
            self._requests.labels(scope["method"], route, str(status)).inc()
            self._duration.labels(scope["method"], route).observe(time.perf_counter() - started)


class _RouteTemplates:
    """The path template of the route a request matched, with its router's prefix.

    FastAPI keeps an included router's routes with their own path (``/health``) and puts the
    prefix in a route context, so the full templates are learnt from the app's route contexts
    on first use. A route of a mounted app (the pages) is its mount's root path plus its path.
    """

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._paths: dict[int, str] | None = None

    def of(self, scope: Scope) -> str:
        """``/api/v1/devices/{device_id}``, ``/web/sites/{site_id}``, or ``unmatched``."""
        route = scope.get("route")
        if route is None:
            return "unmatched"
        if self._paths is None:  # every route exists by the first request
            self._paths = {id(c.original_route): c.path for c in iter_route_contexts(self._app.routes)
                           if c.path}
        path = self._paths.get(id(route))
        if path is not None:
            return path
        own = getattr(route, "path", None)
        return "unmatched" if own is None else f"{scope.get('root_path', '')}{own}"


def install_metrics(app: FastAPI, registry: CollectorRegistry) -> None:
    """Count ``app``'s requests into ``registry`` and serve it on ``GET /metrics``."""
    requests = Counter("farmtel_http_requests", "HTTP requests answered, by route and status.",
                       ["method", "route", "status"], registry=registry)
    duration = Histogram("farmtel_http_request_duration_seconds",
                         "Time to answer an HTTP request, by route.", ["method", "route"],
                         registry=registry)
    app.add_middleware(_RequestMetrics, requests=requests, duration=duration,
                       templates=_RouteTemplates(app))

    def metrics() -> Response:
        """Prometheus text exposition of this process's metrics (no token: no secrets here)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(METRICS_PATH, metrics, methods=["GET"], include_in_schema=False)
