"""Backup and restore time and size: the demo fleet and a city fleet (SQLite metadata and store).

    python -m bench.backup                        # demo (300, summer drought) + city 20,000 × 1 day
    python -m bench.backup --days 2               # the README's figures (15 M readings, 3 GB)
    python -m bench.backup --no-demo              # the city fleet only

1. **demo**: what ``farmtel up --simulate 300 --scenario summer-drought`` writes before it goes
   live (the demo fleet, 14 days of drought history, advice, alerts), built in process;
2. **city**: the city fleet of ``--city`` devices (``simulators.city_fleet``) registered in
   bulk, and ``--days`` days of readings at the catalogue intervals written straight into the
   SQLite store's file (values uniform in each quantity's range).

For each: ``farmtel.backup.operations.backup`` into a new folder (what ``farmtel backup``
runs), the data folder deleted, ``restore`` (what ``farmtel restore`` runs), and a check that
the restored store holds as many readings. Prints one table row per fleet: devices, readings,
backup time and size, restore time.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devices.catalogue import DEVICE_TYPES, QUANTITIES
from devices.directory import DeviceDirectory
from farmtel.backup.operations import backup, restore
from farmtel.runtime import build_alert_service, open_metadata, open_telemetry
from farmtel.settings import Settings
from simulators.city_fleet import COUNTY_IDS, CityLayout, city_layout, register_city
from simulators.fleet import ensure_fleet
from simulators.scenario import run_summer_drought
from storage.clock import DAY_MS, SECOND_MS, now_ms

ADMIN_TOKEN = "ft_bench_backup"


@dataclass(frozen=True)
class Figures:
    """One fleet's backup and restore."""

    name: str
    devices: int
    readings: int
    build_s: float
    backup_s: float
    backup_mb: float
    restore_s: float


def settings_in(folder: Path) -> Settings:
    return Settings(_env_file=None, data_dir=folder / "data",  # type: ignore[call-arg]
                    admin_token=ADMIN_TOKEN)


def build_demo(settings: Settings, devices: int) -> int:
    """The data ``farmtel up --simulate N --scenario summer-drought`` writes at start."""
    meta = open_metadata(settings)
    store = open_telemetry(settings)
    try:
        ensure_fleet(meta.sessions, devices)
        directory = DeviceDirectory(meta.sessions)
        directory.reload()
        alerts, close_notifiers = build_alert_service(settings, meta, store, directory,
                                                      publish_mqtt=False)
        alerts.start()
        try:
            run_summer_drought(meta, store, alerts, devices=devices)
        finally:
            alerts.stop()
            close_notifiers()
    finally:
        store.close()
        meta.engine.dispose()
    return devices


def write_city_readings(path: Path, layout: CityLayout, start_ms: int, end_ms: int) -> None:
    """Every device's readings in ``[start_ms, end_ms)`` at its catalogue interval (a seeded
    phase per device), values uniform in each quantity's range, and the ``latest`` rows, written
    into the store's SQLite file by SQLite itself: one row per (device, quantity) series, joined
    with its report numbers, inserted in primary-key order (Python per reading would take ~10x
    longer)."""
    rng = np.random.default_rng(layout.seed)
    series = []
    for name, fam in layout.families.items():
        kind = DEVICE_TYPES[name]
        step = kind.report_interval_s * SECOND_MS
        for i, device_id in enumerate(fam.ids):
            phase = int(rng.integers(step))
            last = (end_ms - 1 - start_ms - phase) // step
            farm, county = layout.farms[int(fam.farm[i])].id, COUNTY_IDS[int(fam.county[i])]
            for q in kind.quantities:
                lo, hi = QUANTITIES[q].minimum, QUANTITIES[q].maximum
                series.append((device_id, q, name, fam.site_ids[i], farm, county,
                               start_ms + phase, step, last, lo, hi - lo))
    series.sort()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("CREATE TEMP TABLE series (device_id, quantity, device_type, site_id, "
                      "farm_id, county, first_ms, step_ms, last_n, lo, span)")
        conn.executemany("INSERT INTO series VALUES (?,?,?,?,?,?,?,?,?,?,?)", series)
        conn.execute("CREATE TEMP TABLE ticks (n INTEGER PRIMARY KEY)")
        conn.execute("WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n < ?) "
                     "INSERT INTO ticks SELECT n FROM k", (max(s[8] for s in series),))
        columns = ("device_id, quantity, value, ts_ms, seq, quality, device_type, site_id, "
                   "farm_id, county")
        value = "round(s.lo + s.span * (random() / 18446744073709551616.0 + 0.5), 2)"
        conn.execute("BEGIN")
        conn.execute(f"INSERT INTO readings ({columns}) SELECT s.device_id, s.quantity, {value}, "
                     "s.first_ms + k.n * s.step_ms, k.n, 0, s.device_type, s.site_id, s.farm_id, "
                     "s.county FROM series s CROSS JOIN ticks k WHERE k.n <= s.last_n")
        picked = ", ".join(f"r.{c}" for c in columns.split(", "))
        conn.execute(f"INSERT INTO latest ({columns}) SELECT {picked} FROM series s "
                     "CROSS JOIN readings r ON r.device_id = s.device_id AND r.quantity = "
                     "s.quantity AND r.ts_ms = s.first_ms + s.last_n * s.step_ms")
        conn.execute("COMMIT")
    finally:
        conn.close()


def build_city(settings: Settings, devices: int, days: float) -> int:
    """The city fleet registered, and ``days`` days of its readings in the SQLite store."""
    meta = open_metadata(settings)
    open_telemetry(settings).close()  # the store's schema
    try:
        layout = city_layout(devices)
        register_city(meta.engine, layout)
        end = now_ms() - DAY_MS // 24
        write_city_readings(settings.data_dir / "telemetry.db", layout,
                            end - int(days * DAY_MS), end)
    finally:
        meta.engine.dispose()
    return devices + len(layout.gateways)


def count_readings(settings: Settings) -> int:
    path = settings.data_dir / "telemetry.db"
    conn = sqlite3.connect(path)
    try:
        (n,) = conn.execute("SELECT COUNT(*) FROM readings").fetchone()
        return int(n)
    finally:
        conn.close()


def measure(name: str, folder: Path, build: Callable[[Settings], int]) -> Figures:
    """Build a fleet's data (``build(settings) -> devices``), back it up, wipe, restore."""
    settings = settings_in(folder)
    t0 = time.perf_counter()
    devices = build(settings)
    build_s = time.perf_counter() - t0
    readings = count_readings(settings)
    manifest = backup(settings, folder / "backup")
    shutil.rmtree(settings.data_dir)
    restored = restore(settings, folder / "backup")
    assert count_readings(settings) == readings, "restored store differs"
    return Figures(name, devices, readings, build_s, manifest.seconds,
                   manifest.total_bytes / 1e6, restored.seconds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo", type=int, default=300, help="demo fleet size (0: skip)")
    p.add_argument("--no-demo", dest="demo", action="store_const", const=0)
    p.add_argument("--city", type=int, default=20_000, help="city fleet size (0: skip)")
    p.add_argument("--days", type=float, default=1.0, help="days of city readings")
    args = p.parse_args()
    rows: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="farmtel-bench-backup-") as tmp:
        if args.demo:
            rows.append(measure(f"demo {args.demo}, summer drought", Path(tmp) / "demo",
                                lambda s: build_demo(s, args.demo)))
            print(rows[-1], flush=True)
        if args.city:
            rows.append(measure(f"city {args.city}, {args.days:g} days", Path(tmp) / "city",
                                lambda s: build_city(s, args.city, args.days)))
            print(rows[-1], flush=True)
    print(f"\n{'fleet':34} {'devices':>8} {'readings':>11} {'build s':>8} {'backup s':>9} "
          f"{'size MB':>8} {'restore s':>9}")
    for r in rows:
        print(f"{r.name:34} {r.devices:>8,} {r.readings:>11,} {r.build_s:>8.1f} "
              f"{r.backup_s:>9.1f} {r.backup_mb:>8.1f} {r.restore_s:>9.1f}")


if __name__ == "__main__":
    main()
