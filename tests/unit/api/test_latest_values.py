"""``GET /api/v1/telemetry/latest``: newest values of every device of a county, farm or site."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.auth import Role, issue_token
from api.usecases import telemetry
from devices.provisioning import create_farm, create_site, provision_device
from devices.registry import Farm, Site
from farmtel.runtime import build_api
from storage.clock import now_ms
from storage.factory import open_store
from storage.telemetry import Reading
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry

URL = "/api/v1/telemetry/latest"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def env(tmp_path):
    """farm-a (Shuocheng): sm-1, sm-2 on field-1, col-1 on barn-1; farm-y (Youyu): sm-y; an
    agronomist scoped to farm-a. sm-1 and sm-y have data, sm-2 and col-1 none."""
    settings = settings_for(tmp_path)
    meta = small_registry(settings, {"sm-1": "soil_moisture", "sm-2": "soil_moisture",
                                     "col-1": "livestock_collar"})
    with meta.sessions() as s, s.begin():
        create_farm(s, Farm(id="farm-y", name="y", county_id="youyu"))
        s.flush()
        create_site(s, Site(id="field-y", farm_id="farm-y", kind="field", name="y"))
        s.flush()
        provision_device(s, device_id="sm-y", device_type="soil_moisture", site_id="field-y")
        agro = issue_token(s, name="agro", role=Role.AGRONOMIST, scope={"farms": ["farm-a"]})
    store = open_store(settings.resolved_store_url)
    t = now_ms() - 3_600_000
    store.write([Reading(dev, q, v + i, t + i * 900_000, i, 0, "soil_moisture", site, farm, county)
                 for dev, site, farm, county in (("sm-1", "field-1", "farm-a", "shuocheng"),
                                                 ("sm-y", "field-y", "farm-y", "youyu"))
                 for q, v in (("vwc_pct", 20.0), ("soil_temp_c", 10.0)) for i in range(3)])
    yield TestClient(build_api(meta, store)), {"Authorization": f"Bearer {agro}"}
    store.close()


def test_latest_of_a_farm_site_and_county(env):
    client, _ = env
    farm = client.get(URL, params={"farm_id": "farm-a"}, headers=ADMIN).json()
    assert [d["device_id"] for d in farm] == ["col-1", "sm-1", "sm-2"]
    sm1 = farm[1]
    assert sm1["type"] == "soil_moisture" and sm1["site_id"] == "field-1"
    assert [(v["quantity"], v["value"], v["unit"]) for v in sm1["values"]] == [
        ("soil_temp_c", 12.0, "°C"), ("vwc_pct", 22.0, "%")]
    assert farm[0]["values"] == [] and farm[2]["values"] == []
    # the same values, spelled the same, as the one-device route
    assert sm1["values"] == client.get("/api/v1/devices/sm-1/latest", headers=ADMIN).json()
    site = client.get(URL, params={"site_id": "field-1", "quantity": "vwc_pct"},
                      headers=ADMIN).json()
    assert [(d["device_id"], [v["quantity"] for v in d["values"]]) for d in site] == [
        ("sm-1", ["vwc_pct"]), ("sm-2", [])]
    county = client.get(URL, params={"county_id": "youyu"}, headers=ADMIN).json()
    assert [d["device_id"] for d in county] == ["sm-y"] and len(county[0]["values"]) == 2


def test_agronomist_sees_its_scope_only(env):
    client, agro = env
    assert len(client.get(URL, params={"farm_id": "farm-a"}, headers=agro).json()) == 3
    for params in ({"farm_id": "farm-y"}, {"site_id": "field-y"}, {"county_id": "youyu"},
                   {"county_id": "atlantis"}):
        assert client.get(URL, params=params, headers=agro).status_code == 404, params
    county = client.get(URL, params={"county_id": "shuocheng"}, headers=agro).json()
    assert [d["device_id"] for d in county] == ["col-1", "sm-1", "sm-2"]


@pytest.mark.parametrize("params", [{}, {"farm_id": "farm-a", "site_id": "field-1"},
                                    {"farm_id": "farm-a", "quantity": "flux_capacitance"}])
def test_bad_requests_are_422(env, params):
    client, _ = env
    assert client.get(URL, params=params, headers=ADMIN).status_code == 422


def test_too_many_devices_is_422(env, monkeypatch):
    client, _ = env
    monkeypatch.setattr(telemetry, "MAX_LATEST_DEVICES", 2)
    assert client.get(URL, params={"farm_id": "farm-a"}, headers=ADMIN).status_code == 422
    assert client.get(URL, params={"site_id": "field-1"}, headers=ADMIN).status_code == 200
