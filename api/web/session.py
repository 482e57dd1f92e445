"""Sign-in state of the pages: a server-side session (``api.sessions``) in an HttpOnly,
SameSite=Lax cookie.

The cookie holds the session's random id, never the API token: ``session_id`` reads it and
``cookie_principal`` is the pages' ``PrincipalReader``, so every request resolves the session
(and the token behind it, so a revoked token stops working at once). The cookie is ``Secure``
whenever the request came over HTTPS, as seen through ``FARMTEL_TRUSTED_PROXIES`` (only those
proxies' ``X-Forwarded-Proto`` counts: ``api.app``). Forms carry a CSRF token derived from the
session id (HMAC), and POSTs from another origin are refused.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated, Final
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Request, Response, status
from sqlalchemy.orm import Session

from api.auth import NotSignedIn, Principal
from api.services import ApiServices
from api.sessions import session_principal

SESSION_COOKIE: Final = "farmtel_session"
MAX_FORM_BYTES: Final = 64 * 1024
MAX_UPLOAD_BYTES: Final = 5 * 1024 * 1024
_CSRF_CONTEXT: Final = b"farmtel-web-csrf-v1"


class CsrfError(Exception):
    """A POST without the form's CSRF token, or from another origin."""


def base_path(request: Request) -> str:
    """Where the pages are mounted (``/web``), from the ASGI root path."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def session_id(request: Request) -> str | None:
    """The session id in the session cookie, if any."""
    value = request.cookies.get(SESSION_COOKIE)
    return value or None


def cookie_principal(request: Request, db: Session) -> Principal | None:
    """The caller of the request's page session (the pages' ``PrincipalReader``)."""
    services: ApiServices = request.app.state.services
    return session_principal(db, session_id(request), services.web_sessions)


def set_session_cookie(request: Request, response: Response, value: str, max_age_s: int) -> None:
    """Put a session id into the cookie: HttpOnly, SameSite=Lax, Secure over HTTPS."""
    response.set_cookie(SESSION_COOKIE, value, max_age=max_age_s, path=base_path(request) or "/",
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")


def clear_session_cookie(request: Request, response: Response) -> None:
    """Tell the browser to drop the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path=base_path(request) or "/", httponly=True,
                           samesite="lax", secure=request.url.scheme == "https")


def csrf_token(token: str) -> str:
    """The CSRF token of a session id (stable for the session, useless without it)."""
    return hmac.new(token.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()[:40]


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # an opaque origin ("null") is never ours
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def read_form(request: Request) -> dict[str, str]:
    """A URL-encoded form body as {name: first value}; checks origin and size (not CSRF)."""
    if not _same_origin(request):
        raise CsrfError
    body = await request.body()
    if not body:
        return {}
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "form too large")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "form expected")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "bad form") from exc
    return {k: v[0] for k, v in parsed.items()}


async def checked_form(request: Request) -> dict[str, str]:
    """A form posted by a signed-in page: origin, size and CSRF token checked."""
    form = await read_form(request)
    token = session_id(request)
    if token is None:
        raise NotSignedIn
    if not hmac.compare_digest(form.get("csrf", ""), csrf_token(token)):
        raise CsrfError
    return form


Form = Annotated[dict[str, str], Depends(read_form)]
CheckedForm = Annotated[dict[str, str], Depends(checked_form)]


@dataclass(frozen=True, slots=True)
class Upload:
    """A multipart form with one file: its text fields, the file's name and bytes."""

    fields: dict[str, str]
    filename: str
    data: bytes


async def checked_upload(request: Request) -> Upload:
    """A multipart form with one file posted by a signed-in page: origin, size (the file up
    to ``MAX_UPLOAD_BYTES``, at most 10 text fields) and CSRF token checked, as for
    ``checked_form``."""
    if not _same_origin(request):
        raise CsrfError
    token = session_id(request)
    if token is None:
        raise NotSignedIn
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "multipart/form-data":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "multipart form expected")
    if int(request.headers.get("content-length") or 0) > MAX_UPLOAD_BYTES + MAX_FORM_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "file too large")
    fields: dict[str, str] = {}
    filename, data = "", b""
    async with request.form(max_files=1, max_fields=10, max_part_size=MAX_FORM_BYTES) as form:
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(name, value)
            else:
                filename = value.filename or ""
                data = await value.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "file too large")
    if not hmac.compare_digest(fields.get("csrf", ""), csrf_token(token)):
        raise CsrfError
    return Upload(fields, filename, data)


CheckedUpload = Annotated[Upload, Depends(checked_upload)]


def safe_next(base: str, target: str | None) -> str:
    """``target`` if it is a page of ours (no open redirect), else the overview."""
    if target and target.startswith(base + "/") and not target.startswith("//") \
            and "\\" not in target and "://" not in target:
        return target
    return base + "/"
