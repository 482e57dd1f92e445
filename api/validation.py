"""Text no database can keep is refused at the edge, for the JSON API and the pages alike.

A NUL character (U+0000) is valid in JSON strings, URLs (``%00``) and forms, but PostgreSQL's
text types cannot store it (and SQLite truncates at it in places), so a name with one used to
reach the database and fail there (500). ``refuse_nul`` is a dependency of both apps: a NUL in
any path or query parameter, JSON body (keys and values, at any depth) or URL-encoded form is
a ``RequestValidationError`` (422) before any route runs. Files uploaded as multipart are the
business of whoever reads them (``devices.provisioning`` refuses NUL in registry text).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.exceptions import RequestValidationError

NUL: Final = "\x00"
MESSAGE: Final = "NUL characters (U+0000) are not allowed in text"


def _nul_paths(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    """Where in a decoded JSON value a string (or an object key) holds a NUL."""
    if isinstance(value, str):
        if NUL in value:
            yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                yield (*loc, key)
            yield from _nul_paths(item, (*loc, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nul_paths(item, (*loc, i))


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _body_nul_paths(request: Request) -> list[tuple[str | int, ...]]:
    media = _media_type(request)
    if media == "application/json" or media.endswith("+json"):
        body = await request.body()
        if b"\\u0000" not in body:  # a NUL in a JSON string is always written so
            return []
        try:
            return list(_nul_paths(json.loads(body), ("body",)))
        except ValueError:  # not JSON: the route's own validation answers
            return []
    if media == "application/x-www-form-urlencoded":
        body = await request.body()
        if b"%00" not in body and b"\x00" not in body:
            return []
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return [("body", name) for name, value in pairs if NUL in name or NUL in value]
    return []


async def refuse_nul(request: Request) -> None:
    """Refuse a request carrying a NUL in any text the app reads (422, as pydantic would)."""
    locations: list[tuple[str | int, ...]] = [
        ("path", name) for name, value in request.path_params.items()
        if isinstance(value, str) and NUL in value]
    locations += [("query", name) for name, value in request.query_params.multi_items()
                  if NUL in name or NUL in value]
    locations += await _body_nul_paths(request)
    if locations:
        raise RequestValidationError([
            {"type": "string_nul", "loc": loc, "msg": MESSAGE, "input": None}
            for loc in locations])
