"""Rendering pages: the Jinja2 environment, the context every page gets, formatting helpers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from api.auth import Principal, Role
from api.web.i18n import DEFAULT_LANG, LANG_COOKIE, ROLE_KEYS, Translator, normalise_lang
from api.web.labels import SEVERITY_ICONS
from api.web.session import base_path, csrf_token, session_id
from storage.clock import CST, cst_datetime

HERE: Final = Path(__file__).parent
TEMPLATES: Final = HERE / "templates"
STATIC: Final = HERE / "static"
PAGE_HEADERS: Final = {"Cache-Control": "no-store"}


@cache
def environment() -> Environment:
    """The template environment (built on first use)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      auto_reload=False)
    env.filters["cst"] = fmt_cst
    env.filters["num"] = fmt_num
    env.filters["tojson_script"] = json_script
    return env


@cache
def static_version(name: str) -> str:
    """A short content hash of a static file, for cache-busting URLs."""
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]


def lang_of(request: Request) -> str:
    """The page language: ``?lang=`` first, then the cookie, then Chinese."""
    return (normalise_lang(request.query_params.get("lang"))
            or normalise_lang(request.cookies.get(LANG_COOKIE)) or DEFAULT_LANG)


def translator(request: Request) -> Translator:
    """A translator for the request's language."""
    return Translator(lang_of(request))


def fmt_cst(value: datetime | int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC datetime (naive = UTC) or epoch ms as China Standard Time text; '—' for None."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return cst_datetime(value).strftime(fmt)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CST).strftime(fmt)


def fmt_num(value: float | int | None, digits: int = 1) -> str:
    """A number with ``digits`` decimals and thousands separators; '—' for None."""
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def json_script(value: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>`` break-out)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - escaped above for a JSON script element


def page_url(request: Request, **changes: str | None) -> str:
    """The current page's URL with query parameters changed (None removes one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


def nav_items(principal: Principal | None) -> list[tuple[str, str]]:
    """(path, message key) of the pages this user may open."""
    if principal is None:
        return []
    items = [("/", "nav.overview")]
    if principal.role in (Role.ADMIN, Role.AGRONOMIST):
        items += [("/alerts", "nav.alerts"), ("/sites", "nav.sites"), ("/devices", "nav.devices")]
    if principal.role in (Role.ADMIN, Role.BUREAU):
        items.append(("/indicators", "nav.indicators"))
    return items


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *,
           principal: Principal | None = None, status_code: int = 200,
           active: str = "") -> HTMLResponse:
    """A page: ``template`` with the shared context (language, user, navigation, CSRF)."""
    t = translator(request)
    base = base_path(request)
    token = session_id(request)

    def static(name: str) -> str:
        return f"{base}/static/{name}?v={static_version(name)}"

    def this_page(**changes: str | None) -> str:
        return page_url(request, **changes)

    ctx: dict[str, Any] = {
        "request": request, "t": t, "lang": t.lang, "base": base, "static": static,
        "principal": principal,
        "role_label": t(ROLE_KEYS[principal.role.value]) if principal else "",
        "nav": nav_items(principal), "active": active, "icons": SEVERITY_ICONS,
        "csrf": csrf_token(token) if token and principal else "",
        "lang_url": page_url(request, lang=t.other), "page_url": this_page,
    }
    ctx.update(context or {})
    html = environment().get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
    if request.query_params.get("lang") and normalise_lang(request.query_params["lang"]):
        response.set_cookie(LANG_COOKIE, t.lang, max_age=365 * 86400, path=base or "/",
                            samesite="lax", httponly=True,
                            secure=request.url.scheme == "https")
    return response
