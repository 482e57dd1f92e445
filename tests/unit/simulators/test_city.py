"""City simulation: fleet layout, report rates, gateway batching, burst backlog, registration."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from typing import Any

import numpy as np
import orjson
import pytest
from sqlalchemy import func, select

from devices.catalogue import DEVICE_TYPES
from devices.contract import parse_topic, parse_ts_ms
from devices.credentials import verify_password
from devices.directory import DeviceDirectory
from devices.registry import Device, Farm, Site
from farmtel.cli import parser
from farmtel.migrate import upgrade_schema
from ingest.decode import MessageDecoder
from simulators.city import GATEWAY_INTERVAL_MS, CityMessage, CitySimulator, OutageSpec
from simulators.city_fleet import CENSUS, COUNTY_IDS, city_layout, register_city
from simulators.city_runner import CityRunner, start_ms_for, summary
from storage.metadata import make_engine, make_session_factory
from storage.telemetry import Quality
from tests.unit.simulators._common import HOUR, cst_ms

START = cst_ms(2025, 6, 1, 8)
MIN = 60_000
LAYOUT = city_layout(2_000, seed=3)
INTERVAL = {name: DEVICE_TYPES[name].report_interval_s * 1000 for name in LAYOUT.families}
FAMILY_OF = {did: name for name, fam in LAYOUT.families.items() for did in fam.ids}
GATEWAY_OF = {did: (LAYOUT.gateways[g].id if g >= 0 else None)
              for fam in LAYOUT.families.values()
              for did, g in zip(fam.ids, fam.gateway.tolist(), strict=True)}


def _run(sim: CitySimulator, until_ms: int, step_ms: int) -> list[CityMessage]:
    msgs: list[CityMessage] = []
    while sim.now_ms < until_ms:
        msgs += sim.advance(min(until_ms, sim.now_ms + step_ms))
    return msgs


def _ts(rec: dict[str, Any]) -> int:
    """A record's time [UTC ms]."""
    ts = parse_ts_ms(rec["ts"])
    assert ts is not None
    return ts


def _records(msgs: list[CityMessage]) -> list[tuple[CityMessage, dict[str, Any]]]:
    """(message, record) with ``device_id`` filled in for direct records."""
    out = []
    for m in msgs:
        doc = orjson.loads(m.payload)
        topic = parse_topic(m.topic)
        assert topic is not None
        recs = doc["records"] if topic.kind == "gateway" else [doc]
        assert len(recs) == m.records
        assert sum(len(r["readings"]) for r in recs) == m.readings
        for r in recs:
            r.setdefault("device_id", topic.sender_id)
            out.append((m, r))
    return out


# --------------------------------------------------------------------------- the fleet


def test_the_city_mix_follows_the_plan_and_scales_to_n() -> None:
    layout = city_layout(200_000)
    counts = layout.counts()
    assert sum(v for k, v in counts.items() if k != "gateway") == 200_000
    for name, census in CENSUS.items():  # every family in the census proportion (±3 %)
        assert counts[name] == pytest.approx(census * 200_000 / sum(CENSUS.values()), rel=0.03)
    assert counts["livestock_collar"] / 200_000 > 0.85  # mostly collars on dairy cows
    behind = sum(int((f.gateway >= 0).sum()) for f in layout.families.values())
    assert behind / 200_000 > 0.95  # mostly behind gateways
    for name in ("flow_meter", "weather_station"):
        assert (layout.families[name].gateway < 0).all()  # direct
    for name in ("livestock_collar", "barn_climate", "greenhouse_climate", "soil_moisture"):
        assert (layout.families[name].gateway >= 0).all()
    # six counties, each with every sector
    for name, fam in layout.families.items():
        assert set(fam.county.tolist()) == set(range(len(COUNTY_IDS))), name
    ids = [d for f in layout.families.values() for d in f.ids] + [g.id for g in layout.gateways]
    assert len(set(ids)) == len(ids)
    rates = layout.offered_rates()
    expected = sum(len(f) / DEVICE_TYPES[n].report_interval_s for n, f in
                   layout.families.items())
    assert rates["records_s"] == pytest.approx(expected)
    assert 200 < rates["records_s"] < 300 and 700 < rates["readings_s"] < 1000


def test_the_layout_is_deterministic_and_ids_carry_their_place() -> None:
    again = city_layout(2_000, seed=3)
    assert again.families["livestock_collar"].ids == LAYOUT.families["livestock_collar"].ids
    bigger = city_layout(4_000, seed=3)
    for name, fam in LAYOUT.families.items():  # a collar keeps its id, site and gateway
        big = dict(zip(bigger.families[name].ids, bigger.families[name].site_ids, strict=True))
        shared = [(d, s) for d, s in zip(fam.ids, fam.site_ids, strict=True) if d in big]
        assert shared
        assert all(big[d] == s for d, s in shared)
        assert all(d.startswith(s) for d, s in shared)


# --------------------------------------------------------------------------- scheduling


@pytest.fixture(scope="module")
def two_hours() -> tuple[CitySimulator, list[CityMessage]]:
    sim = CitySimulator(LAYOUT, start_ms=START, seed=3)
    return sim, _run(sim, START + 2 * HOUR, 7_000)


def test_every_device_reports_at_its_catalogue_interval(two_hours) -> None:
    sim, msgs = two_hours
    msgs = msgs + sim.drain()
    by_device: dict[str, list[int]] = defaultdict(list)
    for _, r in _records(msgs):
        ts = parse_ts_ms(r["ts"])
        assert ts is not None and START - GATEWAY_INTERVAL_MS < ts <= START + 2 * HOUR
        by_device[r["device_id"]].append(ts)
    assert set(by_device) == set(FAMILY_OF)
    for did, stamps in by_device.items():
        interval = INTERVAL[FAMILY_OF[did]]
        live = sorted(t for t in stamps if t > START)
        assert len(live) == 2 * HOUR // interval, did  # exactly the catalogue rate
        assert set(np.diff(sorted(stamps)).tolist()) <= {interval}, did
    # records out per simulated second = the offered rate
    live_records = sum(1 for s in by_device.values() for t in s if t > START)
    assert live_records / 7200 == pytest.approx(LAYOUT.offered_rates()["records_s"], rel=1e-9)


def test_gateways_batch_their_childrens_records_once_per_flush_interval(two_hours) -> None:
    _, msgs = two_hours
    assert [m.ts_ms for m in msgs] == sorted(m.ts_ms for m in msgs)
    per_gateway: dict[str, list[CityMessage]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for m, r in _records(msgs):
        topic = parse_topic(m.topic)
        assert topic is not None
        key = (r["device_id"], r["ts"])
        assert key not in seen
        seen.add(key)
        ts = parse_ts_ms(r["ts"])
        assert ts is not None
        if topic.kind == "gateway":
            assert GATEWAY_OF[r["device_id"]] == topic.sender_id  # its own children only
            assert m.ts_ms - GATEWAY_INTERVAL_MS < ts <= m.ts_ms  # since the previous flush
        else:
            assert GATEWAY_OF[r["device_id"]] is None and ts == m.ts_ms
    for m in msgs:
        topic = parse_topic(m.topic)
        assert topic is not None
        if topic.kind == "gateway":
            per_gateway[topic.sender_id].append(m)
    assert len(per_gateway) == len(LAYOUT.gateways)
    for gw, ms in per_gateway.items():  # one message per gateway per 5 min, on its phase
        assert len(ms) == 2 * HOUR // GATEWAY_INTERVAL_MS, gw
        assert len({m.ts_ms % GATEWAY_INTERVAL_MS for m in ms}) == 1
        assert len({m.route for m in ms}) == 1  # one connection keeps a gateway's order


@pytest.mark.parametrize(("max_records", "max_bytes"), [(20, 100_000), (500, 3_000)])
def test_large_batches_are_split_within_the_record_and_byte_bounds(max_records: int,
                                                                   max_bytes: int) -> None:
    sim = CitySimulator(LAYOUT, start_ms=START, seed=3, max_records=max_records,
                        max_bytes=max_bytes)
    msgs = _run(sim, START + HOUR, 60_000)
    gw = [m for m in msgs if m.topic.endswith("/gateway")]
    assert max(m.records for m in gw) <= max_records
    assert max(len(m.payload) for m in gw) <= max_bytes
    if max_records == 20:
        assert any(m.records == 20 for m in gw)
    else:
        assert any(len(m.payload) > max_bytes - 300 for m in gw)
    reference = CitySimulator(LAYOUT, start_ms=START, seed=3)
    ref = _run(reference, START + HOUR, 60_000)
    assert len(ref) < len(msgs)
    assert sorted(r["device_id"] + r["ts"] for _, r in _records(msgs)) == \
        sorted(r["device_id"] + r["ts"] for _, r in _records(ref))


def test_a_seed_reproduces_the_run_whatever_the_time_steps() -> None:
    end = START + 40 * MIN
    a = _run(CitySimulator(LAYOUT, start_ms=START, seed=3), end, 1_000)
    b = _run(CitySimulator(LAYOUT, start_ms=START, seed=3), end, 123_457)
    c = _run(CitySimulator(LAYOUT, start_ms=START, seed=4), end, 123_457)
    assert [(m.ts_ms, m.topic, m.payload) for m in a] == [(m.ts_ms, m.topic, m.payload)
                                                         for m in b]
    assert [m.payload for m in a] != [m.payload for m in c]


# --------------------------------------------------------------------------- burst


def _outage_run(outage: OutageSpec, until_ms: int) -> tuple[CitySimulator, list[CityMessage]]:
    sim = CitySimulator(LAYOUT, start_ms=START, seed=3, outage=outage, max_records=200)
    return sim, _run(sim, until_ms, 45_000)


def test_gateways_cut_off_flush_their_whole_backlog_when_they_come_back() -> None:
    outage = OutageSpec(fraction=0.4, minutes=75, start_s=600)
    sim, msgs = _outage_run(outage, START + 2 * HOUR)
    down = {LAYOUT.gateways[g].id for g in np.flatnonzero(sim.outage_gateways)}
    assert len(down) == round(0.4 * len(LAYOUT.gateways))
    o0, o1 = sim.outage_start_ms, sim.outage_end_ms
    assert o1 - o0 == 75 * MIN
    backlog = [m for m in msgs if m.backlog]
    for m in msgs:
        topic = parse_topic(m.topic)
        assert topic is not None
        if topic.sender_id in down:
            assert not (o0 <= m.ts_ms < o1)  # silent during the outage
    assert backlog and {m.ts_ms for m in backlog} == {o1}  # all at once when back
    assert {parse_topic(m.topic).sender_id for m in backlog} == down  # type: ignore[union-attr]
    assert max(m.records for m in backlog) <= 200  # bounded messages
    # the backlog holds every record of the cut-off children from their last flush before
    # the outage to its end, with the devices' own timestamps and sequence numbers
    recs = _records(backlog)
    stamps = [_ts(r) for _, r in recs]
    assert min(stamps) <= o0 and max(stamps) <= o1
    assert min(stamps) > o0 - GATEWAY_INTERVAL_MS
    children = [d for d, g in GATEWAY_OF.items() if g in down]
    expected = sum(len(range(0, 75 * MIN, INTERVAL[FAMILY_OF[d]])) for d in children)
    assert len(recs) == pytest.approx(expected, rel=0.08)
    per_device = Counter(r["device_id"] for _, r in recs)
    for did, n in per_device.items():
        seqs = sorted(r["seq"] for _, r in recs if r["device_id"] == did)
        assert seqs == list(range(seqs[0], seqs[0] + n))  # no gap, no repeat
    assert sim.counters.backlog_records == len(recs)
    # nothing lost overall: every generated record is handed out once (after a final drain)
    msgs += sim.drain()
    out = _records(msgs)
    assert len(out) == len({(r["device_id"], r["ts"]) for _, r in out})
    c = sim.counters
    assert c.records_out == len(out) == c.records_generated - c.warmup_records_dropped
    assert sim.pending_records() == 0


def test_an_outage_already_under_way_is_warmed_up_and_its_backlog_is_late() -> None:
    outage = OutageSpec(fraction=0.3, minutes=100, start_s=-90 * 60)  # back 10 min in
    sim, msgs = _outage_run(outage, START + 20 * MIN)
    assert sim.outage_end_ms == START + 10 * MIN
    assert sim.counters.warmup_records_dropped > 0
    assert all(m.ts_ms > START for m in msgs)  # nothing from the warm-up is handed out
    backlog = _records([m for m in msgs if m.backlog])
    stamps = [_ts(r) for _, r in backlog]
    assert min(stamps) < START - 90 * MIN + 1
    # records older than 1 h at the flush: ingest stores them with the LATE flag
    late = [t for t in stamps if t < sim.outage_end_ms - HOUR]
    assert len(late) / len(stamps) > 0.3


def test_outage_options_are_checked() -> None:
    for bad in ({"fraction": 0.0, "minutes": 10}, {"fraction": 1.5, "minutes": 10},
                {"fraction": 0.1, "minutes": 0}, {"fraction": 0.1, "minutes": 10,
                                                  "start_s": -601}):
        with pytest.raises(ValueError):
            OutageSpec(**bad)


# --------------------------------------------------------------------------- registration


def test_bulk_registration_is_accepted_by_ingest_including_late_backlog(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    upgrade_schema(engine)
    reg = register_city(engine, LAYOUT)
    n_devices = 2_000 + len(LAYOUT.gateways)
    assert reg.devices_added == n_devices and reg.devices_present == 0
    again = register_city(engine, LAYOUT)
    assert (again.devices_added, again.sites_added, again.farms_added) == (0, 0, 0)
    assert again.devices_present == n_devices
    sessions = make_session_factory(engine)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Device)) == n_devices
        assert s.scalar(select(func.count()).select_from(Farm)) == len(LAYOUT.farms)
        assert s.scalar(select(func.count()).select_from(Site)) == len(LAYOUT.sites)
        rows = s.execute(select(Device.id, Device.type, Device.gateway_id,
                                Device.password_hash)).all()
    hashes = Counter(h for _, _, g, h in rows if g is None)
    assert max(hashes.values()) == 1  # gateways and direct devices: own secrets
    children = {h for _, _, g, h in rows if g is not None}
    assert len(children) == 1  # one shared hash of a discarded secret
    assert not verify_password("", children.pop())
    assert {(d, g) for d, _, g, _ in rows} == {(d, g) for d, g in GATEWAY_OF.items()} | {
        (g.id, None) for g in LAYOUT.gateways}

    directory = DeviceDirectory(sessions)
    directory.reload()
    decoder = MessageDecoder(directory.lookup)
    outage = OutageSpec(fraction=0.3, minutes=80, start_s=-75 * MIN / 1000)
    sim = CitySimulator(LAYOUT, start_ms=START, seed=3, outage=outage)
    msgs = _run(sim, START + 15 * MIN, 60_000) + sim.drain()
    readings = late = 0
    for m in msgs:
        decoded = decoder.decode(m.topic, m.payload, m.ts_ms + 2_000)
        assert decoded.rejections == [], decoded.rejections[:3]
        readings += len(decoded.readings)
        late += sum(1 for r in decoded.readings if r.quality & Quality.LATE)
    c = sim.counters
    assert readings == c.readings + c.backlog_readings
    assert late > 0


# --------------------------------------------------------------------------- running


class _FakePublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.connected = self.closed = False

    @property
    def published(self) -> int:
        return len(self.sent)

    @property
    def acked(self) -> int:
        return len(self.sent)

    def connect(self) -> None:
        self.connected = True

    def publish(self, topic: str, payload: bytes) -> int:
        assert self.connected and not self.closed
        self.sent.append((topic, payload))
        return len(self.sent)

    def flush(self, timeout: float = 30.0) -> None:
        pass

    def close(self, flush_timeout: float | None = 30.0) -> None:
        self.closed = True


def test_the_runner_publishes_every_message_once_on_a_stable_connection() -> None:
    now = 1_790_000_000_000
    start = start_ms_for(2400.0, 1.5, now)
    assert start == now - int(1.5 * 1000 * 2399)
    sim = CitySimulator(LAYOUT, start_ms=start, seed=3,
                        outage=OutageSpec(fraction=0.5, minutes=40, start_s=60))
    pubs = [_FakePublisher(), _FakePublisher()]
    handed: list[CityMessage] = []
    calls = itertools.count()
    runner = CityRunner(sim, pubs, speed=2400.0, duration_s=1.5, tick_s=0.05,
                        wall_origin=now / 1000, clock=lambda: now / 1000 + next(calls) * 0.01,
                        on_message=handed.append)
    runner.run()  # a fake clock: 10 ms (24 simulated s) per look at it
    assert runner.error is None and all(p.closed for p in pubs)
    sent = [m for p in pubs for m in p.sent]
    assert len(sent) == len(handed) == sum(len(p.sent) for p in pubs)
    assert sorted(sent) == sorted((m.topic, m.payload) for m in handed)
    for m in handed:  # each sender always on the same connection
        assert (m.topic, m.payload) in pubs[m.route % 2].sent
    c = sim.counters
    assert c.backlog_messages > 0 and runner.burst.messages == c.backlog_messages
    assert c.messages + c.backlog_messages == len(sent)
    assert sim.pending_records() == 0  # drained at the end
    stats = runner.stats()
    assert stats["counters"]["records_out"] == c.records_out
    assert "backlog flushed" in summary(stats)


def test_the_simulate_command_keeps_its_options_and_gains_the_city_ones() -> None:
    args = parser().parse_args(["simulate", "--devices", "50", "--speed", "2"])
    assert (args.devices, args.speed, args.city, args.outage_gateways) == (50, 2.0, 0, 0.0)
    args = parser().parse_args(["simulate", "--city", "200000", "--outage-gateways", "0.2",
                                "--outage-minutes", "120", "--outage-start", "-7140",
                                "--connections", "3", "--duration", "120"])
    assert (args.city, args.outage_gateways, args.outage_minutes, args.outage_start,
            args.connections) == (200_000, 0.2, 120.0, -7140.0, 3)
