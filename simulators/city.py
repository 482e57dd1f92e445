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
* :class:`simulators.city_runner.CityRunner` drives a simulator against the wall clock and
  publishes its messages.

A device's readings depend only on the seed and its report times, not on how the clock is
advanced, so a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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
    """A family stepped on its schedule, and what its records need (templates, topics)."""

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
