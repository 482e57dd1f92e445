"""Registry writes go through devices.provisioning: typed refusals, the version bumped by each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.provisioning import (
    DeviceExists,
    DeviceRevoked,
    FarmExists,
    InvalidDeviceId,
    NotAGateway,
    SiteExists,
    UnknownCounty,
    UnknownDevice,
    UnknownDeviceType,
    UnknownFarm,
    UnknownSite,
    create_farm,
    create_site,
    insert_registry_rows,
    provision_device,
    revoke_device,
    rotate_credentials,
)
from devices.registry import Device, Farm, Site, current_version, seed_counties
from farmtel.migrate import upgrade_schema
from storage.errors import Conflict, InvalidInput, NotFound
from storage.metadata import make_engine, make_session_factory


@pytest.fixture
def session(metadata_url: str) -> Iterator[Session]:
    engine = make_engine(metadata_url)
    upgrade_schema(engine)
    with make_session_factory(engine)() as s:
        seed_counties(s)
        s.commit()
        yield s


def _farm_and_site(session: Session) -> None:
    create_farm(session, Farm(id="farm-a", name="A", county_id="shuocheng"))
    create_site(session, Site(id="field-1", farm_id="farm-a", kind="field", name="F"))


def test_each_write_bumps_the_registry_version(session: Session) -> None:
    assert current_version(session) == 0
    create_farm(session, Farm(id="farm-a", name="A", county_id="shuocheng"))
    assert current_version(session) == 1
    create_site(session, Site(id="field-1", farm_id="farm-a", kind="field", name="F"))
    assert current_version(session) == 2
    provision_device(session, device_id="soil-1", device_type="soil_moisture", site_id="field-1")
    assert current_version(session) == 3
    rotate_credentials(session, "soil-1")
    assert current_version(session) == 4
    assert revoke_device(session, "soil-1") is True
    assert current_version(session) == 5
    assert revoke_device(session, "soil-1") is False
    assert current_version(session) == 5


def test_farm_and_site_refusals_are_typed(session: Session) -> None:
    with pytest.raises(UnknownCounty) as unknown_county:
        create_farm(session, Farm(id="farm-x", name="X", county_id="atlantis"))
    assert isinstance(unknown_county.value, InvalidInput)
    _farm_and_site(session)
    with pytest.raises(FarmExists) as farm_exists:
        create_farm(session, Farm(id="farm-a", name="A", county_id="shuocheng"))
    assert isinstance(farm_exists.value, Conflict)
    with pytest.raises(UnknownFarm) as unknown_farm:
        create_site(session, Site(id="field-2", farm_id="nowhere", kind="field", name="F"))
    assert isinstance(unknown_farm.value, InvalidInput)
    with pytest.raises(SiteExists) as site_exists:
        create_site(session, Site(id="field-1", farm_id="farm-a", kind="field", name="F"))
    assert isinstance(site_exists.value, Conflict)


@pytest.mark.parametrize(("kwargs", "error", "kind"), [
    ({"device_id": "bad id!", "device_type": "soil_moisture", "site_id": "field-1"},
     InvalidDeviceId, InvalidInput),
    ({"device_id": "x-1", "device_type": "toaster", "site_id": "field-1"},
     UnknownDeviceType, InvalidInput),
    ({"device_id": "x-1", "device_type": "soil_moisture", "site_id": "nowhere"},
     UnknownSite, InvalidInput),
    ({"device_id": "x-1", "device_type": "soil_moisture", "site_id": "field-1",
      "gateway_id": "soil-1"}, NotAGateway, InvalidInput),
    ({"device_id": "soil-1", "device_type": "soil_moisture", "site_id": "field-1"},
     DeviceExists, Conflict),
])
def test_provisioning_refusals_are_typed(session: Session, kwargs: dict[str, Any],
                                         error: type[Exception], kind: type[Exception]) -> None:
    _farm_and_site(session)
    provision_device(session, device_id="soil-1", device_type="soil_moisture", site_id="field-1")
    version = current_version(session)
    with pytest.raises(error) as refused:
        provision_device(session, **kwargs)
    assert isinstance(refused.value, kind)
    assert current_version(session) == version


def test_unknown_and_revoked_devices(session: Session) -> None:
    with pytest.raises(UnknownDevice) as unknown:
        rotate_credentials(session, "ghost")
    assert isinstance(unknown.value, NotFound)
    with pytest.raises(UnknownDevice):
        revoke_device(session, "ghost")
    _farm_and_site(session)
    provision_device(session, device_id="soil-1", device_type="soil_moisture", site_id="field-1")
    revoke_device(session, "soil-1")
    with pytest.raises(DeviceRevoked) as revoked:
        rotate_credentials(session, "soil-1")
    assert isinstance(revoked.value, Conflict)


def test_bulk_rows_are_inserted_in_chunks_and_bump_the_version_once(session: Session) -> None:
    farms = [{"id": f"farm-{i}", "name": f"F{i}", "county_id": "youyu"} for i in range(3)]
    sites = [{"id": f"site-{i}", "farm_id": f"farm-{i % 3}", "kind": "field", "name": "S"}
             for i in range(5)]
    devices = [{"id": f"dev-{i}", "type": "soil_moisture", "site_id": f"site-{i % 5}",
                "mqtt_username": f"dev-{i}", "password_hash": "x"} for i in range(7)]
    conn = session.connection()
    assert insert_registry_rows(conn, farms=farms, sites=iter(sites), devices=iter(devices),
                                chunk=2) == (3, 5, 7)
    assert current_version(session) == 1
    assert len(session.scalars(select(Device.id)).all()) == 7
    assert insert_registry_rows(conn) == (0, 0, 0)
    assert current_version(session) == 1
