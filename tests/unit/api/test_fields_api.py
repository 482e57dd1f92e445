"""Field routes over the job's results: advice, balance, harvests, WUE, ET0, coefficient."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from analytics.water.job import run_field_water
from api.auth import Role, issue_token
from farmtel.runtime import build_api
from tests.helpers import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FIELD = "demo-shuocheng-01-f1"


@pytest.fixture
def client(farm):
    farm.advance_days(9)
    run_field_water(farm.meta.sessions, farm.store, today=farm.today)
    with farm.meta.sessions() as s, s.begin():
        bureau = issue_token(s, name="b", role=Role.BUREAU)
    c = TestClient(build_api(farm.meta, farm.store))
    c.bureau = {"Authorization": f"Bearer {bureau}"}
    return c


def test_fields_list_with_advice_and_balance(client, farm):
    fields = {f["site_id"]: f for f in client.get("/api/v1/fields", headers=ADMIN).json()}
    assert set(fields) == {f"demo-shuocheng-01-f{i}" for i in (1, 2, 3)}
    advice = fields[FIELD]["advice"]
    assert advice["day"] == farm.today.isoformat() and advice["why_zh"]
    assert client.get(f"/api/v1/fields/{FIELD}/advice", headers=ADMIN).json() == advice
    days = client.get(f"/api/v1/fields/{FIELD}/water-balance", headers=ADMIN,
                      params={"start": farm.start.isoformat(),
                              "end": farm.today.isoformat()}).json()
    assert len(days) == 9
    assert days[-1]["depletion_mm"] == pytest.approx(advice["depletion_mm"])
    assert client.get("/api/v1/fields", headers=client.bureau).status_code == 403


def test_harvest_and_water_productivity(client, farm):
    body = {"season_year": 2026, "crop": "maize", "yield_kg_ha": 9000,
            "harvested_on": farm.today.isoformat()}
    assert client.post(f"/api/v1/fields/{FIELD}/harvests", json=body,
                       headers=ADMIN).status_code == 201
    days = client.get(f"/api/v1/fields/{FIELD}/water-balance", headers=ADMIN,
                      params={"start": "2026-01-01", "end": farm.today.isoformat()}).json()
    wue = client.get(f"/api/v1/fields/{FIELD}/wue", params={"season_year": 2026},
                     headers=ADMIN).json()
    etc = sum(d["etc_adj_mm"] for d in days)
    assert wue["days"] == len(days) and wue["etc_mm"] == pytest.approx(etc)
    assert wue["wp_etc_kg_m3"] == pytest.approx(9000 / (10 * etc))  # 1 mm on 1 ha = 10 m³
    bad = {**body, "yield_kg_ha": -1}
    assert client.post(f"/api/v1/fields/{FIELD}/harvests", json=bad,
                       headers=ADMIN).status_code == 422
    assert client.get("/api/v1/fields/nowhere/wue", params={"season_year": 2026},
                      headers=ADMIN).status_code == 404


def test_station_et0_and_irrigation_coefficient(client, farm):
    station = next(d.device_id for d in farm.runner.devices
                   if d.device_type == "weather_station")
    et0 = client.get(f"/api/v1/stations/{station}/et0", headers=ADMIN,
                     params={"start": farm.start.isoformat()}).json()
    assert len(et0) == 9 and all(d["method"] == "penman_monteith" for d in et0)
    report = client.get("/api/v1/water/irrigation-coefficient", headers=ADMIN,
                        params={"start": farm.start.isoformat(),
                                "end": farm.today.isoformat()}).json()
    src = report["by_source"][0]
    assert src["key"] == "demo-shuocheng-01-w1"
    assert src["gross_withdrawn_m3"] > 0
    assert src["coefficient"] == pytest.approx(src["net_field_m3"] / src["gross_withdrawn_m3"])
    assert report["by_county"][0]["key"] == "shuocheng"


def test_agronomists_see_only_their_scope(client, farm):
    with farm.meta.sessions() as s, s.begin():
        here = issue_token(s, name="here", role=Role.AGRONOMIST,
                           scope={"counties": ["shuocheng"]})
        there = issue_token(s, name="there", role=Role.AGRONOMIST, scope={"counties": ["youyu"]})
    mine, other = ({"Authorization": f"Bearer {t}"} for t in (here, there))
    assert len(client.get("/api/v1/fields", headers=mine).json()) == 3
    assert client.get("/api/v1/fields", headers=other).json() == []
    for path in (f"/api/v1/fields/{FIELD}/advice", f"/api/v1/fields/{FIELD}/water-balance"):
        assert client.get(path, headers=mine).status_code == 200
        assert client.get(path, headers=other).status_code == 404
    report = client.get("/api/v1/water/irrigation-coefficient", headers=other).json()
    assert report["by_source"] == [] and report["by_county"] == []
