"""API latency benchmark (issue #8): the main read paths over real HTTP, SQLite and InfluxDB.

    python -m bench.api_latency              # 200,000 devices, both backends (~8 min on 2 cores)
    python -m bench.api_latency --quick      # smoke: 3,000 devices, 30 requests per path
    python -m bench.api_latency --backends sqlite --indicator-repeats 0 --out /tmp/a.json

Everything is real and local. A temporary metadata DB holds a registry of ``--devices`` soil
probes (default 200,000; bulk-inserted, as bench/ingest_throughput.py does): one farm of
``--farm-devices`` probes (default 1,000, on 10 fields) and the rest on farms of 200. Data go
through the store's own ``write()`` (``storage.factory.open_store``) in batches of 5,000
readings: one record (4 quantities) per fleet device, ``--history-days`` of 15-minute records
per device of the farm (each device on its own clock), and one device-year of 15-minute records
(35,040 x 4 quantities) for the farm's first probe. InfluxDB is the tests' ``influxd`` 1.6
without its 100,000-values-per-tag limit (``InfluxServer(max_values_per_tag=0)``). Then
``python -m farmtel.cli api`` (uvicorn, the app of ``farmtel.runtime.build_api``) serves the
store on a free loopback port with ``FARMTEL_*`` settings, and one keep-alive HTTP client
sends, per path, warm-up requests (whose answers are checked) and then ``--requests`` timed
ones in sequence (fewer, at least 20, if a path would take more than ``--budget-s``), with the
bearer token of an agronomist scoped to that farm:

* latest, 1,000 devices: ``GET /api/v1/telemetry/latest?farm_id=`` (every quantity of every
  device of the farm in one call; the route was added for this benchmark);
* device list, 1,000 devices: ``GET /api/v1/devices``, what the devices page calls (last seen,
  online and battery of every device in the agronomist's scope, from the same ``latest()``);
* device-year daily: ``GET /api/v1/telemetry?device_id=&quantity=&start=&end=&every=1d&agg=``,
  365 daily windows of the device-year, cycling over its 4 quantities x mean/min/max (the route
  aggregates one quantity one way per call);
* indicators, registry of ``--indicator-devices``: ``run_indicator_bench`` of
  bench/indicators.py (when it exists) on a fresh store of its own on the same backend and
  server; it times ``evaluate`` in-process, not over HTTP.

Latency is client-side wall time of a whole request (sent to last byte received) [ms]:
p50/p99 (nearest rank), min, max. The CPU time the API process (and influxd) spent per request
is reported too: other load on this shared machine disturbs it less than wall time. Results go
to bench/results/api-<timestamp>.json; a table on stdout. Exit status 1 if a path answered
anything but 200 or a wrong answer. ``--profile DIR`` py-spies the API process during each
path. (``farmtel api`` calls ``gc.freeze()`` once the app is built: without it, full garbage
collections over the start-up heap put 50-100 ms into the tail of every tenth heavy request.)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import importlib.util
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from api.auth import Role, issue_token
from bench._common import (
    RESULTS_DIR,
    ROOT,
    MachineLoad,
    bulk_register,
    cpu_seconds,
    latency_stats,
    py_spy,
    write_batched,
)
from devices.catalogue import DEVICE_TYPES
from devices.credentials import hash_password, new_secret
from devices.registry import SHUOZHOU_COUNTIES
from farmtel.runtime import Metadata, open_metadata
from farmtel.settings import Settings
from storage import clock
from storage.clock import DAY_MS
from storage.factory import open_store
from storage.telemetry import Reading
from tests.servers import FarmtelProcess, InfluxServer, farmtel_env, free_port

ADMIN_TOKEN = "ft_bench_admin"
AGRONOMIST_TOKEN = "ft_bench_agronomist"
SOIL = "soil_moisture"
QUANTITIES: tuple[str, ...] = DEVICE_TYPES[SOIL].quantities  # vwc_pct, soil_temp_c, ec_ds_m, battery_v
AGGS = ("mean", "min", "max")
FARM = "farm-bench"
FARM_SITES = 10
DEVICES_PER_OTHER_FARM = 200
STEP_MS = 900_000  # 15 minutes
YEAR_DAYS = 365
API_PREFIX = "/api/v1"


# --- registry and data -------------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    """Registered soil probes: the measured farm's and the rest of the registry."""

    county: str  # of the measured farm
    farm: list[tuple[str, str]]  # (device_id, site_id) of the measured farm
    others: list[tuple[str, str, str, str]]  # (device_id, site_id, farm_id, county)

    @property
    def size(self) -> int:
        """Registered devices."""
        return len(self.farm) + len(self.others)

    @property
    def year_device(self) -> str:
        """The probe with a year of data (the farm's first)."""
        return self.farm[0][0]


def build_fleet(devices: int, farm_devices: int) -> Fleet:
    """``devices`` probes in all: ``farm_devices`` on the farm's 10 fields, the rest 200 a farm."""
    if farm_devices < 1 or devices < farm_devices:
        raise SystemExit("--devices must be at least --farm-devices (at least 1)")
    counties = [c[0] for c in SHUOZHOU_COUNTIES]
    farm = [(f"sm-bench-{i:05d}", f"{FARM}-field-{i % FARM_SITES:02d}") for i in range(farm_devices)]
    others = []
    for i in range(devices - farm_devices):
        f = i // DEVICES_PER_OTHER_FARM
        others.append((f"sm-{i:06d}", f"farm-{f:04d}-field", f"farm-{f:04d}",
                       counties[f % len(counties)]))
    return Fleet(counties[0], farm, others)


def register_fleet(meta: Metadata, fleet: Fleet) -> None:
    """Bulk-insert farms, sites and devices (one shared password hash)."""
    password_hash = hash_password(new_secret())
    now = datetime.now(UTC)
    farms = {FARM: fleet.county} | {f: c for _, _, f, c in fleet.others}
    sites = {s: FARM for _, s in fleet.farm} | {s: f for _, s, f, _ in fleet.others}
    ids = [(d, s) for d, s in fleet.farm] + [(d, s) for d, s, _, _ in fleet.others]
    bulk_register(
        meta,
        [{"id": f, "name": f, "county_id": c, "township": None} for f, c in farms.items()],
        [{"id": s, "farm_id": f, "kind": "field", "name": s, "area_mu": 100.0, "crop": "maize",
          "attributes": {}} for s, f in sites.items()],
        [{"id": d, "type": SOIL, "site_id": s, "gateway_id": None,
          "attributes": {"depth_cm": 20}, "mqtt_username": d, "password_hash": password_hash,
          "created_at": now, "revoked_at": None} for d, s in ids])


def soil_values(device: int, ts_ms: int) -> tuple[float, ...]:
    """A soil probe's 4 readings at ``ts_ms``: smooth seasonal and daily cycles, per-device
    offset (vwc_pct [%], soil_temp_c [°C], ec_ds_m [dS/m], battery_v [V])."""
    season = 2 * math.pi * (ts_ms % (YEAR_DAYS * DAY_MS)) / (YEAR_DAYS * DAY_MS)
    day = 2 * math.pi * (ts_ms % DAY_MS) / DAY_MS
    off = (device % 17) / 4
    return (round(24 + off + 6 * math.sin(season) + 1.5 * math.sin(day), 2),
            round(11 + 12 * math.sin(season - 1.9) + 3 * math.sin(day - 2.0), 2),
            round(0.9 + 0.05 * off + 0.2 * math.sin(season), 3),
            round(3.95 - 0.25 * (ts_ms % (YEAR_DAYS * DAY_MS)) / (YEAR_DAYS * DAY_MS), 3))


def fleet_readings(fleet: Fleet, now_ms: int, history_days: float,
                   year_days: int = YEAR_DAYS) -> Iterator[Reading]:
    """Every reading to store, the device-year first; see the module docstring."""
    day_end = now_ms - now_ms % DAY_MS
    for i, (did, site) in enumerate(fleet.farm):
        first = day_end - year_days * DAY_MS if i == 0 else now_ms - int(history_days * DAY_MS)
        first += -first % STEP_MS + (i * 7_919) % STEP_MS  # devices keep their own clocks
        for k, ts in enumerate(range(first, now_ms, STEP_MS)):
            for q, v in zip(QUANTITIES, soil_values(i, ts), strict=True):
                yield Reading(did, q, v, ts, k, 0, SOIL, site, FARM, fleet.county)
    for j, (did, site, farm, county) in enumerate(fleet.others):
        ts = now_ms - (j * 7_919) % STEP_MS  # within the last report interval
        for q, v in zip(QUANTITIES, soil_values(j, ts), strict=True):
            yield Reading(did, q, v, ts, 1, 0, SOIL, site, farm, county)


def fill_store(url: str, readings: Iterator[Reading]) -> dict[str, float]:
    """Write ``readings`` through the store's ``write()`` in batches of 5,000."""
    store = open_store(url)
    started = time.monotonic()
    try:
        n = write_batched(store, readings)
    finally:
        store.close()
    seconds = time.monotonic() - started
    return {"readings": n, "seconds": round(seconds, 1), "readings_s": round(n / seconds)}


# --- the API process ---------------------------------------------------------------------------


class ApiProcess(FarmtelProcess):
    """``python -m farmtel.cli api`` on a free port with the given store; output to a log."""

    command = "api"

    def __init__(self, data_dir: Path, store_url: str, log_path: Path) -> None:
        self.port = free_port()
        super().__init__(farmtel_env(data_dir=data_dir, admin_token=ADMIN_TOKEN,
                                     store_url=store_url, api_host="127.0.0.1",
                                     api_port=str(self.port)), ROOT, log_path)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8123``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        """Start it and wait until ``/api/v1/health`` answers 200."""
        proc = self._spawn()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                if httpx.get(self.url + API_PREFIX + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop(timeout_s=10)
        raise RuntimeError(f"the API did not start:\n{self.log_path.read_text()[-3000:]}")


# --- measuring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadPath:
    """One measured read path: requests to cycle through and a check of an answer's JSON."""

    name: str
    route: str
    requests: list[tuple[str, dict[str, str]]]  # (path, query parameters)
    check: Callable[[Any], str | None]  # an error message, or None when the answer is right


def read_paths(fleet: Fleet, now_ms: int, year_days: int = YEAR_DAYS) -> list[ReadPath]:
    """The measured API paths (the indicator row is measured by bench/indicators.py)."""
    n = len(fleet.farm)
    day_end = now_ms - now_ms % DAY_MS
    start = datetime.fromtimestamp((day_end - year_days * DAY_MS) / 1000, UTC).isoformat()
    end = datetime.fromtimestamp(day_end / 1000, UTC).isoformat()
    year = [(f"{API_PREFIX}/telemetry",
             {"device_id": fleet.year_device, "quantity": q, "start": start, "end": end,
              "every": "1d", "agg": a}) for q in QUANTITIES for a in AGGS]

    def latest_ok(body: Any) -> str | None:
        if len(body) != n:
            return f"{len(body)} devices, expected {n}"
        short = sum(len(d["values"]) != len(QUANTITIES) for d in body)
        return f"{short} devices without all {len(QUANTITIES)} values" if short else None

    def devices_ok(body: Any) -> str | None:
        if len(body) != n:
            return f"{len(body)} devices, expected {n}"
        missing = sum(d["last_seen"] is None or d["battery_v"] is None for d in body)
        return f"{missing} devices without last_seen or battery" if missing else None

    def year_ok(body: Any) -> str | None:
        points = len(body["points"])
        return None if points == year_days else f"{points} daily points, expected {year_days}"

    return [
        ReadPath(f"latest, {n:,} devices", "GET /telemetry/latest?farm_id=",
                 [(f"{API_PREFIX}/telemetry/latest", {"farm_id": FARM})], latest_ok),
        ReadPath(f"device list, {n:,} devices", "GET /devices (agronomist of the farm)",
                 [(f"{API_PREFIX}/devices", {})], devices_ok),
        ReadPath("device-year, daily agg.", "GET /telemetry?device_id=&every=1d&agg=", year,
                 year_ok),
    ]


def measure(client: httpx.Client, path: ReadPath, *, warmup: int, n: int, budget_s: float,
            pids: dict[str, int]) -> dict[str, Any]:
    """``warmup`` checked requests, then ``n`` timed ones, fewer if they would take more than
    ``budget_s`` [s] (at least 20); latency [ms], server CPU [ms/request]."""
    errors: list[str] = []
    size = items = 0
    for i in range(max(warmup, 1)):
        url, params = path.requests[i % len(path.requests)]
        response = client.get(url, params=params)
        size = len(response.content)
        if response.status_code != 200:
            errors.append(f"{url} {params}: HTTP {response.status_code} {response.text[:300]}")
            continue
        body = response.json()
        items = len(body) if isinstance(body, list) else len(body["points"])
        if (error := path.check(body)) is not None:
            errors.append(f"{url} {params}: {error}")
    cpu0 = {k: cpu_seconds(pid) for k, pid in pids.items()}
    latencies: list[float] = []
    bad = 0
    get, clock = client.get, time.perf_counter
    deadline = clock() + budget_s
    for i in range(n):
        if i >= 20 and clock() > deadline:
            break
        url, params = path.requests[i % len(path.requests)]
        t0 = clock()
        response = get(url, params=params)
        latencies.append((clock() - t0) * 1000)
        bad += response.status_code != 200
    n = len(latencies)
    cpu = {f"{k}_cpu_ms_per_request": round((cpu_seconds(pid) - cpu0[k]) / n * 1000, 2)
           for k, pid in pids.items()}
    if bad:
        errors.append(f"{bad} of {n} timed requests did not answer 200")
    return {"route": path.route, "n": n, "warmup": warmup, **latency_stats(latencies),
            "mean_ms": sum(latencies) / n, "response_bytes": size, "answer_items": items, **cpu,
            "errors": errors}


def profiled(profile_dir: Path | None, pid: int, name: str) -> contextlib.AbstractContextManager[None]:
    """With ``--profile DIR``: py-spy samples the API process meanwhile (collapsed stacks)."""
    return py_spy(pid, profile_dir / f"{name}.txt" if profile_dir is not None else None)


INDICATOR_MODULE = "bench.indicators"


def indicator_row(backend: str, store_url: str, influx_url: str | None, devices: int,
                  repeats: int) -> dict[str, Any]:
    """``run_indicator_bench`` of bench/indicators.py if it exists, else why not."""
    if importlib.util.find_spec(INDICATOR_MODULE) is None:
        return {"missing": "bench/indicators.py is not there (yet)"}
    module = importlib.import_module(INDICATOR_MODULE)
    run: Callable[..., dict[str, float]] = module.run_indicator_bench
    try:
        result = run(backend=backend, store_url=store_url, influx_url=influx_url,
                     devices=devices, repeats=repeats)
    except Exception as exc:  # one broken row must not lose the others
        return {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    return {"n": repeats, "devices": devices, **dict(result)}


# --- the run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What to run (the command-line options, see ``main``)."""

    backends: tuple[str, ...] = ("sqlite", "influxdb")
    devices: int = 200_000
    farm_devices: int = 1_000
    history_days: float = 1.0
    year_days: int = YEAR_DAYS
    requests: int = 200
    warmup: int = 12
    budget_s: float = 30.0
    indicator_devices: int = 200_000
    indicator_repeats: int = 3
    profile: Path | None = None


def run_bench(opts: Options, tmp: Path, influx: InfluxServer | None,
              influx_db: str = "bench_api") -> dict[str, Any]:
    """Registry in ``tmp``, then per backend a fresh store (InfluxDB: database ``influx_db`` on
    ``influx``), filled, served and measured; {backend: {"fill": ..., "paths": {name: row}}}.

    A backend that fails is recorded as ``{"error": ..., "paths": {}}``, the others still run.
    """
    fleet = build_fleet(opts.devices, opts.farm_devices)
    now_ms = clock.now_ms()
    now_ms -= now_ms % STEP_MS
    settings = Settings(_env_file=None, data_dir=tmp / "data",  # type: ignore[call-arg]
                        admin_token=ADMIN_TOKEN)
    meta = open_metadata(settings)
    t = time.monotonic()
    register_fleet(meta, fleet)
    with meta.sessions() as session, session.begin():
        issue_token(session, name="bench agronomist", role=Role.AGRONOMIST,
                    scope={"farms": [FARM]}, token=AGRONOMIST_TOKEN)
    meta.engine.dispose()
    print(f"registry: {fleet.size:,} devices bulk-inserted in {time.monotonic() - t:.1f} s",
          flush=True)
    results: dict[str, Any] = {}
    for backend in opts.backends:
        if backend == "sqlite":
            url = f"sqlite:///{tmp / 'telemetry.db'}"
            ind_url, influx_url = f"sqlite:///{tmp / 'indicators.db'}", None
        elif influx is None:
            raise ValueError("the influxdb backend needs an InfluxDB server")
        else:
            url = f"influxdb://127.0.0.1:{influx.port}/{influx_db}"
            ind_url = f"influxdb://127.0.0.1:{influx.port}/{influx_db}_indicators"
            influx_url = influx.url
        try:
            results[backend] = run_backend(backend, url, opts, tmp, fleet, now_ms, influx)
        except Exception as exc:  # keep the other backend's figures
            print(f"{backend}: FAILED: {exc!r}", flush=True)
            results[backend] = {"error": repr(exc)[:2000], "paths": {}}
        finally:  # no compactions of this data while the indicator row runs
            if backend == "influxdb" and influx is not None:
                influx.drop_database(influx_db)
        if opts.indicator_repeats > 0:
            name = f"indicators, {opts.indicator_devices:,} devices"
            results[backend]["paths"][name] = row = indicator_row(
                backend, ind_url, influx_url, opts.indicator_devices, opts.indicator_repeats)
            print(f"{backend}: {name}: " + ", ".join(
                f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                if k in ("p50_ms", "p99_ms", "min_ms", "max_ms", "missing", "error")), flush=True)
    return results


def run_backend(backend: str, url: str, opts: Options, tmp: Path, fleet: Fleet, now_ms: int,
                influx: InfluxServer | None) -> dict[str, Any]:
    """Fill a fresh store at ``url``, serve it, measure every API path."""
    fill = fill_store(url, fleet_readings(fleet, now_ms, opts.history_days, opts.year_days))
    print(f"{backend}: {fill['readings']:,} readings written in {fill['seconds']} s "
          f"({fill['readings_s']:,}/s)", flush=True)
    api = ApiProcess(tmp / "data", url, tmp / f"api-{backend}.log")
    api.start()
    pids = {"api": api.pid}
    if backend == "influxdb" and influx is not None and influx._proc is not None:
        pids["influxd"] = influx._proc.pid
    rows: dict[str, Any] = {}
    try:
        headers = {"Authorization": f"Bearer {AGRONOMIST_TOKEN}"}
        with httpx.Client(base_url=api.url, headers=headers, timeout=120) as client:
            for i, path in enumerate(read_paths(fleet, now_ms, opts.year_days)):
                with profiled(opts.profile, api.pid, f"{backend}-{i}"):
                    rows[path.name] = r = measure(client, path, warmup=opts.warmup,
                                                  n=opts.requests, budget_s=opts.budget_s,
                                                  pids=pids)
                print(f"{backend}: {path.name}: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
                      f" (n {r['n']})" + (f"  ERRORS: {r['errors']}" if r["errors"] else ""),
                      flush=True)
    finally:
        api.stop(timeout_s=10)
    return {"fill": fill, "paths": rows}


TARGETS_MS = {"latest": 100.0, "device-year": 200.0}  # p99 targets of issue #8


def table(results: dict[str, Any]) -> str:
    """backend, path, p50, p99, min, max [ms], n, server CPU per request [ms]."""
    head = (f"{'backend':9}{'path':30}{'p50 ms':>9}{'p99 ms':>9}{'min':>9}{'max':>9}{'n':>6}"
            f"{'api CPU/req':>13}  target")
    lines = [head]
    for backend, result in results.items():
        if "error" in result:
            lines.append(f"{backend:9}FAILED: {result['error'][:200]}")
        for name, r in result["paths"].items():
            if "p99_ms" not in r:
                lines.append(f"{backend:9}{name:30}  {r.get('missing') or r.get('error')}")
                continue
            target = next((t for k, t in TARGETS_MS.items() if name.startswith(k)), None)
            verdict = "" if target is None else (
                f"p99 <= {target:.0f}: {'met' if r['p99_ms'] <= target else 'MISSED'}")
            cpu = r.get("api_cpu_ms_per_request")
            lines.append(f"{backend:9}{name:30}{r['p50_ms']:9.1f}{r['p99_ms']:9.1f}"
                         f"{r['min_ms']:9.1f}{r['max_ms']:9.1f}{int(r.get('n', 0)):6d}"
                         f"{'' if cpu is None else f'{cpu:.1f}':>13}  {verdict}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--backends", default="sqlite,influxdb",
                    help="comma-separated: sqlite, influxdb")
    ap.add_argument("--devices", type=int, default=200_000, help="registered devices")
    ap.add_argument("--farm-devices", type=int, default=1_000,
                    help="devices of the farm whose latest values are read")
    ap.add_argument("--history-days", type=float, default=1.0,
                    help="15-minute history of each farm device [days]")
    ap.add_argument("--requests", type=int, default=None,
                    help="timed requests per path (default 200, 30 with --quick)")
    ap.add_argument("--warmup", type=int, default=12, help="checked, untimed requests per path")
    ap.add_argument("--budget-s", type=float, default=30.0,
                    help="at most this long per path [s]: slow paths get fewer requests (>= 20)")
    ap.add_argument("--indicator-devices", type=int, default=None,
                    help="registry size for the indicator row (default: --devices)")
    ap.add_argument("--indicator-repeats", type=int, default=None,
                    help="timed evaluations per period of the indicator row (default 3, 2 with "
                         "--quick; about 10 s each at 200,000 devices here; 0: no indicator row)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke: at most 3,000 devices, 30 requests per path, 2 indicator "
                         "repeats (unless given)")
    ap.add_argument("--profile", type=Path, default=None, metavar="DIR",
                    help="py-spy the API process during each path into DIR (collapsed stacks; "
                         "skews the figures a little)")
    ap.add_argument("--out", type=Path, default=None,
                    help="result JSON (default bench/results/api-<timestamp>.json)")
    args = ap.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "influxdb"}:
        ap.error(f"unknown backends: {', '.join(sorted(unknown))}")
    if args.quick:
        args.devices = min(args.devices, 3_000)
    args.requests = args.requests or (30 if args.quick else 200)
    if args.indicator_repeats is None:
        args.indicator_repeats = 2 if args.quick else 3

    opts = Options(
        backends=tuple(backends), devices=args.devices, farm_devices=args.farm_devices,
        history_days=args.history_days, requests=args.requests, warmup=args.warmup,
        budget_s=args.budget_s, indicator_devices=args.indicator_devices or args.devices,
        indicator_repeats=args.indicator_repeats, profile=args.profile)
    machine = MachineLoad()
    print(f"api bench: {', '.join(backends)}; {opts.devices:,} registered devices, the farm's "
          f"{opts.farm_devices:,} with {opts.history_days:g} day(s) of 15-min history, one with "
          f"a year; {opts.requests} timed requests per path (at most {opts.budget_s:g} s) after "
          f"{opts.warmup} warm-up; load average at start {' '.join(machine.load_average)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="farmtel-bench-api-") as tmp_name:
        tmp = Path(tmp_name)
        influx = (InfluxServer(tmp / "influxd", max_values_per_tag=0)
                  if "influxdb" in backends else None)
        try:
            if influx is not None:
                (tmp / "influxd").mkdir()
                influx.start()
            results = run_bench(opts, tmp, influx)
        finally:
            if influx is not None:
                influx.stop()
    report = {
        **machine.report(),
        "config": {**{k: v for k, v in dataclasses.asdict(opts).items() if k != "profile"},
                   "server": "python -m farmtel.cli api (uvicorn, 1 process)",
                   "client": "httpx, one keep-alive connection, sequential requests"},
        "targets_p99_ms": TARGETS_MS,
        "results": results,
    }
    out = args.out or RESULTS_DIR / f"api-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print()
    print(table(results))
    print(f"\n{machine.footer()}; results in {out}")
    failed = any("error" in result or any(r.get("errors") or "error" in r
                                          for r in result["paths"].values())
                 for result in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
