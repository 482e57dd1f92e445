"""Indicator benchmark (issue #8): the bureau's indicator computation for a 200k-device registry.

    python -m bench.indicators                     # 200,000 devices, SQLite and InfluxDB (~5 min)
    python -m bench.indicators --quick             # 20,000 devices, 2 repeats: a smoke check
    python -m bench.indicators --devices 50000 --backends sqlite --repeats 10

What is timed is ``analytics.indicators.service.evaluate`` — what ``GET /api/v1/indicators``
and the monthly snapshot run: load the registry, completeness of every device, sector
coverage, 农业生产数字化水平, township coverage, η from the flow meters, county and city
roll-ups, progress against the plan's targets (not the JSON rendering of the answer). Two
periods, each ``--repeats`` times:

* ``month``: a complete CST month (2026-10), what the monthly snapshot and ``period=2026-10``
  compute;
* ``rolling``: the page's default, the last 30 days up to "now" (2026-11-02 02:30 CST), exact:
  the 1.5 hours after the cache are read from the store (at most 2 repeats: slow on InfluxDB);
* ``rolling until cached``: the same with ``IndicatorConfig(until_cached=True)``, measured up
  to the end of the cache (01:00 CST) without reading the store.

Setup, per backend, in a temporary directory (the metadata DB is SQLite, as by default):

* a registry of ``--devices`` sensor devices bulk-inserted with SQLAlchemy Core, spread
  round-robin over the six Shuozhou counties on farms of four kinds (crop farms with fields,
  probes, a weather station and often flow meters; greenhouse bases; livestock farms with barn
  sensors and collars behind gateways; mixed farms laid out like the demo fleet), townships,
  high-standard fields, ~2 % installed and ~0.5 % revoked during the month;
* **not** a month of raw readings (200,000 devices x a month is ~1.8 billion readings: days to
  write here). The hourly-count cache that the scheduled refresh
  (``analytics.indicators.hourly.refresh.refresh_hourly_counts``) maintains is filled directly, for
  2026-09-28 .. 2026-11-01 and the first hour of 2026-11-02, from a seeded behaviour per
  device (~88 % healthy, ~6 % flaky, ~3 % dying mid-month, ~3 % silent) and consistent flow
  meter counters (irrigation every 4th day, η 0.5-0.65 per water source);
* raw readings of the counted quantities (one per device type) for the hours not cached, from
  01:00 CST up to "now", are written through the store's own ``write()``: the rolling period
  reads them from the store (``window_counts``, ``raw_series``), as a live system would.

Also timed once per backend: one incremental refresh (the uncached hour read from the store,
merged into the cached day), and — unless ``--baseline-devices 0`` — the old per-site way of
counting against the hourly way on a small fleet with every raw reading of 7 days written
(``--baseline-devices`` devices), both checked to give identical results.

``run_indicator_bench`` is what bench/api_latency.py imports. Results (p50/p99 by nearest rank over
the repeats, min, max [ms]) go to bench/results/indicators-<timestamp>.json with a table on
stdout. The machine is shared: wall times include other agents' load.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import resource
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, insert

from analytics.indicators.config import IndicatorConfig
from analytics.indicators.hourly.parts import (
    COUNTER_FIELDS,
    DECREASES,
    FIRST_TS,
    FIRST_V,
    LAST_TS,
    LAST_V,
    STEPS,
    list_key,
)
from analytics.indicators.hourly.parts import N as N_READINGS
from analytics.indicators.hourly.refresh import refresh_hourly_counts
from analytics.indicators.hourly.table import HourlyCountDay, counted_quantities
from analytics.indicators.measure import measure_hourly, measure_per_site
from analytics.indicators.periods import Period, parse_month, range_period
from analytics.indicators.registry_view import load_registry_view
from analytics.indicators.service import evaluate
from bench._common import RESULTS_DIR, bulk_register, latency_stats, write_batched
from devices.catalogue import DEVICE_TYPES
from devices.registry import SHUOZHOU_COUNTIES
from farmtel.runtime import Metadata, open_metadata
from farmtel.settings import Settings
from storage.clock import DAY_MS, HOUR_MS, MINUTE_MS, cst_midnight_ms
from storage.factory import open_store
from storage.influx import InfluxTelemetryStore
from storage.telemetry import Reading, StoreRejected, TelemetryStore
from tests.servers import InfluxServer

MONTH = "2026-10"
MONTH_PERIOD = parse_month(MONTH)
FIRST_DAY = date(2026, 10, 1)
CACHE_FIRST = FIRST_DAY - timedelta(days=3)  # η reads 3 days either side of the period
TODAY = date(2026, 11, 2)  # "now" is 02:30 CST on this day
NOW_MS = cst_midnight_ms(TODAY) + 150 * MINUTE_MS
CACHED_TODAY_HOURS = 1  # 00:00-01:00 cached; 01:00-02:30 only in the store
INSTALLED_BEFORE = datetime(2025, 3, 1, tzinfo=UTC)
COUNTIES = [c[0] for c in SHUOZHOU_COUNTIES]
TOWNSHIPS_PER_COUNTY = 12
QUANTITY_OF = counted_quantities()


# --- the registry --------------------------------------------------------------------------------


@dataclass
class Fleet:
    """Rows to insert, and each sensor device's behaviour for the synthetic month."""

    farms: list[dict[str, Any]] = field(default_factory=list)
    sites: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    gateways: list[dict[str, Any]] = field(default_factory=list)
    place: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    """device id -> (type, site, farm, county) of every sensor device."""

    @property
    def size(self) -> int:
        """Sensor devices (gateways not counted)."""
        return len(self.devices)


def _site(fleet: Fleet, farm: str, sid: str, kind: str, *, area: float | None = None,
          heads: int | None = None, high_standard: bool = False) -> str:
    fleet.sites.append({"id": sid, "farm_id": farm, "kind": kind, "name": sid, "area_mu": area,
                        "head_count": heads,
                        "attributes": {"high_standard": True} if high_standard else {}})
    return sid


def build_fleet(devices: int, seed: int) -> Fleet:
    """At least ``devices`` sensor devices on farms of four kinds, trimmed to ``devices``."""
    rng = np.random.default_rng(seed)
    fleet = Fleet()
    month_start = MONTH_PERIOD.start_ms
    n_farm = 0
    while fleet.size < devices:
        county = COUNTIES[n_farm % len(COUNTIES)]
        farm = f"{county[:3]}-{n_farm:05d}"
        town = None if rng.random() < 0.05 else f"{county}-t{rng.integers(1, TOWNSHIPS_PER_COUNTY + 1):02d}"
        fleet.farms.append({"id": farm, "name": farm, "county_id": county, "township": town})
        kind = rng.choice(["crop", "greenhouse", "livestock", "mixed"], p=[0.35, 0.2, 0.15, 0.3])
        planned: list[tuple[str, str, dict[str, Any], bool]] = []  # type, site, attrs, gateway?
        if kind in ("crop", "mixed"):
            well = _site(fleet, farm, f"{farm}-w1", "water_source")
            n_fields = 3 if kind == "mixed" else int(rng.integers(2, 7))
            metered = kind == "mixed" or rng.random() < 0.6
            if metered:
                planned.append(("flow_meter", well, {"role": "source"}, False))
            for i in range(n_fields):
                f = _site(fleet, farm, f"{farm}-f{i + 1}", "field", area=float(rng.integers(30, 500)),
                          high_standard=bool(rng.random() < 0.25))
                planned += [("soil_moisture", f, {"depth_cm": d}, False)
                            for d in (20, 40, 60)[: (3 if kind == "mixed" else int(rng.integers(1, 4)))]]
                if metered and (kind == "crop" or i < 2):
                    planned.append(("flow_meter", f, {"role": "field", "source_site_id": well}, False))
            if kind == "mixed" or rng.random() < 0.5:
                planned.append(("weather_station", f"{farm}-f1", {"wind_height_m": 10}, False))
        if kind in ("greenhouse", "mixed"):
            for i in range(2 if kind == "mixed" else int(rng.integers(3, 13))):
                g = _site(fleet, farm, f"{farm}-g{i + 1}", "greenhouse", area=float(rng.uniform(1, 4)))
                nodes = 2 if kind == "mixed" else int(rng.integers(1, 3))
                planned += [("greenhouse_climate", g, {}, False)] * nodes
        if kind in ("livestock", "mixed"):
            for i in range(1 if kind == "mixed" else int(rng.integers(1, 4))):
                heads = 200 if kind == "mixed" else int(rng.integers(50, 800))
                b = _site(fleet, farm, f"{farm}-b{i + 1}", "barn", heads=heads)
                sensors = 2 if kind == "mixed" else int(rng.integers(1, 3))
                planned += [("barn_climate", b, {}, True)] * sensors
                collars = 6 if kind == "mixed" else min(20, int(heads * rng.uniform(0.02, 0.06)))
                planned += [("livestock_collar", b, {}, True)] * collars
        planned = planned[: devices - fleet.size]
        gateway = f"gw-{farm}"
        if any(g for *_, g in planned):
            fleet.gateways.append(_device_row(gateway, "gateway", f"{farm}-b1", {}, None,
                                              INSTALLED_BEFORE, None))
        for i, (dtype, site, attrs, behind) in enumerate(planned):
            did = f"{dtype[:2]}-{farm}-{i:03d}"
            created, revoked = INSTALLED_BEFORE, None
            u = rng.random()
            if u < 0.02:  # installed during the month
                created = _dt(month_start + int(rng.integers(0, 30 * DAY_MS)))
            elif u < 0.0225:  # revoked during the month
                revoked = _dt(month_start + int(rng.integers(0, 30 * DAY_MS)))
            elif u < 0.025:  # revoked before it: left out
                revoked = _dt(month_start - int(rng.integers(1, 60)) * DAY_MS)
            fleet.devices.append(_device_row(did, dtype, site, attrs, gateway if behind else None,
                                             created, revoked))
            fleet.place[did] = (dtype, site, farm, county)
        n_farm += 1
    return fleet


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _device_row(did: str, dtype: str, site: str, attrs: dict[str, Any], gateway: str | None,
                created: datetime, revoked: datetime | None) -> dict[str, Any]:
    return {"id": did, "type": dtype, "site_id": site, "gateway_id": gateway, "attributes": attrs,
            "mqtt_username": did, "password_hash": "bench-no-login", "created_at": created,
            "revoked_at": revoked}


def register(meta: Metadata, fleet: Fleet) -> None:
    """Bulk-insert farms, sites, gateways and devices."""
    bulk_register(meta, fleet.farms, fleet.sites, fleet.gateways + fleet.devices)


# --- synthetic hourly counts and counters --------------------------------------------------------


@dataclass
class Behaviour:
    """Per device (rows of ``ids``): reports per full hour and when it reports [UTC ms]."""

    ids: list[str]
    per_hour: np.ndarray  # reports per hour when healthy
    kind: np.ndarray  # 0 healthy, 1 flaky, 2 dies at ``dies_ms``, 3 silent
    live_from: np.ndarray  # created [UTC ms]
    live_to: np.ndarray  # revoked or died [UTC ms]


def behaviours(fleet: Fleet, seed: int) -> dict[str, Behaviour]:
    """Each counted quantity's devices (sorted ids, as the cache keeps them) and behaviour."""
    rng = np.random.default_rng(seed + 1)
    by_q: dict[str, list[dict[str, Any]]] = {}
    for row in fleet.devices:
        by_q.setdefault(QUANTITY_OF[row["type"]], []).append(row)
    out = {}
    for q, rows in sorted(by_q.items()):
        rows.sort(key=lambda r: r["id"])
        n = len(rows)
        kind = rng.choice(4, size=n, p=[0.88, 0.06, 0.03, 0.03])
        created = np.array([int(r["created_at"].timestamp() * 1000) for r in rows], np.int64)
        revoked = np.array([int(r["revoked_at"].timestamp() * 1000) if r["revoked_at"] else 2**62
                            for r in rows], np.int64)
        dies = MONTH_PERIOD.start_ms + rng.integers(0, 30 * DAY_MS, size=n)
        live_to = np.where(kind == 2, np.minimum(revoked, dies), revoked)
        per_hour = np.array([3600 // DEVICE_TYPES[r["type"]].report_interval_s for r in rows], np.int64)
        out[q] = Behaviour([r["id"] for r in rows], per_hour, kind, created, live_to)
    return out


def day_counts(b: Behaviour, day_start_ms: int, rng: np.random.Generator) -> np.ndarray:
    """Readings per device and hour of one day [n, 24] (int64)."""
    hour_start = day_start_ms + HOUR_MS * np.arange(24)
    alive = (hour_start[None, :] >= b.live_from[:, None]) & (hour_start[None, :] < b.live_to[:, None])
    full = np.broadcast_to(b.per_hour[:, None], alive.shape)
    u = rng.random(alive.shape)
    drop = np.where(b.kind[:, None] == 1, u < 0.3, u < 0.004)
    short = rng.integers(0, np.maximum(full, 1))
    counts = np.where(drop, short, full)
    counts = np.where(alive & (b.kind[:, None] != 3), counts, 0)
    return counts.astype(np.int64)


@dataclass
class Meters:
    """Flow meter counters: per meter (rows of the volume_m3 behaviour) its volume per day."""

    start_m3: np.ndarray
    daily_m3: np.ndarray  # [n, days] from CACHE_FIRST


def meter_volumes(fleet: Fleet, b: Behaviour, n_days: int, seed: int) -> Meters:
    """Irrigation every 4th day: a source pumps 200-2000 m³; its field meters share η of it."""
    rng = np.random.default_rng(seed + 2)
    rows = {r["id"]: r for r in fleet.devices}
    group_of = []
    for did in b.ids:
        a = rows[did]["attributes"]
        group_of.append(rows[did]["site_id"] if a.get("role") == "source" else a.get("source_site_id"))
    groups = sorted({g for g in group_of if g})
    gi = {g: i for i, g in enumerate(groups)}
    pumped = rng.uniform(200, 2000, size=(len(groups), n_days)) * (np.arange(n_days) % 4 == 0)
    eta = rng.uniform(0.5, 0.65, size=len(groups))
    n_fields = np.bincount([gi[g] for did, g in zip(b.ids, group_of, strict=True)
                            if g and rows[did]["attributes"].get("role") == "field"],
                           minlength=len(groups))
    daily = np.zeros((len(b.ids), n_days))
    for i, (did, g) in enumerate(zip(b.ids, group_of, strict=True)):
        if not g:
            continue
        if rows[did]["attributes"].get("role") == "source":
            daily[i] = pumped[gi[g]]
        else:
            daily[i] = pumped[gi[g]] * eta[gi[g]] / max(n_fields[gi[g]], 1)
    return Meters(rng.uniform(0, 5e4, size=len(b.ids)).round(1), daily.round(3))


def counter_rows(counts: np.ndarray, day_start_ms: int, before_m3: np.ndarray,
                 day_m3: np.ndarray) -> np.ndarray:
    """``COUNTER_FIELDS`` of one day from its hourly counts; the day's volume flows between its
    first and last reading (so every step is within the day)."""
    n = counts.sum(axis=1)
    has = counts > 0
    first_h = np.where(has.any(axis=1), has.argmax(axis=1), 0)
    last_h = 23 - np.where(has.any(axis=1), has[:, ::-1].argmax(axis=1), 0)
    out = np.zeros((counts.shape[0], len(COUNTER_FIELDS)))
    out[:, N_READINGS] = n
    out[:, FIRST_TS] = day_start_ms + first_h * HOUR_MS + MINUTE_MS
    out[:, LAST_TS] = day_start_ms + last_h * HOUR_MS + 50 * MINUTE_MS
    two = n >= 2
    out[:, FIRST_V] = before_m3
    out[:, LAST_V] = np.where(two, before_m3 + day_m3, before_m3)
    out[:, STEPS] = np.where(two, day_m3, 0.0)
    out[:, DECREASES] = 0
    out[n == 0] = 0
    return out


@dataclass
class Filled:
    """What ``fill_cache`` wrote, and the behaviour it wrote it from."""

    cache_rows: int
    cache_days: int
    cached_readings: int
    today_rows: list[dict[str, Any]]
    beh: dict[str, Behaviour]
    meters: Meters | None


def fill_cache(meta: Metadata, fleet: Fleet, seed: int) -> Filled:
    """Rows of ``indicator_hourly_counts`` for CACHE_FIRST .. TODAY (today: its first hour)."""
    rng = np.random.default_rng(seed + 3)
    beh = behaviours(fleet, seed)
    days = [CACHE_FIRST + timedelta(days=i) for i in range((TODAY - CACHE_FIRST).days + 1)]
    meters = meter_volumes(fleet, beh["volume_m3"], len(days), seed) if "volume_m3" in beh else None
    rows = 0
    cached_readings = 0
    ids_text = {q: "\n".join(b.ids) for q, b in beh.items()}
    with meta.engine.begin() as conn:
        for j, day in enumerate(days):
            start = cst_midnight_ms(day)
            hours = CACHED_TODAY_HOURS if day == TODAY else 24
            values: list[dict[str, Any]] = []
            for q, b in beh.items():
                counts = day_counts(b, start, rng)
                counts[:, hours:] = 0
                counter = None
                if q == "volume_m3" and meters is not None:
                    before = meters.start_m3 + meters.daily_m3[:, :j].sum(axis=1)
                    vol = meters.daily_m3[:, j] if hours == 24 else np.zeros(len(b.ids))
                    counter = counter_rows(counts, start, before, vol)
                cached_readings += int(counts.sum())
                values.append({  # as the refresh writes it: every registered device, sorted
                    "day": day, "quantity": q, "hours": hours, "final": hours == 24,
                    "n_devices": len(b.ids), "device_ids": ids_text[q],
                    "list_key": list_key(ids_text[q]),
                    "counts": zlib.compress(np.minimum(counts, 255).astype(np.uint8).tobytes(), 1),
                    "counters": None if counter is None else zlib.compress(
                        np.ascontiguousarray(counter, "<f8").tobytes(), 1),
                    "updated_at": datetime.now(UTC)})
            conn.execute(insert(HourlyCountDay), values)
            rows += len(values)
        today_rows = [v for v in values if v["day"] == TODAY]  # the last day filled: today
    return Filled(rows, len(days), cached_readings, today_rows, beh, meters)


def tail_readings(fleet: Fleet, beh: dict[str, Behaviour], meters: Meters | None) -> Iterator[Reading]:
    """Readings of the counted quantities from 01:00 CST today up to now (not cached)."""
    start = cst_midnight_ms(TODAY) + CACHED_TODAY_HOURS * HOUR_MS
    for q, b in beh.items():
        for i, did in enumerate(b.ids):
            if b.kind[i] == 3 or not b.live_from[i] <= start < b.live_to[i]:
                continue
            dtype, site, farm, county = fleet.place[did]
            step = DEVICE_TYPES[dtype].report_interval_s * 1000
            value = 20.0
            if q == "volume_m3" and meters is not None:
                value = float(meters.start_m3[i] + meters.daily_m3[i].sum())
            for ts in range(start + 30_000 + (i % 7) * 1000, NOW_MS, step):
                yield Reading(device_id=did, quantity=q, value=value, ts_ms=ts, seq=0, quality=0,
                              device_type=dtype, site_id=site, farm_id=farm, county=county)


# --- timing --------------------------------------------------------------------------------------


def _time_evaluate(meta: Metadata, store: TelemetryStore, period: Period, repeats: int,
                   config: IndicatorConfig | None = None) -> tuple[list[float], Any]:
    config = config or IndicatorConfig()
    out: list[float] = []
    ev = None
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        with meta.sessions() as s:
            ev = evaluate(s, store, period=period, now_ms=NOW_MS, config=config)
        out.append(1000 * (time.perf_counter() - t))
    return out, ev


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def open_bench_store(backend: str, store_url: str | None, influx_url: str | None, tmp: Path,
                     database: str = "bench_indicators") -> Iterator[tuple[TelemetryStore, str]]:
    """The store to use and its URL; starts its own influxd when no InfluxDB is given."""
    server: InfluxServer | None = None
    if backend == "sqlite":
        url = store_url if store_url and store_url.startswith("sqlite:") else \
            f"sqlite:///{tmp / (database + '.db')}"
    elif backend == "influxdb":
        if store_url and store_url.startswith("influxdb"):
            url = store_url
        elif influx_url:
            url = "influxdb://" + influx_url.split("://", 1)[-1].rstrip("/") + "/" + database
        else:
            server = InfluxServer(max_values_per_tag=0).start()
            url = f"influxdb://127.0.0.1:{server.port}/{database}"
    else:
        raise ValueError(f"unknown backend {backend!r} (sqlite or influxdb)")
    store = open_store(url)
    try:
        if isinstance(store, InfluxTelemetryStore):
            store.create_database()
        yield store, url
    finally:
        store.close()
        if server is not None:
            server.stop()


@dataclass
class Setup:
    """A metadata DB with the registry and the filled cache, shared by the backends."""

    meta: Metadata
    fleet: Fleet
    beh: dict[str, Behaviour]
    meters: Meters | None
    figures: dict[str, float]
    today_rows: list[dict[str, Any]]


def build_setup(tmp: Path, devices: int, seed: int) -> Setup:
    """Registry and hourly-count cache in a fresh metadata DB under ``tmp``."""
    t0 = time.perf_counter()
    meta = open_metadata(Settings(data_dir=tmp / "data", admin_token="ft_bench_indicators",
                                  database_url=f"sqlite:///{tmp / 'data' / 'meta.db'}"))
    fleet = build_fleet(devices, seed)
    register(meta, fleet)
    t1 = time.perf_counter()
    filled = fill_cache(meta, fleet, seed)
    t2 = time.perf_counter()
    figures = {"devices": float(fleet.size), "gateways": float(len(fleet.gateways)),
               "farms": float(len(fleet.farms)), "sites": float(len(fleet.sites)),
               "flow_meters": float(sum(1 for d in fleet.devices if d["type"] == "flow_meter")),
               "registry_s": round(t1 - t0, 1), "cache_fill_s": round(t2 - t1, 1),
               "cache_rows": float(filled.cache_rows), "cache_days": float(filled.cache_days),
               "cached_readings": float(filled.cached_readings)}
    return Setup(meta, fleet, filled.beh, filled.meters, figures, filled.today_rows)


def bench_backend(setup: Setup, store: TelemetryStore, repeats: int) -> dict[str, float]:
    """Write the uncached tail, time the month and the rolling 30 days, then one refresh."""
    t = time.perf_counter()
    written = write_batched(store, tail_readings(setup.fleet, setup.beh, setup.meters))
    write_s = time.perf_counter() - t
    month_ms, ev = _time_evaluate(setup.meta, store, MONTH_PERIOD, repeats)
    rolling = range_period(NOW_MS - 30 * DAY_MS, NOW_MS)
    rolling_ms, ev_rolling = _time_evaluate(setup.meta, store, rolling, max(1, min(repeats, 2)))
    cached_ms, ev_cached = _time_evaluate(setup.meta, store, rolling, repeats,
                                          IndicatorConfig(until_cached=True))
    t = time.perf_counter()
    report = refresh_hourly_counts(setup.meta.sessions, store, now_ms=NOW_MS,
                                   lookback_days=(TODAY - CACHE_FIRST).days)
    refresh_ms = 1000 * (time.perf_counter() - t)
    with setup.meta.engine.begin() as conn:  # today's rows as filled: the next backend starts alike
        conn.execute(delete(HourlyCountDay).where(HourlyCountDay.day == TODAY))
        conn.execute(insert(HourlyCountDay), setup.today_rows)
    city = {v.key: v.value for v in ev.values if v.scope == "city"}
    return {
        **latency_stats(month_ms), **latency_stats(rolling_ms, "rolling_"),
        **latency_stats(cached_ms, "rolling_until_cached_"),
        "rolling_repeats": float(len(rolling_ms)),
        "rolling_until_cached_store_queries": float(ev_cached.fleet.store_queries),
        "rolling_until_cached_measured_until_ms": float(ev_cached.fleet.period.end_ms),
        "tail_readings": float(written), "tail_write_s": round(write_s, 1),
        "refresh_ms": refresh_ms, "refresh_store_reads": float(report.store_reads),
        "refresh_hours": float(report.hours_read),
        "measured_devices": float(len(ev.fleet.devices)),
        "active_devices": float(sum(c.active for c in ev.fleet.devices.values())),
        "month_store_queries": float(ev.fleet.store_queries),
        "rolling_store_queries": float(ev_rolling.fleet.store_queries),
        "city_completeness_pct": _num(city.get("device_completeness_pct")),
        "city_digitisation_pct": _num(city.get("digitisation_level_pct")),
        "city_irrigation_coefficient": _num(city.get("irrigation_coefficient")),
        "peak_rss_mib": round(_rss_mib(), 1),
    }


def _num(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def baseline(backend: str, store_url: str | None, influx_url: str | None, tmp: Path,
             devices: int, days: int, seed: int) -> dict[str, float]:
    """Old (per site) against new (hourly) counting on ``devices`` devices with every raw reading
    of ``days`` days; identical results checked. Windows of one hour for both (the grid a month
    gets; a shorter period gets it with ``max_windows_per_device`` = hours)."""
    meta = open_metadata(Settings(data_dir=tmp / "base", admin_token="ft_bench_indicators",
                                  database_url=f"sqlite:///{tmp / 'base' / 'meta.db'}"))
    fleet = build_fleet(devices, seed)
    register(meta, fleet)
    beh = behaviours(fleet, seed)
    rng = np.random.default_rng(seed + 4)
    start = MONTH_PERIOD.start_ms + 5 * DAY_MS
    period = range_period(start, start + days * DAY_MS)
    config = IndicatorConfig(max_windows_per_device=24 * days)

    def readings() -> Iterator[Reading]:
        for q, b in beh.items():
            for d in range(days):
                counts = day_counts(b, start + d * DAY_MS, rng)
                for i, h in zip(*np.nonzero(counts), strict=True):
                    did = b.ids[i]
                    dtype, site, farm, county = setup_place[did]
                    step = DEVICE_TYPES[dtype].report_interval_s * 1000
                    t0 = start + d * DAY_MS + int(h) * HOUR_MS + 1000
                    for k in range(int(counts[i, h])):
                        yield Reading(device_id=did, quantity=q, value=20.0 + k, ts_ms=t0 + k * step,
                                      seq=0, quality=0, device_type=dtype, site_id=site,
                                      farm_id=farm, county=county)

    setup_place = fleet.place
    with open_bench_store(backend, None, influx_url if backend == "influxdb" else None, tmp,
                          database="bench_indicators_baseline") as (store, _):
        t = time.perf_counter()
        written = write_batched(store, readings())
        write_s = time.perf_counter() - t
        now = period.end_ms + DAY_MS
        with meta.sessions() as s:
            view = load_registry_view(s)
        t = time.perf_counter()
        old = measure_per_site(store=store, view=view, period=period, now_ms=now, config=config)
        old_ms = 1000 * (time.perf_counter() - t)
        t = time.perf_counter()
        raw = measure_hourly(store=store, view=view, period=period, now_ms=now, config=config)
        raw_ms = 1000 * (time.perf_counter() - t)
        t = time.perf_counter()
        refresh_hourly_counts(meta.sessions, store, now_ms=now, lookback_days=days + 2)
        refresh_ms = 1000 * (time.perf_counter() - t)
        with meta.sessions() as s:
            t = time.perf_counter()
            cached = measure_hourly(store=store, view=view, period=period, now_ms=now,
                                    config=config, session=s)
            cached_ms = 1000 * (time.perf_counter() - t)
    assert raw is not None and cached is not None
    same = old.devices == raw.devices == cached.devices and old.excluded == cached.excluded
    if not same:
        raise AssertionError("per-site and hourly counting disagree")
    meta.engine.dispose()
    return {"baseline_devices": float(fleet.size), "baseline_days": float(days),
            "baseline_readings": float(written), "baseline_write_s": round(write_s, 1),
            "per_site_ms": old_ms, "per_site_queries": float(old.store_queries),
            "hourly_from_store_ms": raw_ms, "hourly_from_store_reads": float(raw.store_queries),
            "refresh_build_ms": refresh_ms, "hourly_cached_ms": cached_ms,
            "identical": 1.0}


# --- entry points ----------------------------------------------------------------------------------


def run_indicator_bench(backend: str, store_url: str | None, influx_url: str | None,
                        devices: int, repeats: int) -> dict[str, float]:
    """Registry of ``devices`` devices, the cache and the store's tail, then ``evaluate`` of the
    month (p50_ms, p99_ms, min_ms, max_ms) and of the rolling 30 days (rolling_*), ``repeats``
    times each, plus setup figures. ``store_url``: the telemetry store (sqlite:/// or
    influxdb://); ``influx_url``: an InfluxDB base URL for ``influxdb`` when ``store_url`` is not
    one; with neither, a temporary store (and influxd) of its own."""
    tmp = Path(tempfile.mkdtemp(prefix="farmtel-bench-indicators-"))
    try:
        setup = build_setup(tmp, devices, seed=1)
        try:
            with open_bench_store(backend, store_url, influx_url, tmp) as (store, _):
                out = {**setup.figures, **bench_backend(setup, store, repeats)}
        except StoreRejected as exc:
            if backend != "influxdb" or "max-values-per-tag" not in str(exc):
                raise
            # the given influxd keeps its default limit of 100,000 device ids: use our own
            print(f"indicator bench: {exc}; running on an influxd of its own", flush=True)
            with open_bench_store(backend, None, None, tmp, database="bench_indicators_own") as (
                    store, _):
                out = {**setup.figures, **bench_backend(setup, store, repeats), "own_influxd": 1.0}
        setup.meta.engine.dispose()
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _table(results: dict[str, dict[str, float]]) -> str:
    rows = [("month 2026-10: p50 / p99 [ms]", "p50_ms", "p99_ms"),
            ("month: min / max [ms]", "min_ms", "max_ms"),
            ("rolling 30 d: p50 / p99 [ms]", "rolling_p50_ms", "rolling_p99_ms"),
            ("rolling: min / max [ms]", "rolling_min_ms", "rolling_max_ms"),
            ("rolling until cached: p50 / p99 [ms]", "rolling_until_cached_p50_ms",
             "rolling_until_cached_p99_ms"),
            ("store reads month / rolling", "month_store_queries", "rolling_store_queries"),
            ("tail readings / write [s]", "tail_readings", "tail_write_s"),
            ("refresh of 1 h [ms] / reads", "refresh_ms", "refresh_store_reads"),
            ("baseline per-site / hourly-store [ms]", "per_site_ms", "hourly_from_store_ms"),
            ("baseline cached [ms] / readings", "hourly_cached_ms", "baseline_readings")]
    names = list(results)
    lines = [f"{'':40s}" + "".join(f"{n:>26s}" for n in names)]
    for label, a, b in rows:
        cells = []
        for n in names:
            r = results[n]
            if a not in r:
                cells.append(f"{'-':>26s}")
                continue
            cells.append(f"{_fmt(r[a]):>12s} / {_fmt(r.get(b, math.nan)):<11s}")
        lines.append(f"{label:40s}" + "".join(cells))
    return "\n".join(lines)


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=200_000, help="registered sensor devices")
    ap.add_argument("--backends", default="sqlite,influxdb", help="comma-separated: sqlite, influxdb")
    ap.add_argument("--repeats", type=int, default=5, help="timed evaluations per period")
    ap.add_argument("--baseline-devices", type=int, default=1_000,
                    help="devices of the per-site vs hourly comparison on raw readings (0: skip)")
    ap.add_argument("--baseline-days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true",
                    help="20,000 devices, 2 repeats, a 300-device baseline: a smoke check")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = ap.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "influxdb"}:
        ap.error(f"unknown backends: {', '.join(sorted(unknown))}")
    if args.quick:
        args.devices, args.repeats, args.baseline_devices = min(args.devices, 20_000), 2, 300
    started = time.monotonic()
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"indicator bench: {args.devices:,} devices, {', '.join(backends)}, {args.repeats} "
          f"repeats; load average at start {' '.join(load)}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="farmtel-bench-indicators-"))
    server: InfluxServer | None = None
    results: dict[str, dict[str, float]] = {}
    try:
        setup = build_setup(tmp, args.devices, args.seed)
        print(f"setup: {setup.figures}", flush=True)
        if "influxdb" in backends:
            server = InfluxServer(max_values_per_tag=0).start()
        influx_url = server.url if server is not None else None
        for backend in backends:
            with open_bench_store(backend, None, influx_url, tmp) as (store, _url):
                r = {**setup.figures, **bench_backend(setup, store, args.repeats)}
            if args.baseline_devices > 0:
                r |= baseline(backend, None, influx_url, tmp / backend, args.baseline_devices,
                              args.baseline_days, args.seed)
            results[backend] = r
            print(f"{backend}: {json.dumps(r)}", flush=True)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started
    print()
    print(_table(results))
    print(f"\n{args.devices:,} devices; month = CST 2026-10 entirely from the hourly-count cache "
          f"(filled directly, not from raw readings); rolling = the 30 days to 2026-11-02 02:30 "
          f"CST, its last 1.5 h read from the store (until cached: not read, measured to 01:00); "
          f"took {elapsed:.0f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"indicators-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"config": {k: str(v) for k, v in vars(args).items()},
                                "load_at_start": load, "elapsed_s": elapsed,
                                "results": results}, indent=1))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
