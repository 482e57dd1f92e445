"""Revision 0002 (fleet history) on a released database, SQLite and PostgreSQL: every device
gets its one placement, from its ``created_at`` on its site, still open; nothing is retired;
and the upgraded registry can be moved and retired at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from devices import fleet
from devices.registry import Device, DevicePlacement, Farm, Site
from farmtel.migrate import upgrade_schema
from storage.clock import to_ms
from storage.metadata import make_engine, make_session_factory
from tests.integration._released import create_released_database, insert_released_data

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(params=["sqlite", "postgresql"])
def released(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    """A database of the last release without migrations, with its data, upgraded to head."""
    url = (f"sqlite:///{tmp_path / 'metadata.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    engine = make_engine(url)
    create_released_database(engine)
    insert_released_data(engine)
    upgrade_schema(engine)
    yield engine
    engine.dispose()


def test_every_released_device_gets_its_placement(released: Engine) -> None:
    with make_session_factory(released)() as s:
        devices = {d.id: d for d in s.scalars(select(Device))}
        placements = list(s.scalars(select(DevicePlacement).order_by(DevicePlacement.device_id)))
        assert sorted(p.device_id for p in placements) == sorted(devices)
        for p in placements:
            d = devices[p.device_id]
            assert (p.site_id, to_ms(p.valid_from), p.valid_to) == (
                d.site_id, to_ms(d.created_at), None)
        assert all(x.retired_at is None for m in (Farm, Site, Device) for x in s.scalars(select(m)))
        fleet.move_device(s, "soil-1", "site-1" if devices["soil-1"].site_id != "site-1"
                          else "barn-1")
        fleet.retire_farm(s, "farm-1")
        s.commit()
        assert len(fleet.placements(s, "soil-1")) == 2
        assert all(p.valid_to is not None for p in fleet.placements(s, "soil-1"))
