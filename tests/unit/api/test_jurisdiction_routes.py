"""Denominators, reported values and jurisdictions through the API: each edit a new version
with who entered it, the indicators computed over them, a jurisdiction created from data."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from analytics.jurisdictions.documents import packaged_json
from api.auth import Role, issue_token
from farmtel.runtime import build_api
from storage.factory import open_store
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry


@pytest.fixture
def env(tmp_path, metadata_url):
    settings = settings_for(tmp_path, database_url=metadata_url)
    meta = small_registry(settings, {"sm-1": "soil_moisture"})
    with meta.sessions() as s, s.begin():
        bureau = issue_token(s, name="bureau", role=Role.BUREAU)
    store = open_store(settings.resolved_store_url)
    client = TestClient(build_api(meta, store))
    yield client, {"admin": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
                   "bureau": {"Authorization": f"Bearer {bureau}"}}
    store.close()


def _row(body, scope, key):
    scopes = {s["scope"]: s for s in body["scopes"]}
    return next(i for i in scopes[scope]["indicators"] if i["key"] == key)


def test_denominator_versions_with_provenance(env):
    client, h = env
    entry = {"scope": "shuocheng", "key": "farmland_mu", "value": 1_200_000, "year": 2024,
             "document": "朔州统计年鉴2025", "section": "表 12-3, p. 215"}
    first = client.post("/api/v1/denominators", json=entry, headers=h["admin"])
    assert first.status_code == 201 and first.json()["entered_by"]
    second = client.post("/api/v1/denominators", json={**entry, "value": 1_250_000},
                         headers=h["admin"])
    assert second.status_code == 201
    assert client.post("/api/v1/denominators", json=entry, headers=h["bureau"]).status_code == 403
    for bad in ({**entry, "scope": "atlantis"}, {**entry, "key": "sheep"},
                {**entry, "document": ""}, {**entry, "value": -1}):
        assert client.post("/api/v1/denominators", json=bad, headers=h["admin"]).status_code == 422
    got = client.get("/api/v1/denominators", params={"scope": "shuocheng"},
                     headers=h["bureau"]).json()
    assert [r["value"] for r in got["history"]] == [1_250_000, 1_200_000]  # nothing overwritten
    assert got["current"] == [{"scope": "shuocheng", "key": "farmland_mu", "value": 1_250_000,
                               "source": got["current"][0]["source"]}]
    assert "表 12-3" in got["current"][0]["source"]
    city = client.get("/api/v1/denominators", params={"scope": "city"}, headers=h["bureau"]).json()
    assert {r["key"]: r["value"] for r in city["current"]}["farmland_mu"] == 5_756_000
    body = client.get("/api/v1/indicators", headers=h["bureau"]).json()
    field = _row(body, "shuocheng", "coverage_field_crops_pct")
    assert field["basis"] == "sensed" and field["evidence"]["denominator"] == 1_250_000
    assert _row(body, "youyu", "coverage_field_crops_pct")["status"] == "registered_sites"
    ref = {(r["scope"], r["key"]): r for r in body["official_reference"]}
    assert ref["shuocheng", "farmland_mu"]["official"] == 1_250_000
    assert ref["youyu", "farmland_mu"]["official"] is None


def test_reported_values_and_a_new_jurisdiction(env):
    client, h = env
    body = client.get("/api/v1/indicators", headers=h["bureau"]).json()
    year = body["period"]["end"][:4]
    missing = _row(body, "city", "fertiliser_use_efficiency_pct")
    assert missing["value"] is None and missing["basis"] == "reported" and missing["reason"]
    entry = {"scope": "city", "key": "fertiliser_use_efficiency_pct", "year": int(year),
             "value": 41.2, "document": "农业农村局年报", "section": "表 3"}
    assert client.post("/api/v1/reported", json=entry, headers=h["admin"]).status_code == 201
    assert client.post("/api/v1/reported", json={**entry, "key": "no_such"},
                       headers=h["admin"]).status_code == 422
    body = client.get("/api/v1/indicators", headers=h["bureau"]).json()
    got = _row(body, "city", "fertiliser_use_efficiency_pct")
    assert (got["value"], got["basis"], got["target"]) == (41.2, "reported", 43.0)
    assert [r["value"] for r in client.get("/api/v1/reported", headers=h["bureau"]).json()] == [41.2]
    doc = packaged_json("jurisdiction_lingyuan.json")
    assert client.post("/api/v1/jurisdictions", json=doc, headers=h["admin"]).status_code == 201
    assert client.post("/api/v1/jurisdictions", json=doc, headers=h["admin"]).status_code == 409
    ids = [j["id"] for j in client.get("/api/v1/jurisdictions", headers=h["bureau"]).json()]
    assert ids == ["shuozhou", "lingyuan"]
    ly = client.get("/api/v1/indicators", params={"jurisdiction": "lingyuan"},
                    headers=h["bureau"]).json()
    assert ly["jurisdiction"]["name_zh"] == "凌源市" and ly["target_set"]["version"] == "lingyuan-2021"
    assert {s["scope"] for s in ly["scopes"]} == {"city", *(u["id"] for u in doc["units"])}
