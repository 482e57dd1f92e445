"""Rollup benchmark (issue #13): a 3-year device query (daily means) from raw vs from rollups.

    python -m bench.rollups                        # SQLite and InfluxDB, 3 years, 20 repeats
    python -m bench.rollups --backends sqlite --years 5 --repeats 50

Per backend, in a temporary directory (its own ``influxd`` for InfluxDB): one device's
15-minute readings for ``--years`` years up to yesterday (35,040 a year), written through the
store's ``write()`` in ingest-sized batches. The daily-mean query over the whole range
(``RangeQuery(every_s=86400, agg=mean)``) is timed ``--repeats`` times on raw data, then the
store's ``maintain()`` runs once (timed: the catch-up of every hour and day; raw readings older
than the 400-day retention are deleted), and the same query is timed again, now answered from
the daily rollups (plus hourly rollups and raw for partial days). Both answers are checked to
agree (means within 1e-9 relative). p50/p99 by nearest rank and the minimum [ms]; the machine
is shared, so wall times include other agents' load (the minimum shows the least disturbed
run).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._common import latency_stats, write_batched
from storage.clock import DAY_MS, MINUTE_MS, now_ms
from storage.factory import open_store
from storage.telemetry import Aggregation, RangeQuery, Reading, SeriesPoint, TelemetryStore
from tests.servers import InfluxServer

QUARTER_HOUR_MS = 15 * MINUTE_MS


def readings(device: str, start_ms: int, days: int) -> Iterator[Reading]:
    """One reading every 15 minutes for ``days`` days from ``start_ms``."""
    for k in range(days * 96):
        yield Reading(device, "vwc_pct", 15.0 + (k * 7919 % 1000) / 100, start_ms + k * QUARTER_HOUR_MS,
                      site_id="field-1", farm_id="farm-a", county="Shuozhou", device_type="soil_moisture")


@contextmanager
def bench_store(backend: str, tmp: Path) -> Iterator[TelemetryStore]:
    """A fresh store of ``backend`` (sqlite or influxdb), closed (and its influxd stopped)."""
    server: InfluxServer | None = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'telemetry.db'}"
    else:
        (tmp / "influxd").mkdir()
        server = InfluxServer(tmp / "influxd").start()
        url = f"influxdb://127.0.0.1:{server.port}/rollup_bench"
    store = open_store(url)
    try:
        yield store
    finally:
        store.close()
        if server is not None:
            server.stop()


def timed(store: TelemetryStore, q: RangeQuery, repeats: int) -> tuple[list[float], list[SeriesPoint]]:
    """Wall times of ``repeats`` runs of ``q`` [ms] and its answer."""
    times, answer = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = store.query(q)
        times.append((time.perf_counter() - started) * 1000)
    return times, answer


def run(backend: str, years: int, repeats: int) -> dict[str, float]:
    """The figures of one backend."""
    now = now_ms()
    end = now - now % DAY_MS - DAY_MS
    days = 365 * years
    start = end - days * DAY_MS
    q = RangeQuery("vwc_pct", start, end, device_id="sm-1", every_s=86_400, agg=Aggregation.MEAN)
    with tempfile.TemporaryDirectory(prefix="farmtel-rollups-") as tmp, \
            bench_store(backend, Path(tmp)) as store:
        started = time.perf_counter()
        n = write_batched(store, readings("sm-1", start, days))
        write_s = time.perf_counter() - started
        raw_ms, from_raw = timed(store, q, repeats)
        started = time.perf_counter()
        done = store.maintain(now)
        maintain_s = time.perf_counter() - started
        rollup_ms, from_rollups = timed(store, q, repeats)
    assert len(from_raw) == len(from_rollups) == days, (len(from_raw), len(from_rollups))
    for a, b in zip(from_raw, from_rollups, strict=True):
        assert a.ts_ms == b.ts_ms and math.isclose(a.value, b.value, rel_tol=1e-9), (a, b)
    raw_stats, rollup_stats = latency_stats(raw_ms, "raw_"), latency_stats(rollup_ms, "rollup_")
    return {"readings": n, "write_s": write_s, "maintain_s": maintain_s,
            "hours_rolled_up": done.hours_rolled_up, **raw_stats, **rollup_stats,
            "ratio_p50": raw_stats["raw_p50_ms"] / rollup_stats["rollup_p50_ms"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "influxdb"],
                        choices=["sqlite", "influxdb"])
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"{args.years}-year daily-mean query of one device (15-minute readings), "
          f"{args.repeats} repeats [ms]")
    print(f"{'backend':<9} {'readings':>9} {'write s':>8} {'maintain s':>10} {'raw p50':>8} "
          f"{'raw p99':>8} {'raw min':>8} {'rollup p50':>10} {'rollup p99':>10} {'rollup min':>10} "
          f"{'p50 ratio':>9}")
    for backend in args.backends:
        r = run(backend, args.years, args.repeats)
        print(f"{backend:<9} {r['readings']:>9.0f} {r['write_s']:>8.1f} {r['maintain_s']:>10.1f} "
              f"{r['raw_p50_ms']:>8.1f} {r['raw_p99_ms']:>8.1f} {r['raw_min_ms']:>8.1f} "
              f"{r['rollup_p50_ms']:>10.2f} {r['rollup_p99_ms']:>10.2f} {r['rollup_min_ms']:>10.2f} "
              f"{r['ratio_p50']:>9.1f}")


if __name__ == "__main__":
    main()
