"""A small registry built on a jurisdiction loaded from data, and soil-probe readings over
chosen spans: shared by the period and jurisdiction tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from analytics.jurisdictions.documents import packaged_json, parse_jurisdiction
from analytics.jurisdictions.store import ensure_default_jurisdiction, store_jurisdiction
from devices.provisioning import create_farm, create_site
from devices.registry import Device, Farm, Site
from farmtel.migrate import upgrade_schema
from storage.metadata import make_engine, make_session_factory
from storage.sqlite import SqliteTelemetryStore
from storage.telemetry import Reading

PROBE_INTERVAL_MS = 900_000  # soil_moisture reports every 900 s


def ms(year: int, month: int, day: int, hour: int = 0) -> int:
    """UTC epoch ms of a UTC date and hour."""
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


def open_db(tmp_path: Path, metadata_url: str, *, extra: Iterable[str] = (),
            ) -> tuple[sessionmaker[Any], SqliteTelemetryStore]:
    """A migrated metadata DB with the packaged jurisdiction (and the packaged files
    ``extra``), and an empty SQLite store in ``tmp_path``."""
    engine = make_engine(metadata_url)
    upgrade_schema(engine)
    sessions = make_session_factory(engine)
    with sessions() as s:
        ensure_default_jurisdiction(s)
        for name in extra:
            store_jurisdiction(s, parse_jurisdiction(packaged_json(name)), created_by="test")
        s.commit()
    return sessions, SqliteTelemetryStore(tmp_path / "telemetry.db")


def add_field(s: Session, county: str, farm: str, site: str, area_mu: float,
              township: str | None = None) -> None:
    """A farm (if new) with one field."""
    if s.get(Farm, farm) is None:
        create_farm(s, Farm(id=farm, name=farm, county_id=county, township=township))
    create_site(s, Site(id=site, farm_id=farm, kind="field", name=site, area_mu=area_mu))


def add_probe(s: Session, device_id: str, site: str, created_ms: int) -> None:
    """A soil probe on ``site`` registered at ``created_ms``."""
    s.add(Device(id=device_id, type="soil_moisture", site_id=site, mqtt_username=device_id,
                 password_hash="x", created_at=datetime.fromtimestamp(created_ms / 1000, UTC)))


def probe_readings(device_id: str, site: str, farm: str, county: str, start_ms: int,
                   end_ms: int) -> list[Reading]:
    """One vwc reading per report interval in [start_ms, end_ms), 60 s into it."""
    return [Reading(device_id, "vwc_pct", 20.0, t + 60_000, i, 0, "soil_moisture", site, farm,
                    county)
            for i, t in enumerate(range(start_ms, end_ms, PROBE_INTERVAL_MS))]
