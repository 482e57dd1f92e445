"""Server-sent events for the overview: changed alerts and county counts, polled every ~2 s.

Bounded: each stream polls the audit table (every alert change writes an event, so the
newest event id says whether anything changed), sends at most 50 changed alerts a time, ends
after ``LiveSettings.max_age_s`` (the browser reconnects with ``Last-Event-ID`` and misses
nothing), and the process serves at most ``max_streams`` at once. Every poll re-checks the
session, so signing out or a revoked token stops its streams. The bureau gets county counts only.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.auth import NotSignedIn, Principal, Role
from api.deps import ROW_ID_MAX
from api.services import ApiServices
from api.sessions import session_principal
from api.usecases.alerts import changed_alerts, last_event_id, unresolved_counts
from api.web.app_state import live_settings
from api.web.i18n import Translator
from api.web.render import translator
from api.web.routes.overview import alert_items
from api.web.session import base_path, session_id

router = APIRouter()

RETRY_MS = 2000
"""How long the browser waits before reconnecting a stream that ended [ms]."""


def _authenticate(services: ApiServices, token: str | None) -> Principal | None:
    """The caller of page session ``token`` (its id), if it is still live."""
    with services.sessions() as session:
        return session_principal(session, token, services.web_sessions)


def poll(services: ApiServices, token: str | None, after: int, t: Translator,
         base: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]], int] | None:
    """Changes since event ``after``: (alert items, counts, newest event id); None if the
    session (or its token) no longer works."""
    principal = _authenticate(services, token)
    if principal is None:
        return None
    with services.sessions() as session:
        if principal.role is Role.BUREAU:
            newest = last_event_id(session)
            items: list[dict[str, Any]] = []
        else:
            alerts, newest = changed_alerts(session, principal, after)
            items = alert_items(session, alerts, t, base)
        counts = unresolved_counts(session, principal) if newest != after else {}
    return items, counts, newest


def _event(name: str, payload: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"


@router.get("/events")
async def events(request: Request,
                 after: Annotated[int, Query(ge=0, le=ROW_ID_MAX)] = 0) -> Response:
    """The overview's live stream (``text/event-stream``)."""
    services: ApiServices = request.app.state.services
    token = session_id(request)
    principal = await run_in_threadpool(_authenticate, services, token)
    if principal is None:
        raise NotSignedIn
    settings = live_settings(request.app)
    if request.app.state.live_streams >= settings.max_streams:
        return PlainTextResponse("too many live streams", 503, headers={"Retry-After": "30"})
    resume = request.headers.get("last-event-id", "")
    start = min(int(resume), ROW_ID_MAX) if resume.isascii() and resume.isdigit() else after
    t, base = translator(request), base_path(request)

    async def stream() -> AsyncIterator[str]:
        request.app.state.live_streams += 1
        try:
            last = start
            if last == 0:  # no position: start from now
                result = await run_in_threadpool(poll, services, token, 0, t, base)
                if result is None:
                    return
                last = result[2]
            yield f"retry: {RETRY_MS}\nid: {last}\n\n"
            deadline = time.monotonic() + settings.max_age_s
            quiet_since = time.monotonic()
            while time.monotonic() < deadline:
                await anyio.sleep(settings.poll_s)
                result = await run_in_threadpool(poll, services, token, last, t, base)
                if result is None:
                    yield _event("signed-out", {})
                    return
                items, counts, newest = result
                if newest != last:
                    last = newest
                    if items:
                        yield _event("alerts", items)
                    yield _event("summary", counts, newest)
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= settings.keepalive_s:
                    yield ": keep-alive\n\n"
                    quiet_since = time.monotonic()
        finally:
            request.app.state.live_streams -= 1

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
