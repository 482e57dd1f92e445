"""Open a telemetry store from its URL (``Settings.resolved_store_url``).

Accepted URLs::

    sqlite:///relative/path.db              (three slashes: relative to the working directory)
    sqlite:////absolute/path.db             (four slashes: absolute)
    influxdb://[user:password@]host[:port]/database            (InfluxDB 1.x API, port 8086)
    influxdb2://token@host[:port]/org/bucket                   (API v2 writes, port 8086)

Credentials are percent-decoded, so a ``/``, ``@`` or ``:`` in them must be written ``%2F``,
``%40``, ``%3A``. ``retention`` is what the store's ``maintain()`` keeps (default: 400 days of
raw readings, rollups forever). Only the SQLite store touches anything when opened (it creates its file);
InfluxDB is first contacted by the first call.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from storage.influx import InfluxTelemetryStore
from storage.rollups import Retention
from storage.sqlite import SqliteTelemetryStore
from storage.telemetry import TelemetryStore

DEFAULT_INFLUX_PORT = 8086
_SCHEMES = "sqlite:///path, influxdb://[user:password@]host:port/db, influxdb2://token@host:port/org/bucket"


def open_store(url: str, *, retention: Retention | None = None) -> TelemetryStore:
    """The store that ``url`` names; ``ValueError`` for an unknown scheme or a malformed URL."""
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ValueError(f"not a store URL: {url!r} (expected {_SCHEMES})")
    if scheme == "sqlite":
        return SqliteTelemetryStore(_sqlite_path(url), retention=retention)
    if scheme == "influxdb":
        return _influx_v1(urlsplit(url), retention)
    if scheme == "influxdb2":
        return _influx_v2(urlsplit(url))
    raise ValueError(f"unsupported store scheme {scheme!r} in {_redact(url)} (expected {_SCHEMES})")


def _sqlite_path(url: str) -> Path:
    rest = url.removeprefix("sqlite://")
    if not rest.startswith("/") or "?" in rest or "#" in rest:
        raise ValueError(
            f"SQLite URLs look like sqlite:///relative.db or sqlite:////abs.db: {url!r}"
        )
    path = unquote(rest[1:])  # "/rel.db" -> "rel.db", "//abs.db" -> "/abs.db"
    if not path or path.endswith("/"):
        raise ValueError(f"no database file in {url!r}")
    return Path(path)


def _base_url(parts: SplitResult) -> str:
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in {_redact(parts.geturl())}")
    try:
        port = parts.port or DEFAULT_INFLUX_PORT
    except ValueError as exc:  # a port that is not a number
        raise ValueError(f"bad port in {_redact(parts.geturl())}") from exc
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _path_segments(parts: SplitResult, count: int) -> list[str]:
    segments = [unquote(s) for s in parts.path.strip("/").split("/")] if parts.path else []
    if len(segments) != count or not all(segments) or parts.query or parts.fragment:
        raise ValueError(f"expected {count} path segment(s) in {_redact(parts.geturl())}")
    return segments


def _influx_v1(parts: SplitResult, retention: Retention | None) -> InfluxTelemetryStore:
    (database,) = _path_segments(parts, 1)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return InfluxTelemetryStore(
        _base_url(parts), database, username=username, password=password, api="v1",
        retention=retention,
    )


def _influx_v2(parts: SplitResult) -> InfluxTelemetryStore:
    org, bucket = _path_segments(parts, 2)
    if not parts.username or parts.password is not None:
        raise ValueError(f"influxdb2 URLs carry the token as token@host: {_redact(parts.geturl())}")
    token = unquote(parts.username)
    return InfluxTelemetryStore(_base_url(parts), api="v2", org=org, bucket=bucket, token=token)


def _redact(url: str) -> str:
    """``url`` without its credentials, for error messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.partition("@")
    if not at or "/" in userinfo:
        return url
    return f"{scheme}{sep}***@{hostpart}"
