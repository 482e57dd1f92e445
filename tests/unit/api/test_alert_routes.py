"""Alert routes: scoping of agronomists, lifecycle errors, rule overrides per site."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from analytics.alerts.rules import Severity, SubjectType
from analytics.alerts.store import AlertRepository
from analytics.alerts.transitions import Transition, TransitionKind
from api.auth import Role, issue_token
from devices.provisioning import create_farm, create_site
from devices.registry import Farm, Site
from farmtel.runtime import build_api
from storage.factory import open_store
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def opened(rule: str, subject: str, farm: str, county: str, site: str) -> Transition:
    return Transition(TransitionKind.OPENED, rule, SubjectType.DEVICE, subject,
                      Severity.WARNING, 1_780_000_000_000, 1.0, 2.0, "标题", "title",
                      device_id=subject, site_id=site, farm_id=farm, county_id=county)


@pytest.fixture
def env(tmp_path, metadata_url):
    settings = settings_for(tmp_path, database_url=metadata_url)
    meta = small_registry(settings, {"sm-1": "soil_moisture"})
    with meta.sessions() as s, s.begin():
        create_farm(s, Farm(id="farm-y", name="右玉农场", county_id="youyu"))
        create_site(s, Site(id="field-y", farm_id="farm-y", kind="field", name="地", area_mu=10))
        tokens = {name: issue_token(s, name=name, role=Role.AGRONOMIST, scope=scope)
                  for name, scope in (("a", {"counties": ["shuocheng"]}),
                                      ("b", {"farms": ["farm-y"]}))}
    repo = AlertRepository(meta.sessions)
    [a, b] = repo.apply([opened("soil.vwc_drop", "sm-1", "farm-a", "shuocheng", "field-1"),
                         opened("soil.vwc_drop", "sm-y", "farm-y", "youyu", "field-y")])
    store = open_store(settings.resolved_store_url)
    client = TestClient(build_api(meta, store))
    heads = {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}
    yield client, heads, a.alert_id, b.alert_id
    store.close()


def test_agronomist_sees_and_acts_only_within_scope(env):
    client, heads, a, b = env
    assert [x["id"] for x in client.get("/api/v1/alerts", headers=heads["a"]).json()] == [a]
    assert [x["id"] for x in client.get("/api/v1/alerts", headers=heads["b"]).json()] == [b]
    assert len(client.get("/api/v1/alerts", headers=ADMIN).json()) == 2
    assert client.get(f"/api/v1/alerts/{b}", headers=heads["a"]).status_code == 404
    assert client.post(f"/api/v1/alerts/{b}/acknowledge", headers=heads["a"],
                       json={}).status_code == 404
    r = client.post(f"/api/v1/alerts/{a}/acknowledge", headers=heads["a"], json={"note": "ok"})
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "a"
    r = client.post(f"/api/v1/alerts/{a}/resolve", headers=heads["a"], json={})
    assert r.json()["state"] == "resolved"
    assert client.post(f"/api/v1/alerts/{a}/resolve", headers=heads["a"],
                       json={}).status_code == 409
    assert client.get("/api/v1/alerts/99999", headers=ADMIN).status_code == 404


def test_site_rule_overrides_are_validated_and_scoped(env):
    client, heads, _, _ = env
    body = {"overrides": {"barn.nh3_high": {"set_value": 30.0, "clear_value": 24.0}}}
    assert client.put("/api/v1/sites/field-y/alert-rules", headers=heads["a"],
                      json=body).status_code == 404
    r = client.put("/api/v1/sites/field-1/alert-rules", headers=heads["a"], json=body)
    assert r.status_code == 200, r.text
    rule = next(x for x in r.json() if x["id"] == "barn.nh3_high")
    assert rule["params"]["set_value"] == 30.0
    effective = client.get("/api/v1/alert-rules", params={"site_id": "field-1"},
                           headers=heads["a"]).json()
    assert next(x for x in effective if x["id"] == "barn.nh3_high")["params"]["set_value"] == 30
    default = client.get("/api/v1/alert-rules", headers=heads["a"]).json()
    assert next(x for x in default if x["id"] == "barn.nh3_high")["params"]["set_value"] == 25
    bad = {"overrides": {"barn.nh3_high": {"no_such_param": 1}}}
    assert client.put("/api/v1/sites/field-1/alert-rules", headers=ADMIN,
                      json=bad).status_code == 422
    assert all(x["source"] for x in default)
