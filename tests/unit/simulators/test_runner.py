"""The demo fleet runner: reproducible records, report intervals, jitter, gateways, irrigation."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from typing import Any

import pytest

from devices.catalogue import DEVICE_TYPES
from devices.contract import parse_ts_ms
from simulators.fleet import BEHIND_GATEWAY, DEMO_PREFIX, LAYOUT, SHORT, FleetDevice
from simulators.runner import FleetRunner
from tests.unit.simulators._common import DAY, cst_ms

FARM = "demo-shuocheng-01"
START = cst_ms(2026, 7, 1)
Record = tuple[str, int, int, dict[str, float]]


def _farm() -> list[FleetDevice]:
    """One full demo farm, as :func:`simulators.fleet.load_fleet` returns it."""
    short = FARM.removeprefix(DEMO_PREFIX)
    out = []
    for i, (dtype, site, attrs) in enumerate(LAYOUT):
        if dtype == "flow_meter" and attrs.get("role") == "field":
            attrs = {**attrs, "source_site_id": f"{FARM}-w1"}
        out.append(FleetDevice(f"{SHORT[dtype]}-{short}-{i + 1:02d}", dtype, FARM, "shuocheng",
                               f"{FARM}-{site}", f"gw-{short}" if dtype in BEHIND_GATEWAY else None,
                               dict(attrs), 150.0 if site.startswith("f") else None))
    return out


class ListSink:
    """Keeps what a runner publishes: records and the messages they came in."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.gateway_batches: list[tuple[str, list[str]]] = []

    def connect(self) -> None:
        pass

    def publish_record(self, farm_id: str, device_id: str, ts_ms: int, seq: int,
                       readings: dict[str, float]) -> int:
        self.records.append((device_id, ts_ms, seq, readings))
        return 0

    def publish_gateway(self, farm_id: str, gateway_id: str,
                        records: list[dict[str, Any]]) -> int:
        for r in records:
            ts = parse_ts_ms(r["ts"])
            assert ts is not None
            self.records.append((r["device_id"], ts, r["seq"], r["readings"]))
        self.gateway_batches.append((gateway_id, [r["device_id"] for r in records]))
        return 0

    def flush(self, timeout: float = 30.0) -> None:
        pass

    def close(self, flush_timeout: float | None = 30.0) -> None:
        pass


def _simulate(seed: int, step_ms: int, days: float = 1.0, **kw: Any) -> ListSink:
    sink = ListSink()
    runner = FleetRunner(_farm(), sink, seed=seed, start_ms=START, **kw)
    t, end = START, START + int(days * DAY)
    while t < end:
        t = min(end, t + step_ms)
        runner.step(t)
    return sink


def _by_device(records: list[Record]) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        out[r[0]].append(r)
    return dict(out)


def test_same_seed_same_records_however_the_clock_moves() -> None:
    a = _simulate(7, 600_000, first_report_within_s=30)
    assert a.records == _simulate(7, 600_000, first_report_within_s=30).records
    # other step sizes publish the same records per device
    assert _by_device(a.records) == _by_device(_simulate(7, 37_000,
                                                         first_report_within_s=30).records)
    assert _by_device(a.records) != _by_device(_simulate(8, 600_000,
                                                         first_report_within_s=30).records)


def test_report_intervals_jitter_and_sequence_numbers() -> None:
    sink = _simulate(3, 600_000, first_report_within_s=20)
    by_device = _by_device(sink.records)
    assert set(by_device) == {d.device_id for d in _farm()}
    types = {d.device_id: d.device_type for d in _farm()}
    firsts = []
    for device_id, recs in by_device.items():
        interval = DEVICE_TYPES[types[device_id]].report_interval_s * 1000
        times = [r[1] for r in recs]
        assert [r[2] for r in recs] == list(range(1, len(recs) + 1))
        assert all(b - a == interval for a, b in itertools.pairwise(times))
        assert len(recs) == DAY // interval
        firsts.append(times[0] - START)
        assert set(recs[0][3]) == set(DEVICE_TYPES[types[device_id]].quantities)
    assert all(0 <= f < 20_000 for f in firsts) and len(set(firsts)) > 5  # jittered


def test_gateway_children_go_out_in_batches() -> None:
    sink = _simulate(3, 600_000, days=0.25)
    behind = {d.device_id for d in _farm() if d.gateway_id is not None}
    assert sink.gateway_batches
    assert {d for _, ids in sink.gateway_batches for d in ids} == behind
    assert max(len(ids) for _, ids in sink.gateway_batches) > 1
    assert Counter(r[0] for r in sink.records if r[0] in behind) == Counter(
        d for _, ids in sink.gateway_batches for d in ids)


def test_hand_irrigation_reaches_the_meter_and_the_fields_probes() -> None:
    def field_readings(irrigate: bool) -> tuple[float, float]:
        sink = ListSink()
        runner = FleetRunner(_farm(), sink, seed=3, start_ms=START, first_report_within_s=0.001)
        runner.add_dry_spell(START - DAY, START + 5 * DAY, heat_c=4.0, county="shuocheng")
        meter = next(d.device_id for d in runner.devices
                     if d.device_type == "flow_meter" and d.site_id == f"{FARM}-f1")
        if irrigate:
            runner.start_irrigation(meter, 4 * 3600, rate_m3_h=1000.0, start_ms=START + DAY)
        runner.step(START + 2 * DAY)
        by_device = _by_device(sink.records)
        volume = by_device[meter][-1][3]["volume_m3"] - by_device[meter][0][3]["volume_m3"]
        probe = next(d.device_id for d in runner.devices if d.device_type == "soil_moisture"
                     and d.site_id == f"{FARM}-f1")
        return volume, by_device[probe][-1][3]["vwc_pct"]

    dry_volume, dry_vwc = field_readings(False)
    wet_volume, wet_vwc = field_readings(True)
    assert wet_volume - dry_volume == pytest.approx(4000.0, abs=0.01)
    assert wet_vwc > dry_vwc + 1.0  # 4000 m³ on 150 亩: 40 mm


def test_scripted_fever_and_unknown_controls() -> None:
    sink = ListSink()
    runner = FleetRunner(_farm(), sink, seed=3, start_ms=START, first_report_within_s=0.001)
    collar = next(d.device_id for d in runner.devices if d.device_type == "livestock_collar")
    runner.start_fever(collar, START + 2 * 3_600_000, peak_c=40.6, onset_h=2.0)
    runner.step(START + DAY)
    temps = [r[3]["body_temp_c"] for r in sink.records if r[0] == collar]
    assert max(temps) > 40.0 and temps[0] < 39.5
    with pytest.raises(ValueError):
        runner.start_fever(next(d.device_id for d in runner.devices
                                if d.device_type == "barn_climate"), START)
    with pytest.raises(ValueError):
        runner.start_irrigation(collar, 3600, rate_m3_h=1.0, start_ms=START)
