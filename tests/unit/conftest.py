"""Fixtures shared by the unit tests: a simulated demo farm backfilled into a real SQLite store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from devices.directory import load_devices
from devices.registry import Site
from farmtel.runtime import Metadata, open_metadata
from simulators.fleet import ensure_fleet, load_fleet
from simulators.runner import FleetRunner
from simulators.sink import StoreSink
from storage.clock import DAY_MS, cst_date, cst_midnight_ms
from storage.sqlite import SqliteTelemetryStore
from tests.helpers import settings_for


@dataclass
class Farm:
    meta: Metadata
    store: SqliteTelemetryStore
    runner: FleetRunner
    sink: StoreSink
    start: date
    now_ms: int

    def advance_days(self, days: float) -> None:
        """Simulate ``days`` more days in 10-minute steps."""
        end = self.now_ms + int(days * DAY_MS)
        while self.now_ms < end:
            self.now_ms += 600_000
            self.runner.step(self.now_ms)
        self.sink.flush()

    @property
    def today(self) -> date:
        return cst_date(self.now_ms)


@pytest.fixture
def farm(tmp_path) -> Any:
    """One demo farm (25 devices) in Shuocheng, maize planted 40 days before the start."""
    settings = settings_for(tmp_path)
    meta = open_metadata(settings)
    ensure_fleet(meta.sessions, 25, seed=3)
    start = date(2026, 6, 1)
    with meta.sessions() as s, s.begin():
        s.execute(update(Site).where(Site.kind == "field")
                  .values(planting_date=start - timedelta(days=40)))
    store = SqliteTelemetryStore(tmp_path / "telemetry.db")
    with meta.sessions() as s:
        infos = load_devices(s)
    sink = StoreSink(store, infos)
    runner = FleetRunner(load_fleet(meta.sessions, 25), sink, seed=3,
                         start_ms=cst_midnight_ms(start), first_report_within_s=0.001)
    yield Farm(meta, store, runner, sink, start, cst_midnight_ms(start))
    store.close()
