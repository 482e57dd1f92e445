"""Page sessions are server-side (``api.sessions``): the cookie holds a random session id, never
the API token; sign-out revokes the session; sessions end when idle and at their absolute
lifetime; the cookie is HttpOnly, SameSite=Lax and Secure exactly when the request came over
HTTPS, believing ``X-Forwarded-Proto`` only from ``FARMTEL_TRUSTED_PROXIES``.

Sessions on SQLite and PostgreSQL; the proxy cases against a real ``farmtel api`` process
(uvicorn on a loopback port)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.sessions import WebSession
from farmtel.runtime import Metadata, build_api
from storage.factory import open_store
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry
from tests.servers import FarmtelProcess, farmtel_env, free_port

IDLE_S = 600
MAX_AGE_S = 3600
COOKIE = "farmtel_session"


@dataclass
class Env:
    client: TestClient
    meta: Metadata


@pytest.fixture
def env(tmp_path: Path, metadata_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The API with the session lifetimes from the environment, as ``farmtel api`` reads them."""
    monkeypatch.setenv("FARMTEL_WEB_SESSION_IDLE_S", str(IDLE_S))
    monkeypatch.setenv("FARMTEL_WEB_SESSION_MAX_AGE_S", str(MAX_AGE_S))
    settings = settings_for(tmp_path, database_url=metadata_url)
    meta = small_registry(settings, {"sm-1": "soil_moisture"})
    store = open_store(settings.resolved_store_url)
    with TestClient(build_api(meta, store), base_url="http://testserver") as client:
        yield Env(client, meta)
    store.close()


def _sign_in(client: TestClient, token: str = ADMIN_TOKEN) -> httpx.Response:
    r = client.post("/web/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r


def _rows(meta: Metadata) -> list[WebSession]:
    with meta.sessions() as s:
        return list(s.scalars(select(WebSession).order_by(WebSession.id)))


def _page_status(client: TestClient, cookie: str) -> int:
    client.cookies.clear()
    client.cookies.set(COOKIE, cookie)
    return client.get("/web/devices", follow_redirects=False).status_code


def test_sign_in_use_sign_out_and_the_old_cookie_is_refused(env: Env) -> None:
    r = _sign_in(env.client)
    cookie = env.client.cookies[COOKIE]
    assert cookie != ADMIN_TOKEN and ADMIN_TOKEN not in r.headers["set-cookie"]
    [row] = _rows(env.meta)
    assert row.id_hash == hashlib.sha256(cookie.encode()).hexdigest()  # only the hash is kept
    assert row.token_id is not None and row.user_id is None and row.revoked_at is None
    set_cookie = r.headers["set-cookie"]
    for part in ("HttpOnly", "SameSite=lax", "Path=/web", f"Max-Age={MAX_AGE_S}"):
        assert part in set_cookie
    assert "secure" not in set_cookie.lower()  # plain HTTP, no proxy
    assert env.client.get("/web/devices", follow_redirects=False).status_code == 200

    out = env.client.post("/web/logout", follow_redirects=False)
    assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]
    [row] = _rows(env.meta)
    assert row.revoked_at is not None
    assert _page_status(env.client, cookie) == 303  # a copy of the old cookie: sign in again
    stream = env.client.get("/web/events", headers={"Accept": "text/event-stream"})
    assert stream.status_code == 401
    assert _page_status(env.client, ADMIN_TOKEN) == 303  # the token is no cookie either


def test_every_sign_in_is_its_own_session(env: Env) -> None:
    _sign_in(env.client)
    first = env.client.cookies[COOKIE]
    env.client.cookies.clear()
    _sign_in(env.client)
    second = env.client.cookies[COOKIE]
    assert first != second
    env.client.post("/web/logout", follow_redirects=False)  # ends the second only
    assert _page_status(env.client, second) == 303
    assert _page_status(env.client, first) == 200


def _age(meta: Metadata, *, last_seen_s: float = 0, created_s: float = 0) -> None:
    """Move every session's last use and its whole lifetime back by so many seconds."""
    with meta.sessions() as s, s.begin():
        for row in s.scalars(select(WebSession)):
            s.execute(update(WebSession).where(WebSession.id == row.id).values(
                last_seen_at=row.last_seen_at - timedelta(seconds=last_seen_s),
                created_at=row.created_at - timedelta(seconds=created_s),
                expires_at=row.expires_at - timedelta(seconds=created_s)))


def test_a_session_ends_when_idle_and_use_keeps_it_alive(env: Env) -> None:
    _sign_in(env.client)
    cookie = env.client.cookies[COOKIE]
    _age(env.meta, last_seen_s=IDLE_S - 120)  # idle, but not long enough
    assert _page_status(env.client, cookie) == 200  # this use is seen ...
    [row] = _rows(env.meta)
    _age(env.meta, last_seen_s=120)
    assert _page_status(env.client, cookie) == 200  # ... so the idle time counts from here
    _age(env.meta, last_seen_s=IDLE_S)
    assert _page_status(env.client, cookie) == 303
    assert row.revoked_at is None  # ended by time, not by anyone


def test_a_session_ends_at_its_absolute_lifetime_however_busy(env: Env) -> None:
    _sign_in(env.client)
    cookie = env.client.cookies[COOKIE]
    _age(env.meta, created_s=MAX_AGE_S - 60)
    assert _page_status(env.client, cookie) == 200  # in use all along: still valid
    _age(env.meta, created_s=61)
    assert _page_status(env.client, cookie) == 303


def test_a_revoked_token_ends_its_sessions(env: Env) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    created = env.client.post("/api/v1/tokens", headers=admin,
                              json={"name": "agro", "role": "agronomist",
                                    "scope": {"farms": ["farm-a"]}})
    assert created.status_code in (200, 201), created.text
    token, token_id = created.json()["token"], created.json()["id"]
    _sign_in(env.client, token)
    cookie = env.client.cookies[COOKIE]
    assert _page_status(env.client, cookie) == 200
    assert env.client.delete(f"/api/v1/tokens/{token_id}", headers=admin).status_code == 200
    assert _page_status(env.client, cookie) == 303


# --- Secure flag behind a TLS-terminating proxy: a real `farmtel api` --------------------------


class ApiProcess(FarmtelProcess):
    """``python -m farmtel.cli api``: ready once it answers HTTP."""

    command = "api"

    def start(self, timeout_s: float = 60.0) -> str:
        """Start it; returns its base URL."""
        proc = self._spawn()
        url = f"http://127.0.0.1:{self.env['FARMTEL_API_PORT']}"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                httpx.get(f"{url}/api/v1/health", timeout=2)
                return url
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"farmtel api did not start:\n{self.log_tail()}") from None
            time.sleep(0.1)


@pytest.mark.parametrize(("trusted", "believed"), [
    ("127.0.0.1", True),           # the proxy we connect from is configured
    ("10.0.0.0/8,192.0.2.7", False),  # other proxies are: ours is an untrusted client
    (None, False),                 # none configured: nobody's header counts
])
def test_the_secure_flag_follows_only_a_trusted_proxys_forwarded_proto(
        tmp_path: Path, trusted: str | None, believed: bool) -> None:
    settings = {"api_port": str(free_port()), "database_url":
                f"sqlite:///{tmp_path / 'metadata.db'}"}
    if trusted is not None:
        settings["trusted_proxies"] = trusted
    small_registry(settings_for(tmp_path, database_url=settings["database_url"]), {})
    api = ApiProcess(farmtel_env(data_dir=tmp_path / "data", **settings), tmp_path,
                     tmp_path / "api.log")
    url = api.start()
    try:
        with httpx.Client(base_url=url) as client:
            def set_cookie(headers: dict[str, str]) -> str:
                r = client.post("/web/login", data={"token": ADMIN_TOKEN}, headers=headers,
                                follow_redirects=False)
                assert r.status_code == 303, r.text
                return r.headers["set-cookie"].lower()

            assert "secure" not in set_cookie({})
            assert "secure" not in set_cookie({"X-Forwarded-Proto": "http"})
            forwarded = set_cookie({"X-Forwarded-Proto": "https"})
            assert ("; secure" in forwarded) is believed, forwarded
            assert "httponly" in forwarded and "samesite=lax" in forwarded
    finally:
        assert api.stop() == 0, api.log_tail()
