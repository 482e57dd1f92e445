"""End to end: a simulated fleet in the six counties -> telemetry store -> indicator API.

Two simulated days. On day 1 every device reports; on day 2 the three soil probes of one
Shuocheng field and every device of one Youyu farm go silent. The API's completeness and
coverage fall by exactly what the registry says they should (figures worked out below from
the registered areas, head counts and report intervals), against SQLite and InfluxDB 1.x.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from analytics.indicators import definitions as d
from analytics.indicators.reference import load_sector_weights
from devices.catalogue import DEVICE_TYPES
from devices.contract import parse_ts_ms
from devices.directory import load_devices
from devices.registry import Device, Farm, Site
from farmtel.runtime import build_api, open_metadata
from simulators.fleet import ensure_fleet, load_fleet
from simulators.runner import FleetRunner
from simulators.sink import StoreSink
from storage.clock import DAY_MS as DAY
from storage.factory import open_store
from tests.helpers import ADMIN_TOKEN, settings_for

pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SILENT_FIELD = "demo-shuocheng-01-f1"
SILENT_FARM = "demo-youyu-02"


class SilencingSink:
    """Passes records to ``inner`` except those of ``silenced`` devices from ``since_ms`` on."""

    def __init__(self, inner: StoreSink, silenced: set[str], since_ms: int) -> None:
        self.inner, self.silenced, self.since_ms = inner, silenced, since_ms

    def _lost(self, device_id: str, ts_ms: int | None) -> bool:
        return device_id in self.silenced and ts_ms is not None and ts_ms >= self.since_ms

    def connect(self) -> None:
        self.inner.connect()

    def publish_record(self, farm_id, device_id, ts_ms, seq, readings) -> int:
        if self._lost(device_id, ts_ms):
            return 0
        return self.inner.publish_record(farm_id, device_id, ts_ms, seq, readings)

    def publish_gateway(self, farm_id, gateway_id, records: list[dict[str, Any]]) -> int:
        kept = [r for r in records if not self._lost(r["device_id"], parse_ts_ms(r["ts"]))]
        return self.inner.publish_gateway(farm_id, gateway_id, kept) if kept else 0

    def flush(self, timeout: float = 30.0) -> None:
        self.inner.flush(timeout)

    def close(self, flush_timeout: float | None = 30.0) -> None:
        self.inner.close(flush_timeout)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _by_scope(body: dict[str, Any], key: str) -> dict[str, Any]:
    """Each scope's value of indicator ``key`` (decoded JSON: a number or None)."""
    return {s["scope"]: next(i["value"] for i in s["indicators"] if i["key"] == key)
            for s in body["scopes"]}


def _row(body: dict[str, Any], scope: str, key: str) -> dict[str, Any]:
    """Indicator ``key`` of ``scope`` as the API returned it."""
    got = next(s for s in body["scopes"] if s["scope"] == scope)
    return next(i for i in got["indicators"] if i["key"] == key)


def test_indicators_fall_when_devices_go_silent(tmp_path, store_url):
    settings = settings_for(tmp_path, store_url=store_url)
    meta = open_metadata(settings)
    ensure_fleet(meta.sessions, 300, seed=7)  # 12 farms of 25 devices, 2 per county
    # 2026-07-01 00:00Z: irrigation season; the demo meters run 06:00-08:00 CST on every 4th
    # CST day, and 2026-07-02 06:00 CST (22:00Z on day 1) is one
    t0 = int(datetime(2026, 7, 1, tzinfo=UTC).timestamp() * 1000)
    with meta.sessions() as s, s.begin():  # installed before the simulated days
        s.execute(update(Device).values(created_at=datetime.fromtimestamp(t0 / 1000 - 86_400,
                                                                          tz=UTC)))
    with meta.sessions() as s:
        infos = load_devices(s)
        sites = {x.id: x for x in s.scalars(select(Site))}
        farm_county = dict(s.execute(select(Farm.id, Farm.county_id)).all())
    silenced = {i.device_id for i in infos.values()
                if (i.site_id == SILENT_FIELD and i.device_type == "soil_moisture")
                or (i.farm_id == SILENT_FARM and i.device_type != "gateway")}
    assert len(silenced) == 3 + 25
    store = open_store(settings.resolved_store_url)
    sink = StoreSink(store, infos)
    runner = FleetRunner(load_fleet(meta.sessions, 300), SilencingSink(sink, silenced, t0 + DAY),
                         seed=7, start_ms=t0, first_report_within_s=0.001)
    try:
        for step in range(1, 2 * 144 + 1):  # two days in 10-minute steps
            runner.step(t0 + step * 600_000 - 1)
        sink.flush()
        client = TestClient(build_api(meta, store))

        def indicators(day: int) -> dict[str, Any]:
            r = client.get("/api/v1/indicators", headers=ADMIN, params={
                "start": _iso(t0 + day * DAY), "end": _iso(t0 + (day + 1) * DAY)})
            assert r.status_code == 200, r.text
            return r.json()

        def completeness(day: int) -> dict[str, Any]:
            r = client.get("/api/v1/completeness", headers=ADMIN, params={
                "start": _iso(t0 + day * DAY), "end": _iso(t0 + (day + 1) * DAY)})
            assert r.status_code == 200, r.text
            return {row["key"]: row for row in r.json()["rows"]}

        # -- day 1: everything reports once per interval: 100 % everywhere ------------------
        day1 = indicators(0)
        groups = {"group:先行示范", "group:整体推进", "group:重点帮扶"}
        assert {s["scope"] for s in day1["scopes"]} >= {*set(farm_county.values()), *groups, "city"}
        # counties and plan groups: coverage of their registered sites (no official county
        # figure), 100 % when everything reports; never a status towards the target
        for key in (d.COVERAGE_FIELD, d.COVERAGE_FACILITY, d.COVERAGE_LIVESTOCK,
                    d.SERVICE_COVERAGE, d.DIGITISATION):
            local = {k: v for k, v in _by_scope(day1, key).items()
                     if k != "city" and v is not None}
            assert local and all(v == pytest.approx(100.0) for v in local.values()), key
            assert {_row(day1, c, key)["status"] for c in local} == {"registered_sites"}
        assert all(v == pytest.approx(100.0)
                   for v in _by_scope(day1, d.DEVICE_COMPLETENESS).values() if v is not None)
        # the city: over the plan's official totals (575.6万亩 farmland, ...): far below 5 %
        city_dig = _row(day1, "city", d.DIGITISATION)
        assert 0.0 < city_dig["value"] < 5.0 and city_dig["status"] == "behind"
        assert all(c["denominator_basis"] == "official" and c["weight_source"]
                   for c in city_dig["evidence"]["components"] if c["used"])
        etas = _by_scope(day1, d.IRRIGATION_COEFFICIENT)
        print(f"\nday 1 η {etas}")
        for eta in etas.values():
            assert eta is None or 0.0 < eta <= 1.0

        # -- day 2: expected figures from the registry ----------------------------------
        field_area: dict[str, float] = defaultdict(float)
        for site in sites.values():
            if site.kind == "field":
                field_area[farm_county[site.farm_id]] += site.area_mu or 0.0
        lost_area = {"shuocheng": sites[SILENT_FIELD].area_mu or 0.0,
                     "youyu": sum(x.area_mu or 0.0 for x in sites.values()
                                  if x.farm_id == SILENT_FARM and x.kind == "field")}
        expected_field = {c: 100.0 * (a - lost_area.get(c, 0.0)) / a for c, a in field_area.items()}
        total = sum(field_area.values())
        expected_field["city"] = 100.0 * (total - sum(lost_area.values())) / 5_756_000
        heads = {c: sum(x.head_count or 0 for x in sites.values()
                        if x.kind == "barn" and farm_county[x.farm_id] == c) for c in field_area}
        youyu_lost_heads = sum(x.head_count or 0 for x in sites.values()
                               if x.kind == "barn" and x.farm_id == SILENT_FARM)
        # reports expected per device and day: 86,400 s / its report interval
        per_day = {i.device_id: 86_400 // DEVICE_TYPES[i.device_type].report_interval_s
                   for i in infos.values() if i.device_type != "gateway"}
        expected_reports: dict[str, int] = defaultdict(int)
        lost_reports: dict[str, int] = defaultdict(int)
        for dev_id, n in per_day.items():
            expected_reports[infos[dev_id].county] += n
            if dev_id in silenced:
                lost_reports[infos[dev_id].county] += n

        day2 = indicators(1)
        field = {k: v for k, v in _by_scope(day2, d.COVERAGE_FIELD).items()
                 if k in expected_field}
        assert field == pytest.approx(expected_field)
        assert field["shuocheng"] < 100.0 and field["youyu"] < 100.0
        livestock = _by_scope(day2, d.COVERAGE_LIVESTOCK)
        assert livestock["youyu"] == pytest.approx(
            100.0 * (heads["youyu"] - youyu_lost_heads) / heads["youyu"])
        assert livestock["shuocheng"] == pytest.approx(100.0)
        # Youyu's two farms sit in different townships; one is silent
        service = _by_scope(day2, d.SERVICE_COVERAGE)
        assert service["youyu"] == pytest.approx(50.0) and service["pinglu"] == pytest.approx(100.0)
        # digitisation follows with the packaged output-value weights
        w = {s.value: x.value for s, x in load_sector_weights().city.items()}
        facility = _by_scope(day2, d.COVERAGE_FACILITY)
        assert _by_scope(day2, d.DIGITISATION)["shuocheng"] == pytest.approx(
            w["field_crops"] * field["shuocheng"] + w["facility"] * facility["shuocheng"]
            + w["livestock"] * livestock["shuocheng"])
        comp = completeness(1)
        for county, row in comp.items():
            assert row["expected"] == expected_reports[county]
            # everyone else reported every interval, so completeness falls by the lost share
            assert row["completeness_pct"] == pytest.approx(
                100.0 * (1 - lost_reports[county] / expected_reports[county])), county
        assert comp["huairen"]["completeness_pct"] == pytest.approx(100.0)
        assert comp["youyu"]["n_active"] == comp["youyu"]["n_devices"] - 25
        print(f"\nday 2 field coverage {field}, η {_by_scope(day2, d.IRRIGATION_COEFFICIENT)}")
    finally:
        store.close()
