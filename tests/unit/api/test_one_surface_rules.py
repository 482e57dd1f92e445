"""What both surfaces share: one exception mapping (store outage → 503, JSON for the API, a
localised page for the pages) and one token → caller resolution (bearer, the cookie's session, stream)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from analytics.alerts.rules import Severity, SubjectType
from analytics.alerts.store import AlertRepository
from analytics.alerts.transitions import Transition, TransitionKind
from api.auth import Role, issue_token, principal_for_token
from api.services import ApiServices
from api.web import LiveSettings, create_web_app
from api.web.session import SESSION_COOKIE
from farmtel.runtime import Metadata, build_api
from tests.fakes import MemoryStore
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry
from tests.unit.api.web.stack import page_session

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STREAM = {"Accept": "text/event-stream"}


@dataclass
class Env:
    meta: Metadata
    store: MemoryStore
    client: TestClient


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    meta = small_registry(settings_for(tmp_path), {"sm-1": "soil_moisture"})
    store = MemoryStore()
    with TestClient(build_api(meta, store), base_url="http://testserver") as client:
        yield Env(meta, store, client)


def _sign_in(client: TestClient, token: str) -> None:
    r = client.post("/web/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text


@pytest.mark.parametrize(("api_path", "page_path"), [
    ("/api/v1/devices", "/web/devices"),
    ("/api/v1/telemetry/latest?farm_id=farm-a", "/web/"),
    ("/api/v1/devices/sm-1/latest", "/web/sites/field-1"),
])
def test_store_outage_is_503_json_for_the_api_and_a_localised_page_for_the_pages(
        env: Env, api_path: str, page_path: str) -> None:
    env.store.available = False
    api = env.client.get(api_path, headers=ADMIN)
    assert api.status_code == 503 and api.headers["content-type"] == "application/json"
    assert api.json() == {"detail": "switched off"} and api.headers["retry-after"]
    _sign_in(env.client, ADMIN_TOKEN)
    zh = env.client.get(page_path)
    assert zh.status_code == 503 and zh.headers["content-type"].startswith("text/html")
    assert "数据存储暂时不可用" in zh.text and 'lang="zh-CN"' in zh.text
    en = env.client.get(page_path, params={"lang": "en"})
    assert en.status_code == 503 and "The data store is unavailable" in en.text
    env.store.available = True
    assert env.client.get(api_path, headers=ADMIN).status_code == 200
    assert env.client.get(page_path).status_code == 200


def test_domain_errors_map_to_the_same_status_on_both_surfaces(env: Env) -> None:
    _sign_in(env.client, ADMIN_TOKEN)
    assert env.client.get("/api/v1/alerts/99", headers=ADMIN).status_code == 404
    assert env.client.get("/web/alerts/99").status_code == 404
    assert env.client.get("/web/sites/nowhere").status_code == 404
    assert env.client.get("/api/v1/devices/nowhere", headers=ADMIN).status_code == 404
    assert env.client.get("/web/animals/sm-1").status_code == 404  # not a collar
    dup = {"device_id": "sm-1", "type": "soil_moisture", "site_id": "field-1"}
    assert env.client.post("/api/v1/devices", json=dup, headers=ADMIN).status_code == 409


def test_acknowledge_by_api_and_resolve_by_page_walk_one_alert_through_one_lifecycle(
        env: Env) -> None:
    [opened] = AlertRepository(env.meta.sessions).apply([Transition(
        TransitionKind.OPENED, "soil.vwc_drop", SubjectType.DEVICE, "sm-1", Severity.WARNING,
        1_780_000_000_000, 1.0, 2.0, "标题", "title", device_id="sm-1", site_id="field-1",
        farm_id="farm-a", county_id="shuocheng")])
    alert_id = opened.alert_id
    ack = env.client.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={"note": "看过"},
                          headers=ADMIN)
    assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
    _sign_in(env.client, ADMIN_TOKEN)
    page = env.client.get(f"/web/alerts/{alert_id}")
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found and "看过" in page.text  # the page shows the API's change
    form = {"csrf": found.group(1), "note": "浇过水"}
    done = env.client.post(f"/web/alerts/{alert_id}/resolve", data=form, follow_redirects=False)
    assert done.status_code == 303
    after = env.client.get(f"/api/v1/alerts/{alert_id}", headers=ADMIN).json()
    assert after["state"] == "resolved" and [e["note"] for e in after["events"]][-2:] == [
        "看过", "浇过水"]
    again = env.client.post(f"/web/alerts/{alert_id}/resolve", data=form)
    assert again.status_code == 409  # the same Conflict the API answers
    assert env.client.post(f"/api/v1/alerts/{alert_id}/resolve", json={},
                           headers=ADMIN).status_code == 409


def _stream_status(web: TestClient, sid: str | None) -> int:
    web.cookies.clear()
    if sid is not None:
        web.cookies.set(SESSION_COOKIE, sid)
    with web.stream("GET", "/events", headers=STREAM) as r:
        return r.status_code


def test_a_revoked_token_is_refused_alike_by_bearer_cookie_and_event_stream(env: Env) -> None:
    with env.meta.sessions() as s, s.begin():
        token = issue_token(s, name="agro", role=Role.AGRONOMIST, scope={"farms": ["farm-a"]})
    services = ApiServices(sessions=env.meta.sessions, store=env.store, ingest_stats=dict)
    live = LiveSettings(poll_s=0.05, max_age_s=0.2)
    with TestClient(create_web_app(services, live=live)) as web:
        bearer = {"Authorization": f"Bearer {token}"}
        assert env.client.get("/api/v1/devices", headers=bearer).status_code == 200
        _sign_in(env.client, token)
        assert env.client.get("/web/devices", follow_redirects=False).status_code == 200
        sid = page_session(env.meta, token)
        assert _stream_status(web, sid) == 200

        token_id = next(t["id"] for t in env.client.get("/api/v1/tokens", headers=ADMIN).json()
                        if t["name"] == "agro")
        assert env.client.delete(f"/api/v1/tokens/{token_id}", headers=ADMIN).status_code == 200

        with env.meta.sessions() as s:
            assert principal_for_token(s, token) is None  # the one resolution all three use
        refused = env.client.get("/api/v1/devices", headers=bearer)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        page = env.client.get("/web/devices", follow_redirects=False)
        assert page.status_code == 303 and "/web/login?next=" in page.headers["location"]
        assert _stream_status(web, sid) == 401
        assert _stream_status(web, None) == 401  # the same as no token at all
