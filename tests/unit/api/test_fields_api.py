"""Field routes over the job's results: advice, balance, harvests, WUE, ET0, and the head–tail
灌溉水有效利用系数 (hand-worked through the route)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from analytics.water.job import run_field_water
from analytics.water.records import FieldDay
from api.auth import Role, issue_token
from devices.provisioning import create_farm, create_site
from devices.registry import Device, Farm, Site
from farmtel.runtime import build_api
from storage.clock import HOUR_MS, cst_midnight_ms
from storage.telemetry import Reading
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
    assert src["key"] == "demo-shuocheng-01-w1" and src["reasons"] == []
    gross, inlet, net = (src[k] for k in ("gross_withdrawn_m3", "field_inlet_m3", "net_field_m3"))
    assert 0 < net <= inlet < gross  # the demo's canal loses water, fields may percolate
    assert src["conveyance_coefficient"] == pytest.approx(inlet / gross)
    assert src["field_coefficient"] == pytest.approx(net / inlet)
    assert src["coefficient"] == pytest.approx(net / gross)
    assert src["coefficient"] == pytest.approx(
        src["conveyance_coefficient"] * src["field_coefficient"])
    assert inlet == pytest.approx(sum(f["field_inlet_m3"] for f in src["fields"]))
    assert {f["net_method"] for f in src["fields"]} <= {"probes", "balance"}
    county = report["by_county"][0]
    assert county["key"] == "shuocheng" and county["coefficient"] == src["coefficient"]


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


# -- 灌溉水有效利用系数 through the route, hand-worked ---------------------------------------

HW_DAY = date(2025, 6, 10)
"""The one CST day of the hand-worked example."""


def _hand_worked_registry(farm) -> None:
    """Yingxian farm hw: well HW-W (meter hw-src, 1 000 m³ on HW_DAY; hw-old revoked before),
    fields HW-A 10 亩 (hw-a, 500 m³) and HW-B 7 亩 (hw-b, 350 m³): the canal loses 150 m³;
    hw-lone on HW-B names no source.
    Stored balances: HW-A 75 mm onto Dr 60 mm with ETc 5 -> DP 10 mm; HW-B 75 mm onto Dr 80 ->
    DP 0 (FAO-56 Eq. 88)."""
    installed = datetime(2025, 1, 1, tzinfo=UTC)
    with farm.meta.sessions() as s, s.begin():
        create_farm(s, Farm(id="hw", name="hw", county_id="yingxian"))
        for sid, kind, area in (("HW-W", "water_source", None), ("HW-A", "field", 10.0),
                                ("HW-B", "field", 7.0)):
            create_site(s, Site(id=sid, farm_id="hw", kind=kind, name=sid, area_mu=area))
        s.flush()
        for did, site, attrs, revoked in (
                ("hw-src", "HW-W", {"role": "source"}, None),
                ("hw-old", "HW-W", {"role": "source"}, datetime(2025, 5, 1, tzinfo=UTC)),
                ("hw-a", "HW-A", {"role": "field", "source_site_id": "HW-W"}, None),
                ("hw-b", "HW-B", {"role": "field", "source_site_id": "HW-W"}, None),
                ("hw-lone", "HW-B", {"role": "field"}, None)):
            s.add(Device(id=did, type="flow_meter", site_id=site, mqtt_username=did,
                         password_hash="x", created_at=installed, revoked_at=revoked,
                         attributes=attrs))
        for site, area, dr_before, dp in (("HW-A", 10.0, 60.0, 10.0), ("HW-B", 7.0, 80.0, 0.0)):
            m3 = 75.0 * area * 2 / 3  # 75 mm on the field, 1 亩 = 666.7 m²
            for day, irr, dr, deep in ((HW_DAY - timedelta(days=1), 0.0, dr_before, 0.0),
                                       (HW_DAY, 75.0, 0.0, dp)):
                s.add(FieldDay(site_id=site, day=day, station_id="ws", et0_mm=5.0,
                               et0_method="pm", kc=1.0, etc_mm=5.0, etc_adj_mm=5.0, rain_mm=0.0,
                               effective_rain_mm=0.0, irrigation_mm=irr,
                               irrigation_m3=m3 if irr else 0.0, deep_percolation_mm=deep,
                               depletion_mm=dr, observed_depletion_mm=None, taw_mm=160.0,
                               raw_mm=80.0, root_depth_m=1.0))
    midnight = cst_midnight_ms(HW_DAY)
    farm.store.write([  # counters flat outside HW_DAY: the day holds the whole volume
        Reading(did, "volume_m3", v, midnight + h * HOUR_MS, h, 0, "flow_meter", site, "hw",
                "yingxian")
        for did, site, m3 in (("hw-src", "HW-W", 1000.0), ("hw-a", "HW-A", 500.0),
                              ("hw-b", "HW-B", 350.0))
        for h, v in ((1, 0.0), (2, m3), (23, m3), (25, m3))])


def test_irrigation_coefficient_route_is_head_tail_hand_worked(farm):
    # gross 1 000 m³; inlet 500 + 350 = 850 -> 渠系 0.850. Net: HW-A 500·(1 − 10/75) = 433.3,
    # HW-B 350 -> 783.3 m³ -> 田间 783.3/850 = 0.9216; η = 783.3/1000 = 0.7833 = 0.850·0.9216.
    # (The old route's η = field ÷ source gave 0.850, the conveyance factor alone.)
    _hand_worked_registry(farm)
    client = TestClient(build_api(farm.meta, farm.store))
    day = {"start": HW_DAY.isoformat(), "end": HW_DAY.isoformat()}
    report = client.get("/api/v1/water/irrigation-coefficient", headers=ADMIN, params=day).json()
    src = {c["key"]: c for c in report["by_source"]}["HW-W"]
    assert src["county_id"] == "yingxian" and src["reasons"] == []
    assert (round(src["gross_withdrawn_m3"]), round(src["field_inlet_m3"]),
            round(src["net_field_m3"])) == (1000, 850, 783)
    assert src["conveyance_coefficient"] == pytest.approx(0.85)
    assert src["field_coefficient"] == pytest.approx(783.333 / 850, abs=1e-5)
    assert src["coefficient"] == pytest.approx(0.78333, abs=1e-5)
    fields = {f["site_id"]: f for f in src["fields"]}
    assert round(fields["HW-A"]["net_field_m3"]) == 433 and fields["HW-A"]["net_method"] == "balance"
    county = {c["key"]: c for c in report["by_county"]}["yingxian"]
    assert county["coefficient"] == pytest.approx(0.78333, abs=1e-5)
    assert county["sources_used"] == ["HW-W"]
    assert report["unassigned_field_meters"] == ["hw-lone"]
    # a day with no reading from hw-src: no η, and the reason names the meter
    before = {"start": (HW_DAY - timedelta(days=3)).isoformat(),
              "end": (HW_DAY - timedelta(days=2)).isoformat()}
    quiet = client.get("/api/v1/water/irrigation-coefficient", headers=ADMIN,
                       params=before).json()
    src = {c["key"]: c for c in quiet["by_source"]}["HW-W"]
    assert src["coefficient"] is None
    assert {(r["code"], r["subject"]) for r in src["reasons"]} >= {("meter_silent", "hw-src")}
    # an agronomist of another county sees nothing of it
    with farm.meta.sessions() as s, s.begin():
        other = issue_token(s, name="o", role=Role.AGRONOMIST, scope={"counties": ["youyu"]})
    seen = client.get("/api/v1/water/irrigation-coefficient", params=day,
                      headers={"Authorization": f"Bearer {other}"}).json()
    assert seen["by_source"] == [] and seen["by_county"] == []
