"""City-scale simulation: one process sustains a Shuozhou-wide fleet (200,000 devices by default).

* :mod:`simulators.city_fleet` lays out the fleet (mostly dairy collars behind barn gateways;
  soil probes behind field concentrators; greenhouse nodes behind park gateways; flow meters
  and village weather stations direct) and registers it in bulk;
* :mod:`simulators.models` holds the device families (one array per quantity), the same the
  demo fleet runs;
* :class:`CitySimulator` (pure, no I/O) schedules reports and gateway flushes on a simulated
  clock and returns the MQTT messages due: each device reports every catalogue interval at a
  seeded phase [ms]; each gateway flushes the records its children produced since its last
  flush once per gateway interval (5 min), at its own phase, as ``{"records": [...]}``
  bounded to ``max_records`` records and ``max_bytes`` bytes per message;
* a gateway **outage** (:class:`OutageSpec`) stops a seeded share of the gateways for some
  minutes; they keep buffering, then flush the whole backlog at once when they come back
  (original timestamps and sequence numbers, so ingest flags records older than 1 h LATE), in
  bounded messages; an outage may have begun before the simulation starts;
* before its start the simulator warms up silently: one gateway interval (so gateways hold
  the records since their last flush and rates are steady from the first second), or from
  5 min before an outage already under way (its backlog); what would have been sent before
  the start is dropped (delivered before the simulation started);
* :class:`CityRunner` drives a simulator against the wall clock (``speed`` simulated seconds
  per second) and publishes through a few QoS 1 connections (one service account publishing on
  behalf of all gateways and direct devices: the broker ACL of the simulator account allows any
  device topic; 1,500 gateway connections from one process would measure the process, not the
  fleet), live traffic first and the backlog as fast as the publishers take it in between.

A device's readings depend only on the seed and its report times, not on how the clock is
advanced, so a run is reproducible.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from devices.catalogue import DEVICE_TYPES
from devices.contract import gateway_topic, telemetry_topic
from simulators.city_fleet import COUNTY_IDS, CityLayout, FamilyLayout
from simulators.county_weather import CountyWeather
from simulators.models import Family, IrrigationPlan, build_family
from simulators.noise import derive_seed
from simulators.schedule import Schedule, ScheduledFamily
from storage.clock import MINUTE_MS

log = logging.getLogger(__name__)

I64 = NDArray[np.int64]

GATEWAY_INTERVAL_MS = DEVICE_TYPES["gateway"].report_interval_s * 1000
MAX_WINDOW_MS = GATEWAY_INTERVAL_MS  # longest simulated step (<= every report interval)
MAX_RECORDS = 500  # records per gateway message
MAX_BYTES = 200_000  # payload bytes per gateway message (ingest's default limit: 256 KiB)


@dataclass(frozen=True, slots=True)
class OutageSpec:
    """``fraction`` of the gateways (seeded choice) silent for ``minutes`` [min], starting
    ``start_s`` [s] after the simulation start (negative: already under way at the start)."""

    fraction: float
    minutes: float
    start_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError("outage fraction must be within (0, 1]")
        if self.minutes <= 0.0:
            raise ValueError("outage minutes must be positive")
        if self.start_s + self.minutes * 60.0 <= 0.0:
            raise ValueError("the outage must end after the simulation starts")


@dataclass(frozen=True, slots=True)
class CityMessage:
    """One MQTT message due at ``ts_ms`` (simulated time): a direct record or a gateway batch.

    ``route`` picks the publishing connection (stable per sender, so a sender's messages stay
    in order); ``backlog``: part of a gateway's post-outage flush.
    """

    ts_ms: int
    topic: str
    payload: bytes
    records: int
    readings: int
    route: int
    backlog: bool = False


@dataclass(slots=True)
class CityCounters:
    """What a simulator generated and handed out (records, readings, messages, bytes)."""

    records_generated: int = 0
    readings_generated: int = 0
    generated_by_type: dict[str, int] = field(default_factory=dict)
    messages: int = 0  # live (not backlog) messages handed out
    records: int = 0
    readings: int = 0
    bytes: int = 0
    backlog_messages: int = 0
    backlog_records: int = 0
    backlog_readings: int = 0
    backlog_bytes: int = 0
    warmup_records_dropped: int = 0

    @property
    def records_out(self) -> int:
        """Records handed out, live and backlog."""
        return self.records + self.backlog_records


@dataclass(slots=True)
class _Family:
    """A family's model with its schedule: phases sorted, and what each record needs."""

    layout: FamilyLayout
    run: ScheduledFamily
    child_template: str
    direct_template: str
    topics: list[str]
    route_base: int


def _template(quantities: Sequence[str], device: bool) -> str:
    """``%``-format of one record: (device_id,) ts, seq, then each reading (repr of float)."""
    readings = ",".join(f'"{q}":%r' for q in quantities)
    head = '{"device_id":"%s","ts":"%s"' if device else '{"ts":"%s"'
    return head + ',"seq":%d,"readings":{' + readings + "}}"


class CitySimulator:
    """The city fleet on a simulated clock (module docstring); no I/O, not thread-safe.

    ``start_ms`` [UTC ms] is when messages start being handed out; before it the simulator
    only warms up (see :class:`OutageSpec`). :meth:`advance` moves the clock and returns the
    messages due, in time order.
    """

    def __init__(self, layout: CityLayout, *, start_ms: int, seed: int | None = None,
                 outage: OutageSpec | None = None, max_records: int = MAX_RECORDS,
                 max_bytes: int = MAX_BYTES) -> None:
        if max_records < 1 or max_bytes < 1_000:
            raise ValueError("need max_records >= 1 and max_bytes >= 1000")
        self.layout = layout
        self.seed = layout.seed if seed is None else seed
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.start_ms = start_ms
        self.counters = CityCounters()
        seed_ = self.seed
        # the demo fleet's per-county drivers (same seeds): one weather for both
        self.weather = CountyWeather.for_counties(seed_, COUNTY_IDS)

        n_gw = len(layout.gateways)
        self.outage = outage
        self.outage_gateways = np.zeros(n_gw, dtype=bool)
        self.outage_start_ms = self.outage_end_ms = start_ms
        # warm up for one gateway interval, so that every gateway holds the records since its
        # last flush when the run starts (rates are steady from the start)
        begin = start_ms - GATEWAY_INTERVAL_MS
        if outage is not None and n_gw:
            rng = np.random.default_rng(derive_seed(seed_, "city-outage"))
            chosen = rng.choice(n_gw, size=max(1, round(outage.fraction * n_gw)), replace=False)
            self.outage_gateways[chosen] = True
            self.outage_start_ms = start_ms + int(outage.start_s * 1000)
            self.outage_end_ms = self.outage_start_ms + int(outage.minutes * MINUTE_MS)
            # an outage under way at the start: warm up its backlog (and the partial batches
            # the cut-off gateways held when it began)
            begin = min(begin, self.outage_start_ms - GATEWAY_INTERVAL_MS)
        self.now_ms = begin
        #: pending records of each gateway: settled (time-ordered) ones and their readings
        self._buffers: list[list[str]] = [[] for _ in range(n_gw)]
        self._buffer_readings: list[list[int]] = [[] for _ in range(n_gw)]
        self._gw_topics = [gateway_topic(layout.farms[g.farm].id, g.id) for g in layout.gateways]
        gw_rng = np.random.default_rng(derive_seed(seed_, "city-phase", "gateway"))
        self._gw_schedule = Schedule(gw_rng.integers(0, GATEWAY_INTERVAL_MS, n_gw),
                                     GATEWAY_INTERVAL_MS)

        irrigation = None
        if len(layout.field_county):
            irrigation = IrrigationPlan(seed_, layout.field_county, layout.field_area_mu,
                                        self.weather)
        self._families: list[_Family] = []
        route = n_gw
        for name, fam in layout.families.items():
            if not len(fam):
                continue
            interval = DEVICE_TYPES[name].report_interval_s * 1000
            phase = np.random.default_rng(derive_seed(seed_, "city-phase", name)).integers(
                0, interval, len(fam)).astype(np.int64)
            schedule = Schedule(phase, interval)
            model = build_family(name, seed_, fam.county,
                                 schedule.first_after(phase, begin) - interval, self.weather,
                                 fam.extra, irrigation)
            quantities = DEVICE_TYPES[name].quantities
            farm_ids = [layout.farms[f].id for f in fam.farm.tolist()]
            topics = [telemetry_topic(farm_ids[i], did) if g < 0 else ""
                      for i, (did, g) in enumerate(zip(fam.ids, fam.gateway.tolist(),
                                                       strict=True))]
            self._families.append(_Family(
                fam, ScheduledFamily(model, schedule),
                _template(quantities, True), _template(quantities, False), topics, route))
            self.counters.generated_by_type[name] = 0
            route += len(fam)

    # ------------------------------------------------------------------ queries

    def family(self, device_type: str) -> Family:
        """The vectorised model of a device type (to inspect or inject, e.g. fevers)."""
        for f in self._families:
            if f.layout.device_type == device_type:
                return f.run.model
        raise KeyError(device_type)

    def pending_records(self) -> int:
        """Records held in gateway buffers (generated, not yet handed out)."""
        return sum(len(b) for b in self._buffers)

    def in_outage(self, ts_ms: int) -> bool:
        """Whether the outage is under way at ``ts_ms``."""
        return self.outage is not None and self.outage_start_ms <= ts_ms < self.outage_end_ms

    # ------------------------------------------------------------------ clock

    def advance(self, to_ms: int) -> list[CityMessage]:
        """Simulate up to ``to_ms`` [UTC ms]; the messages due from ``start_ms`` on, in order."""
        out: list[CityMessage] = []
        while self.now_ms < to_ms:
            b = min(to_ms, self.now_ms + MAX_WINDOW_MS)
            if self.now_ms < self.start_ms < b:
                b = self.start_ms  # warm-up and live windows never mix
            self._window(self.now_ms, b, out)
            self.now_ms = b
        return out

    def drain(self) -> list[CityMessage]:
        """Every gateway forwards what it holds now (end of a run): nothing generated is left."""
        out: list[CityMessage] = []
        for g in range(len(self._buffers)):
            self._flush(g, self.now_ms, False, out)
        return out

    def _window(self, a: int, b: int, out: list[CityMessage]) -> None:
        live = a >= self.start_ms
        counters = self.counters
        msgs: list[CityMessage] = []
        fresh: dict[int, list[tuple[int, str, int]]] = {}
        for fam in self._families:
            reports = fam.run.step(a, b)
            if reports is None:
                continue
            idx, ts, values = reports.idx, reports.ts_ms, reports.values
            n = len(idx)
            nq = values.shape[1]
            counters.records_generated += n
            counters.readings_generated += n * nq
            counters.generated_by_type[fam.layout.device_type] += n
            gw = fam.layout.gateway[idx]
            keep = np.ones(n, dtype=bool)
            if not live:  # warm-up: only records a gateway may still hold at the start
                keep = gw >= 0
                keep[keep] = self.outage_gateways[gw[keep]] | (
                    ts[keep] > self.start_ms - GATEWAY_INTERVAL_MS)
                counters.warmup_records_dropped += n - int(keep.sum())
                if not keep.any():
                    continue
                idx, ts, gw, values = idx[keep], ts[keep], gw[keep], values[keep]
            stamps = np.datetime_as_string(ts.astype("datetime64[ms]"), unit="ms",
                                           timezone="UTC").tolist()
            rows = values.tolist()
            seqs = fam.run.seq[idx].tolist()
            ids = fam.layout.ids
            ts_list = ts.tolist()
            child_t, direct_t = fam.child_template, fam.direct_template
            for i, (j, g) in enumerate(zip(idx.tolist(), gw.tolist(), strict=True)):
                if g >= 0:
                    rec = child_t % (ids[j], stamps[i], seqs[i], *rows[i])
                    fresh.setdefault(g, []).append((ts_list[i], rec, nq))
                else:
                    payload = (direct_t % (stamps[i], seqs[i], *rows[i])).encode()
                    msgs.append(CityMessage(ts_list[i], fam.topics[j], payload, 1, nq,
                                            fam.route_base + j))
                    counters.messages += 1
                    counters.records += 1
                    counters.readings += nq
                    counters.bytes += len(payload)
        # gateway flushes in (a, b], in time order; records newer than a flush wait
        events: list[tuple[int, int, int]] = []  # (time, 0 backlog / 1 regular, gateway)
        gw_idx, gw_ts = self._gw_schedule.due(a, b)
        outage = self.outage_gateways
        for g, f in zip(gw_idx.tolist(), gw_ts.tolist(), strict=True):
            if not (outage[g] and self.in_outage(f)):
                events.append((f, 1, g))
        if self.outage is not None and a < self.outage_end_ms <= b:
            events += [(self.outage_end_ms, 0, g) for g in np.flatnonzero(outage).tolist()]
        for pending in fresh.values():
            pending.sort()
        events.sort()
        for f, kind, g in events:
            recs = fresh.get(g, [])
            if recs:
                cut = 0
                while cut < len(recs) and recs[cut][0] <= f:
                    cut += 1
                self._settle(g, recs[:cut])
                fresh[g] = recs[cut:]
            self._flush(g, f, kind == 0, msgs if live else None)
        for g, recs in fresh.items():
            self._settle(g, recs)
        msgs.sort(key=lambda m: m.ts_ms)
        out.extend(msgs)

    def _settle(self, g: int, recs: list[tuple[int, str, int]]) -> None:
        if recs:
            self._buffers[g].extend(r[1] for r in recs)
            self._buffer_readings[g].extend(r[2] for r in recs)

    def _flush(self, g: int, ts_ms: int, backlog: bool, out: list[CityMessage] | None) -> None:
        """Gateway ``g`` sends everything it holds at ``ts_ms`` (``out`` None: warm-up)."""
        recs, nqs = self._buffers[g], self._buffer_readings[g]
        if not recs:
            return
        self._buffers[g], self._buffer_readings[g] = [], []
        counters = self.counters
        if out is None:
            counters.warmup_records_dropped += len(recs)
            return
        topic = self._gw_topics[g]
        start = size = readings = 0
        limit = self.max_bytes - 16  # the {"records":[...]} envelope
        for i, rec in enumerate(recs):
            if i > start and (i - start >= self.max_records or size + len(rec) + 1 > limit):
                self._emit(topic, recs[start:i], readings, ts_ms, g, backlog, out)
                start, size, readings = i, 0, 0
            size += len(rec) + 1
            readings += nqs[i]
        self._emit(topic, recs[start:], readings, ts_ms, g, backlog, out)

    def _emit(self, topic: str, recs: list[str], readings: int, ts_ms: int, g: int,
              backlog: bool, out: list[CityMessage]) -> None:
        payload = ('{"records":[' + ",".join(recs) + "]}").encode()
        c = self.counters
        if backlog:
            c.backlog_messages += 1
            c.backlog_records += len(recs)
            c.backlog_readings += readings
            c.backlog_bytes += len(payload)
        else:
            c.messages += 1
            c.records += len(recs)
            c.readings += readings
            c.bytes += len(payload)
        out.append(CityMessage(ts_ms, topic, payload, len(recs), readings, g, backlog))


# --------------------------------------------------------------------------- running


class Publisher(Protocol):
    """What :class:`CityRunner` needs of a publisher (:class:`~devices.mqtt_publisher.
    ReliablePublisher` fits): QoS 1 publish with flow control and ack counters."""

    @property
    def published(self) -> int: ...

    @property
    def acked(self) -> int: ...

    def connect(self) -> None: ...

    def publish(self, topic: str, payload: bytes) -> int: ...

    def flush(self, timeout: float = 30.0) -> None: ...

    def close(self, flush_timeout: float | None = 30.0) -> None: ...


def start_ms_for(speed: float, duration_s: float, now_ms: int) -> int:
    """Simulation start [UTC ms]: now in real time; with ``speed`` > 1 and a duration, so
    far in the past that the run ends now (ingest refuses readings > 5 min in the future)."""
    if speed > 1.0 and duration_s > 0.0:
        return now_ms - int(duration_s * 1000 * (speed - 1.0))
    return now_ms


@dataclass(slots=True)
class BurstStats:
    """The post-outage flush as published: wall times [epoch s] and sizes."""

    outage_end_wall: float | None = None  # the tick that passed the outage end
    first_publish_wall: float | None = None
    last_publish_wall: float | None = None
    acked_wall: float | None = None
    messages: int = 0
    records: int = 0
    bytes: int = 0


class CityRunner:
    """Runs a :class:`CitySimulator` against the wall clock and publishes its messages.

    The simulated clock is ``start_ms + (wall - wall_origin) * speed`` (never ahead of the
    wall clock); ``duration_s`` [s] of live running (0: until :meth:`stop`); every
    ``tick_s`` [s] the due messages are published, live ones first, then backlog messages
    until the next tick. At the end every gateway forwards what it holds (``drain``), and the
    publishers are flushed (every message acknowledged) and closed.
    """

    def __init__(self, sim: CitySimulator, publishers: Sequence[Publisher], *,
                 speed: float = 1.0, duration_s: float = 0.0, tick_s: float = 0.2,
                 wall_origin: float | None = None, drain: bool = True,
                 clock: Callable[[], float] = time.time,
                 on_message: Callable[[CityMessage], None] | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        if not publishers:
            raise ValueError("need at least one publisher")
        self.sim = sim
        self.publishers = list(publishers)
        self.speed = speed
        self.duration_s = duration_s
        self.tick_s = tick_s
        self.wall_origin = sim.start_ms / 1000 if wall_origin is None else wall_origin
        self.drain = drain
        self._clock = clock
        self._on_message = on_message
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backlog: deque[CityMessage] = deque()
        self._ack_marks: list[int] | None = None
        self.burst = BurstStats()
        self.timings: dict[str, float] = {}
        self.error: BaseException | None = None
        self._steady: dict[str, float] | None = None
        self._steady_end: dict[str, float] | None = None

    def _snapshot(self, wall: float) -> dict[str, float]:
        c = self.sim.counters
        return {"wall": wall, "sim_ms": float(self.sim.now_ms), "messages": c.messages,
                "records": c.records, "readings": c.readings,
                "backlog_records": c.backlog_records, "records_generated": c.records_generated,
                "readings_generated": c.readings_generated}

    def sim_now_ms(self, wall_s: float) -> int:
        """Simulated time at wall-clock ``wall_s`` [epoch s] (never ahead of it) [UTC ms]."""
        sim = self.sim.start_ms + (wall_s - self.wall_origin) * 1000.0 * self.speed
        return int(min(sim, wall_s * 1000.0))

    def _publish(self, msg: CityMessage) -> None:
        pub = self.publishers[msg.route % len(self.publishers)]
        pub.publish(msg.topic, msg.payload)
        if self._on_message is not None:
            self._on_message(msg)

    def _publish_backlog(self, deadline: float | None) -> None:
        burst = self.burst
        while self._backlog and (deadline is None or self._clock() < deadline):
            msg = self._backlog.popleft()
            if burst.first_publish_wall is None:
                burst.first_publish_wall = self._clock()
            self._publish(msg)
            burst.messages += 1
            burst.records += msg.records
            burst.bytes += len(msg.payload)
            if not self._backlog:
                burst.last_publish_wall = self._clock()
                self._ack_marks = [p.published for p in self.publishers]

    def _check_acks(self) -> None:
        marks = self._ack_marks
        if marks is not None and all(p.acked >= m for p, m in
                                     zip(self.publishers, marks, strict=True)):
            self.burst.acked_wall = self._clock()
            self._ack_marks = None

    def run(self) -> None:
        """Warm up, publish until stopped or ``duration_s`` passed, drain, flush, close."""
        clock = self._clock
        connected: list[Publisher] = []
        try:
            for p in self.publishers:
                p.connect()
                connected.append(p)
            t0 = clock()
            self.sim.advance(self.sim.start_ms)  # warm-up (hands out nothing)
            self.timings["warmup_s"] = clock() - t0
            started = self.timings["live_start_wall"] = clock()
            while not self._stop.is_set():
                now = clock()
                if self.duration_s and now - started >= self.duration_s:
                    break
                for msg in self.sim.advance(self.sim_now_ms(now)):
                    if msg.backlog:
                        if self.burst.outage_end_wall is None:
                            self.burst.outage_end_wall = now
                        self._backlog.append(msg)
                    else:
                        self._publish(msg)
                if self._steady is None:  # rates count from the end of the first tick, which
                    self._steady = self._snapshot(now)  # catches up the warm-up time
                deadline = now + self.tick_s
                self._publish_backlog(deadline)
                self._check_acks()
                self._stop.wait(max(0.0, deadline - clock()))
            self.timings["live_end_wall"] = clock()
            self._steady_end = self._snapshot(self.timings["live_end_wall"])
            self._publish_backlog(None)
            if self.drain:
                for msg in self.sim.drain():
                    self._publish(msg)
            for p in self.publishers:
                p.flush(timeout=300.0)
            self._check_acks()
            self.timings["flushed_wall"] = clock()
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            for p in connected:
                p.close(flush_timeout=None)

    def start(self) -> None:
        """Run on a background thread."""
        self._thread = threading.Thread(target=self._run_logged, name="city-sim", daemon=True)
        self._thread.start()

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception:
            log.exception("city simulation failed")

    @property
    def running(self) -> bool:
        """Whether the background run is still going."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the run to end."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        """Stop after the current tick (then drain and flush) and wait."""
        self._stop.set()
        self.join()

    def stats(self) -> dict[str, Any]:
        """Counts, offered (catalogue) and achieved rates, timings and the burst, as JSON."""
        sim = self.sim
        a, b = self._steady, self._steady_end
        achieved: dict[str, float] = {}
        if a is not None and b is not None and b["wall"] > a["wall"]:
            wall_s, sim_s = b["wall"] - a["wall"], (b["sim_ms"] - a["sim_ms"]) / 1000.0
            achieved = {"wall_s": wall_s, "sim_s": sim_s}
            for key in ("messages", "records", "readings", "records_generated",
                        "readings_generated"):
                achieved[f"{key}_s"] = (b[key] - a[key]) / wall_s
                achieved[f"{key}_per_sim_s"] = (b[key] - a[key]) / sim_s if sim_s else 0.0
        return {
            "devices": sim.layout.size,
            "counts": sim.layout.counts(),
            "speed": self.speed,
            "connections": len(self.publishers),
            "offered_per_sim_s": sim.layout.offered_rates(),
            "steady": {"start": a, "end": b},
            # between the first tick and the end of the live loop, per wall second and per
            # simulated second: live messages (not backlog), and records generated
            "achieved_live": achieved,
            "counters": {**asdict(sim.counters), "records_out": sim.counters.records_out},
            "pending_records": sim.pending_records(),
            "published": sum(p.published for p in self.publishers),
            "acked": sum(p.acked for p in self.publishers),
            "outage": None if sim.outage is None else {
                **asdict(sim.outage), "gateways": int(sim.outage_gateways.sum()),
                "start_ms": sim.outage_start_ms, "end_ms": sim.outage_end_ms,
                "gateway_ids": [sim.layout.gateways[g].id
                                for g in np.flatnonzero(sim.outage_gateways).tolist()]},
            "burst": asdict(self.burst),
            "timings": dict(self.timings),
        }


def summary(stats: dict[str, Any]) -> str:
    """A few lines for people: fleet, offered and achieved rates, burst."""
    o = stats["offered_per_sim_s"]
    c = stats["counters"]
    lines = [
        f"city fleet: {stats['devices']:,} devices + {stats['counts']['gateway']:,} gateways "
        f"({', '.join(f'{k} {v:,}' for k, v in stats['counts'].items() if k != 'gateway')})",
        f"offered at catalogue rates: {o['messages_s']:.1f} msg/s, {o['records_s']:.1f} "
        f"records/s, {o['readings_s']:.1f} readings/s (per simulated second)",
    ]
    a = stats["achieved_live"]
    if a:
        lines.append(f"published live over {a['wall_s']:.1f} s ({a['sim_s']:.0f} simulated s): "
                     f"{a['messages_s']:.1f} msg/s, {a['records_s']:.1f} records/s, "
                     f"{a['readings_s']:.1f} readings/s per wall second")
    lines.append(f"in all: {c['messages'] + c['backlog_messages']:,} messages, "
                 f"{c['records_out']:,} records, "
                 f"{c['readings'] + c['backlog_readings']:,} readings published "
                 f"({c['records_generated']:,} generated, {c['warmup_records_dropped']:,} "
                 f"dropped in warm-up)")
    b = stats["burst"]
    if stats["outage"] is not None:
        took = ""
        if b["first_publish_wall"] is not None and b["last_publish_wall"] is not None:
            secs = max(1e-9, b["last_publish_wall"] - b["first_publish_wall"])
            took = f" in {secs:.2f} s ({b['records'] / secs:,.0f} records/s)"
        lines.append(f"outage: {stats['outage']['gateways']} gateways for "
                     f"{stats['outage']['minutes']:g} min; backlog flushed: "
                     f"{c['backlog_messages']:,} messages, {c['backlog_records']:,} records, "
                     f"{c['backlog_bytes'] / 1e6:.1f} MB{took}")
    return "\n".join(lines)
