"""Support for the placement-history tests: two sites of one farm, devices registered on the
first ten days back and moved to the second one mid-period, on the test's metadata database
(SQLite or PostgreSQL) and telemetry store (SQLite or InfluxDB).

Readings are written every 10 minutes with the value ``before`` until the move and ``after``
from it on (each with the site tag ingest would have given), so each site's share of a
device's history can be told apart by value."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from devices import fleet
from devices.provisioning import create_farm, create_site, provision_device
from devices.registry import Farm, Site, seed_counties
from farmtel.migrate import upgrade_schema
from storage.clock import DAY_MS, HOUR_MS, MINUTE_MS, from_ms, now_ms
from storage.factory import open_store
from storage.metadata import make_engine, make_session_factory
from storage.telemetry import Reading, TelemetryStore

OLD, NEW, FARM = "site-old", "site-new", "farm-m"
STEP_MS = 10 * MINUTE_MS


@dataclass
class MovedWorld:
    """The registry, the store and the instants of the scenario [UTC ms]."""

    sessions: sessionmaker[Session]
    store: TelemetryStore
    start_ms: int
    move_ms: int
    now_ms: int

    def steps(self) -> range:
        return range(self.start_ms, self.now_ms, STEP_MS)

    def write(self, device_id: str, device_type: str, quantity: str,
              value: Callable[[int, bool], float]) -> None:
        """A reading every 10 minutes from the start until now: ``value(ts, moved)``."""
        self.store.write([
            Reading(device_id, quantity, value(ts, ts >= self.move_ms), ts, seq=i + 1,
                    device_type=device_type, site_id=NEW if ts >= self.move_ms else OLD,
                    farm_id=FARM, county="shuocheng")
            for i, ts in enumerate(self.steps())])

    def move(self, *device_ids: str) -> None:
        """Move the devices from the old site to the new one at ``move_ms``."""
        with self.sessions() as s, s.begin():
            for device_id in device_ids:
                fleet.move_device(s, device_id, NEW, at=from_ms(self.move_ms))


@contextmanager
def moved_world(metadata_url: str, store_url: str, *, kind: str,
                devices: dict[str, tuple[str, dict[str, Any]]],
                planting_date: date | None = None) -> Iterator[MovedWorld]:
    """Both sites (``kind``; fields get 10 mu of maize planted on ``planting_date``) and the
    ``devices`` (id -> (type, attributes)) registered on the old site ten days ago; the move
    comes three days ago, 25 minutes past an hour (inside an hour and a 2-hour window)."""
    engine = make_engine(metadata_url)
    upgrade_schema(engine)
    sessions: sessionmaker[Session] = make_session_factory(engine)
    now = now_ms() // HOUR_MS * HOUR_MS
    start = now - 10 * DAY_MS
    with sessions() as s, s.begin():
        seed_counties(s)
        create_farm(s, Farm(id=FARM, name="M", county_id="shuocheng"))
        s.flush()
        for site_id in (OLD, NEW):
            field = kind == "field"
            create_site(s, Site(id=site_id, farm_id=FARM, kind=kind, name=site_id,
                                area_mu=10.0 if field else None, crop="maize" if field else None,
                                planting_date=planting_date if field else None))
        s.flush()
        for device_id, (device_type, attributes) in devices.items():
            provision_device(s, device_id=device_id, device_type=device_type, site_id=OLD,
                             attributes=attributes)
        s.flush()
        for device_id in devices:  # registered ten days ago
            fleet.get_device(s, device_id).created_at = from_ms(start)
            for placement in fleet.placements(s, device_id):
                placement.valid_from = from_ms(start)
    store = open_store(store_url)
    try:
        yield MovedWorld(sessions, store, start, now - 3 * DAY_MS + 25 * MINUTE_MS, now)
    finally:
        store.close()
        engine.dispose()
