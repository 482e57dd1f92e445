"""The HTTP API over a real SQLite store and metadata DB: routes, validation and roles."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.auth import Role, issue_token
from devices.credentials import verify_password
from devices.registry import Device
from farmtel.runtime import build_api
from storage.clock import now_ms
from storage.factory import open_store
from storage.telemetry import Reading
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def env(tmp_path, metadata_url):
    settings = settings_for(tmp_path, database_url=metadata_url)
    meta = small_registry(settings, {"sm-1": "soil_moisture", "col-1": "livestock_collar"})
    with meta.sessions() as s, s.begin():
        agro = issue_token(s, name="agro", role=Role.AGRONOMIST,  # scoped: see tests/unit/api/test_roles.py
                           scope={"counties": ["shuocheng", "youyu"]})
        bureau = issue_token(s, name="bureau", role=Role.BUREAU)
    store = open_store(settings.resolved_store_url)
    client = TestClient(build_api(meta, store))
    yield client, store, meta, {"Authorization": f"Bearer {agro}"}, \
        {"Authorization": f"Bearer {bureau}"}
    store.close()


def test_health_needs_no_token(env):
    client, *_ = env
    assert client.get("/api/v1/health").json()["status"] == "ok"


def test_missing_or_wrong_token_is_401(env):
    client, *_ = env
    assert client.get("/api/v1/sites").status_code == 401
    assert client.get("/api/v1/sites", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_sites_carry_farm_and_county(env):
    client, _, _, _, bureau = env
    sites = client.get("/api/v1/sites", headers=bureau).json()
    field = next(s for s in sites if s["id"] == "field-1")
    assert field["county_id"] == "shuocheng" and field["county_name_zh"] == "朔城区"
    assert field["farm_name"] == "示范农场" and field["device_count"] == 1
    counties = client.get("/api/v1/counties", headers=bureau).json()
    assert len(counties) == 6


def test_provisioning_returns_credentials_once_and_stores_a_hash(env):
    client, _, meta, agro, _ = env
    body = {"device_id": "ws-1", "type": "weather_station", "site_id": "field-1",
            "attributes": {"wind_height_m": 10}}
    assert client.post("/api/v1/devices", json=body, headers=agro).status_code == 403
    r = client.post("/api/v1/devices", json=body, headers=ADMIN)
    assert r.status_code == 201
    creds = r.json()
    assert creds["telemetry_topic"] == "farmtel/farm-a/ws-1/telemetry"
    with meta.sessions() as s:
        row = s.get(Device, "ws-1")
        assert row.password_hash != creds["mqtt_password"]
        assert verify_password(creds["mqtt_password"], row.password_hash)
    assert client.post("/api/v1/devices", json=body, headers=ADMIN).status_code == 409
    listed = client.get("/api/v1/devices/ws-1", headers=ADMIN).json()
    assert "mqtt_password" not in listed and listed["attributes"] == {"wind_height_m": 10}


@pytest.mark.parametrize(
    "body",
    [
        {"device_id": "bad id", "type": "soil_moisture", "site_id": "field-1"},
        {"device_id": "x1", "type": "toaster", "site_id": "field-1"},
        {"device_id": "x1", "type": "soil_moisture", "site_id": "nowhere"},
    ],
)
def test_provisioning_validates(env, body):
    client, *_ = env
    assert client.post("/api/v1/devices", json=body, headers=ADMIN).status_code == 422


def test_device_status_latest_and_telemetry(env):
    client, store, _, agro, bureau = env
    now = now_ms()
    store.write([
        Reading("sm-1", "vwc_pct", 20.0 + i, now - (5 - i) * 600_000, i, 0, "soil_moisture",
                "field-1", "farm-a", "shuocheng") for i in range(5)
    ] + [Reading("sm-1", "battery_v", 3.61, now - 1000, 9, 0, "soil_moisture", "field-1",
                 "farm-a", "shuocheng")])
    devices = {d["device_id"]: d for d in client.get("/api/v1/devices", headers=agro).json()}
    assert devices["sm-1"]["online"] and devices["sm-1"]["battery_v"] == 3.61
    assert not devices["col-1"]["online"] and devices["col-1"]["last_seen"] is None
    latest = client.get("/api/v1/devices/sm-1/latest", headers=agro).json()
    assert {x["quantity"]: x["value"] for x in latest} == {"vwc_pct": 24.0, "battery_v": 3.61}
    raw = client.get("/api/v1/telemetry", params={"device_id": "sm-1", "quantity": "vwc_pct"},
                     headers=agro).json()
    assert [p["value"] for p in raw["points"]] == [20.0, 21.0, 22.0, 23.0, 24.0]
    assert raw["unit"] == "%"
    agg = client.get("/api/v1/telemetry", params={"site_id": "field-1", "quantity": "vwc_pct",
                                                  "every": "1d", "agg": "count"},
                     headers=agro).json()
    assert sum(p["value"] for p in agg["points"]) == 5
    assert client.get("/api/v1/telemetry", params={"device_id": "sm-1", "quantity": "vwc_pct"},
                      headers=bureau).status_code == 403


@pytest.mark.parametrize(
    "params",
    [
        {"device_id": "sm-1", "quantity": "nonsense"},
        {"quantity": "vwc_pct"},
        {"device_id": "sm-1", "site_id": "field-1", "quantity": "vwc_pct"},
        {"device_id": "sm-1", "quantity": "vwc_pct", "every": "1 hour"},
        {"device_id": "sm-1", "quantity": "vwc_pct", "agg": "mean"},
        {"device_id": "sm-1", "quantity": "vwc_pct", "start": "2026-01-02T00:00:00Z",
         "end": "2026-01-01T00:00:00Z"},
    ],
)
def test_bad_telemetry_queries_are_422(env, params):
    client, *_ = env
    assert client.get("/api/v1/telemetry", params=params, headers=ADMIN).status_code == 422


def test_unknown_device_is_404(env):
    client, *_ = env
    assert client.get("/api/v1/devices/ghost/latest", headers=ADMIN).status_code == 404
    r = client.get("/api/v1/telemetry", params={"device_id": "ghost", "quantity": "vwc_pct"},
                   headers=ADMIN)
    assert r.status_code == 404


def test_ingest_stats_and_dead_letters_are_admin_only(env):
    client, _, _, agro, bureau = env
    for path in ("/api/v1/ingest/stats", "/api/v1/dead-letters"):
        assert client.get(path, headers=agro).status_code == 403
        assert client.get(path, headers=bureau).status_code == 403
        assert client.get(path, headers=ADMIN).status_code == 200


def test_admin_can_register_farms_and_sites(env):
    client, _, _, agro, _ = env
    farm = {"id": "farm-z", "name": "右玉合作社", "county_id": "youyu"}
    assert client.post("/api/v1/farms", json=farm, headers=agro).status_code == 403
    assert client.post("/api/v1/farms", json=farm, headers=ADMIN).status_code == 201
    bad = {**farm, "id": "farm-y", "county_id": "atlantis"}
    assert client.post("/api/v1/farms", json=bad, headers=ADMIN).status_code == 422
    site = {"id": "gh-z", "farm_id": "farm-z", "kind": "greenhouse", "name": "1号棚",
            "area_mu": 1.5, "crop": "tomato"}
    assert client.post("/api/v1/sites", json=site, headers=ADMIN).status_code == 201
    assert client.get("/api/v1/sites", params={"county_id": "youyu"},
                      headers=agro).json()[0]["id"] == "gh-z"
