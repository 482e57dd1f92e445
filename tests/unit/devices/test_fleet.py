"""Fleet edits through devices.fleet: corrections, moves with their placement history,
retirement (cascading from farms and sites), typed refusals, the version bumped by each, and
a retired device shut out of both brokers' logins and the ingest directory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from devices import fleet
from devices.broker.embedded_auth import RegistryBrokerAccess
from devices.broker.mosquitto import sync_mosquitto
from devices.directory import load_devices
from devices.provisioning import (
    DeviceRevoked,
    FarmRetired,
    SiteRetired,
    UnknownDevice,
    create_farm,
    create_site,
    provision_device,
    revoke_device,
)
from devices.registry import Farm, Site, current_version, seed_counties
from farmtel.migrate import upgrade_schema
from storage.clock import to_ms
from storage.errors import Conflict, InvalidInput, NotFound
from storage.metadata import make_engine, make_session_factory

DAY = timedelta(days=1)


@pytest.fixture
def sessions(metadata_url: str) -> sessionmaker[Session]:
    engine = make_engine(metadata_url)
    upgrade_schema(engine)
    factory: sessionmaker[Session] = make_session_factory(engine)
    with factory() as s, s.begin():
        seed_counties(s)
        create_farm(s, Farm(id="farm-a", name="A", county_id="shuocheng", township="北旺庄"))
        create_farm(s, Farm(id="farm-b", name="B", county_id="youyu"))
        s.flush()
        for sid, farm in (("field-1", "farm-a"), ("field-2", "farm-a"), ("field-b", "farm-b")):
            create_site(s, Site(id=sid, farm_id=farm, kind="field", name=sid, area_mu=10))
        s.flush()
        provision_device(s, device_id="gw-1", device_type="gateway", site_id="field-1")
        s.flush()
        provision_device(s, device_id="sm-1", device_type="soil_moisture", site_id="field-1")
        provision_device(s, device_id="col-1", device_type="livestock_collar",
                         site_id="field-1", gateway_id="gw-1")
    return factory


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as s:
        yield s


def _backdate(session: Session, days: int) -> None:
    """Every device and placement as if registered ``days`` ago."""
    then = datetime.now(UTC) - days * DAY
    for device in fleet.get_site(session, "field-1").devices:
        device.created_at = then
        for p in fleet.placements(session, device.id):
            p.valid_from = then
    session.flush()


def test_edits_change_only_editable_fields_and_bump_the_version(session: Session) -> None:
    v = current_version(session)
    farm = fleet.edit_farm(session, "farm-a", {"name": "示范农场", "township": "南榆林"})
    assert (farm.name, farm.township) == ("示范农场", "南榆林")
    assert current_version(session) == v + 1
    site = fleet.edit_site(session, "field-1", {"area_mu": 12.5, "crop": "maize",
                                                "attributes": {"high_standard": True}})
    assert (site.area_mu, site.crop, site.attributes) == (12.5, "maize", {"high_standard": True})
    device = fleet.edit_device(session, "sm-1", {"attributes": {"depth_cm": 40}})
    assert device.attributes == {"depth_cm": 40}
    assert current_version(session) == v + 3
    fleet.edit_site(session, "field-1", {"area_mu": 12.5})  # no change, no bump
    assert current_version(session) == v + 3
    for call, target, changes in ((fleet.edit_farm, "farm-a", {"county_id": "youyu"}),
                                  (fleet.edit_site, "field-1", {"farm_id": "farm-b"}),
                                  (fleet.edit_device, "sm-1", {"site_id": "field-2"})):
        with pytest.raises(fleet.NotEditable) as info:
            call(session, target, changes)
        assert isinstance(info.value, InvalidInput)
    with pytest.raises(InvalidInput):  # the rules of a new site hold for a corrected one
        fleet.edit_site(session, "field-2", {"area_mu": -1.0})
    session.rollback()
    for call, target in ((fleet.edit_farm, "nope"), (fleet.edit_site, "nope"),
                         (fleet.edit_device, "nope")):
        with pytest.raises(NotFound):
            call(session, target, {})


def test_move_closes_the_old_placement_and_opens_the_new(session: Session) -> None:
    _backdate(session, 10)
    v = current_version(session)
    at = datetime.now(UTC) - 3 * DAY
    placement = fleet.move_device(session, "sm-1", "field-2", at=at)
    session.commit()
    assert placement.site_id == "field-2" and current_version(session) == v + 1
    history = fleet.placements(session, "sm-1")
    assert [(p.site_id, p.valid_to is None) for p in history] == [("field-1", False),
                                                                  ("field-2", True)]
    closed = history[0].valid_to
    assert closed is not None and to_ms(closed) == to_ms(history[1].valid_from) == to_ms(at)
    assert fleet.get_device(session, "sm-1").site_id == "field-2"
    # to another farm: the topic names the new farm
    fleet.move_device(session, "sm-1", "field-b")
    assert fleet.device_topic(session, fleet.get_device(session, "sm-1")) == \
        "farmtel/farm-b/sm-1/telemetry"
    assert len(fleet.placements(session, "sm-1")) == 3


def test_moves_refused_with_their_reasons(session: Session) -> None:
    _backdate(session, 10)
    now = datetime.now(UTC)
    cases = [
        (("sm-1", "field-1"), {}, fleet.AlreadyThere, Conflict),
        (("sm-1", "nope"), {}, fleet.SiteNotFound, NotFound),
        (("nope", "field-2"), {}, UnknownDevice, NotFound),
        (("sm-1", "field-2"), {"at": now + DAY}, fleet.BadTime, InvalidInput),
        (("sm-1", "field-2"), {"at": now - 20 * DAY}, fleet.BadTime, InvalidInput),
        # readings stored for the old site until an hour ago: not before that
        (("sm-1", "field-2"), {"at": now - 2 * DAY, "last_reading_ms": to_ms(now) - 3_600_000},
         fleet.BadTime, InvalidInput),
        (("col-1", "field-b"), {}, fleet.GatewayBound, Conflict),  # behind gw-1 of farm-a
        (("gw-1", "field-b"), {}, fleet.GatewayBound, Conflict),  # col-1 behind it
    ]
    for args, kw, error, kind in cases:
        with pytest.raises(error) as info:
            fleet.move_device(session, *args, **kw)  # type: ignore[arg-type]
        assert isinstance(info.value, kind), args
    fleet.move_device(session, "col-1", "field-2")  # within the gateway's farm: fine
    fleet.retire_site(session, "field-b")
    with pytest.raises(SiteRetired):
        fleet.move_device(session, "sm-1", "field-b")
    revoke_device(session, "sm-1")
    with pytest.raises(DeviceRevoked):
        fleet.move_device(session, "sm-1", "field-2")


def test_retiring_a_farm_retires_its_sites_and_devices_at_one_instant(session: Session) -> None:
    _backdate(session, 10)
    at = datetime.now(UTC) - DAY
    v = current_version(session)
    fleet.retire_farm(session, "farm-a", at=at)
    session.commit()
    assert current_version(session) == v + 1
    farm = fleet.get_farm(session, "farm-a")
    sites = [fleet.get_site(session, s) for s in ("field-1", "field-2")]
    devices = [fleet.get_device(session, d) for d in ("gw-1", "sm-1", "col-1")]
    times = [farm.retired_at, *(x.retired_at for x in sites), *(x.retired_at for x in devices)]
    assert {None if t is None else to_ms(t) for t in times} == {to_ms(at)}
    assert all(to_ms(p.valid_to) == to_ms(at) for p in fleet.placements(session, "sm-1")
               if p.valid_to is not None)
    assert fleet.get_farm(session, "farm-b").retired_at is None
    fleet.retire_farm(session, "farm-a")  # idempotent: the first date stays
    retired = fleet.get_farm(session, "farm-a").retired_at
    assert retired is not None and to_ms(retired) == to_ms(at)
    assert current_version(session) == v + 1
    with pytest.raises(FarmRetired):
        create_site(session, Site(id="field-9", farm_id="farm-a", kind="field", name="x"))
    with pytest.raises(SiteRetired):
        provision_device(session, device_id="sm-9", device_type="soil_moisture",
                         site_id="field-1")
    with pytest.raises(fleet.DeviceRetired):
        fleet.move_device(session, "sm-1", "field-b")


def test_a_retired_device_loses_its_logins_and_is_refused_by_ingest(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    access = RegistryBrokerAccess(sessions)
    with sessions() as s, s.begin():
        secret = provision_device(s, device_id="sm-2", device_type="soil_moisture",
                                  site_id="field-2").mqtt_password
    access.refresh(force_check=True)
    assert access.authenticate("sm-2", secret)
    with sessions() as s, s.begin():
        fleet.retire_device(s, "sm-2")
    access.refresh(force_check=True)
    assert not access.authenticate("sm-2", secret) and access.user("sm-2") is None
    passwords, acl = tmp_path / "passwords", tmp_path / "acl"
    sync_mosquitto(sessions, passwords, acl)
    users = {line.split(":")[0] for line in passwords.read_text().splitlines() if line}
    assert "sm-1" in users and "sm-2" not in users and "sm-2" not in acl.read_text()
    with sessions() as s:
        directory = load_devices(s)
    assert directory["sm-2"].revoked and not directory["sm-1"].revoked
