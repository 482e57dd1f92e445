"""The web pages as an ASGI sub-application mounted at ``/web`` by ``api.app.create_app``.

A sub-application keeps the pages' concerns to themselves: gzip, security headers, HTML error
pages and the sign-in redirect apply here and never to the JSON API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import NotSignedIn, Principal
from api.errors import install_error_handlers
from api.services import ApiServices
from api.validation import refuse_nul
from api.web.app_state import LiveSettings
from api.web.render import STATIC, render
from api.web.routes import (
    alerts,
    auth,
    devices,
    events,
    fleet,
    indicators,
    overview,
    registry_import,
    sites,
)
from api.web.session import CsrfError, base_path, cookie_principal, session_id

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeaders:
    """Adds the pages' security headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CachedStatic(StaticFiles):
    """Static files with a long cache lifetime (URLs carry a content hash, ``?v=``)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        """The file with ``Cache-Control`` set."""
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=2592000"
        return response


def _principal(request: Request) -> Principal | None:
    """The signed-in user for error pages (None if there is none)."""
    if not session_id(request):
        return None
    services: ApiServices = request.app.state.services
    with services.sessions() as session:
        return cookie_principal(request, session)


async def _error(request: Request, code: int, detail: str = "", key: str = "") -> Response:
    """An error page (with the navigation when the user is signed in)."""
    key = key or {403: "error.403", 404: "error.404", 409: "error.409",
                  422: "error.422", 503: "error.503"}.get(code, "error.other")
    principal = await run_in_threadpool(_principal, request)
    return render(request, "error.html", {"code": code, "key": key, "detail": detail},
                  principal=principal, status_code=code)


async def _login_required(request: Request, _exc: Exception) -> Response:
    if "text/event-stream" in request.headers.get("accept", ""):
        return PlainTextResponse("sign in first", status.HTTP_401_UNAUTHORIZED)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{base_path(request)}/login?next={quote(here, safe='')}",
                            status.HTTP_303_SEE_OTHER)


async def _csrf(request: Request, _exc: Exception) -> Response:
    return await _error(request, status.HTTP_403_FORBIDDEN, key="error.csrf")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        return PlainTextResponse("method not allowed", exc.status_code)
    return await _error(request, exc.status_code, str(exc.detail))


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail = "; ".join(str(e.get("msg", "")) for e in exc.errors())[:300]
    return await _error(request, status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def create_web_app(services: ApiServices, *, live: LiveSettings | None = None) -> FastAPI:
    """The pages over ``services`` (mount it at ``/web``)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(refuse_nul)])  # no NUL in any text: 422
    app.state.services = services
    app.state.live = live or LiveSettings()
    app.state.live_streams = 0
    app.state.read_principal = cookie_principal
    app.add_middleware(GZipMiddleware, minimum_size=512, compresslevel=6)
    app.add_middleware(SecurityHeaders)
    install_error_handlers(app, _error)
    app.add_exception_handler(NotSignedIn, _login_required)
    app.add_exception_handler(CsrfError, _csrf)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    for module in (auth, overview, events, alerts, sites, registry_import, devices, fleet,
                   indicators):  # /devices/import before the /devices/{device_id} pages
        app.include_router(module.router)
    app.mount("/static", CachedStatic(directory=STATIC), name="static")
    return app
