"""Fleet edits: correct, move and retire farms, sites and devices, keeping their history true.

Every write bumps the registry version (so the device directory and the broker reload) and
leaves the commit to the caller. Nothing is deleted:

* a move closes the device's current placement at ``at`` and opens one on the new site, so its
  past stays attributed to the site it was on (readings also carry the site tag given at
  ingest, which is why a move may not be dated before the device's last stored reading);
* retiring sets ``retired_at``: a retired device may no longer connect or publish (the broker
  and ingest treat it as revoked) and stops being expected from then on; retiring a site
  retires its devices, retiring a farm its sites and their devices, all at the same instant.

Refusals are typed (``storage.errors`` kinds): ``NotFound`` for unknown ids, ``Conflict`` for
writes that contradict the registry, ``InvalidInput`` for bad times and values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.contract import gateway_topic, telemetry_topic
from devices.provisioning import (
    DeviceRevoked,
    ProvisioningError,
    SiteRetired,
    UnknownDevice,
    check_farm,
    check_site,
)
from devices.registry import Device, DevicePlacement, Farm, Site, bump_version, utcnow
from storage.clock import from_ms, to_ms
from storage.errors import Conflict, InvalidInput, NotFound

FARM_FIELDS: Final = frozenset({"name", "township"})
"""What an operator may correct on a farm (its county is its identity in the plan's figures)."""

SITE_FIELDS: Final = frozenset({"name", "area_mu", "head_count", "crop", "species",
                                "irrigation_method",
                                "planting_date", "lat_deg", "lon_deg", "elevation_m",
                                "attributes"})
"""What an operator may correct on a site (its kind and farm are fixed)."""

DEVICE_FIELDS: Final = frozenset({"attributes"})
"""What an operator may correct on a device (its type and credentials are fixed; its site
changes by a move)."""


_Editable = TypeVar("_Editable", Farm, Site, Device)


class FarmNotFound(ProvisioningError, NotFound):
    """No farm with that id."""


class SiteNotFound(ProvisioningError, NotFound):
    """No site with that id."""


class DeviceRetired(ProvisioningError, Conflict):
    """The device is retired."""


class AlreadyThere(ProvisioningError, Conflict):
    """The device is on that site already."""


class GatewayBound(ProvisioningError, Conflict):
    """The move would split a gateway from the devices behind it across farms."""


class BadTime(ProvisioningError, InvalidInput):
    """A move or retirement time in the future, or before what it must follow."""


class NotEditable(ProvisioningError, InvalidInput):
    """A field that cannot be edited (or does not exist)."""


def _when(at: datetime | None, now: datetime) -> datetime:
    """``at`` (default now) as aware UTC; ``BadTime`` when it lies in the future."""
    when = now if at is None else from_ms(to_ms(at))
    if when > now:
        raise BadTime("a move or retirement cannot be dated in the future")
    return when


def _edit(session: Session, obj: _Editable, changes: Mapping[str, Any], allowed: frozenset[str],
          check: Callable[[_Editable], None] | None = None) -> _Editable:
    """Set ``changes`` on ``obj``; if anything changed, ``check`` it and bump the version."""
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise NotEditable(f"cannot edit {', '.join(unknown)} (editable: {', '.join(sorted(allowed))})")
    changed = False
    for key, value in changes.items():
        if getattr(obj, key) != value:
            setattr(obj, key, dict(value) if key == "attributes" else value)
            changed = True
    if changed:
        if check is not None:
            check(obj)
        bump_version(session)
    return obj


def get_farm(session: Session, farm_id: str) -> Farm:
    """The farm; ``FarmNotFound`` otherwise."""
    farm = session.get(Farm, farm_id)
    if farm is None:
        raise FarmNotFound(f"unknown farm {farm_id!r}")
    return farm


def get_site(session: Session, site_id: str) -> Site:
    """The site; ``SiteNotFound`` otherwise."""
    site = session.get(Site, site_id)
    if site is None:
        raise SiteNotFound(f"unknown site {site_id!r}")
    return site


def get_device(session: Session, device_id: str) -> Device:
    """The device; ``UnknownDevice`` otherwise."""
    device = session.get(Device, device_id)
    if device is None:
        raise UnknownDevice(f"unknown device {device_id!r}")
    return device


def edit_farm(session: Session, farm_id: str, changes: Mapping[str, Any]) -> Farm:
    """Correct a farm's ``FARM_FIELDS`` (caller commits; after an ``InvalidField`` it rolls
    back)."""
    return _edit(session, get_farm(session, farm_id), changes, FARM_FIELDS, check_farm)


def edit_site(session: Session, site_id: str, changes: Mapping[str, Any]) -> Site:
    """Correct a site's ``SITE_FIELDS`` (caller commits; after an ``InvalidField`` it rolls
    back)."""
    return _edit(session, get_site(session, site_id), changes, SITE_FIELDS, check_site)


def edit_device(session: Session, device_id: str, changes: Mapping[str, Any]) -> Device:
    """Correct a device's ``DEVICE_FIELDS`` (caller commits)."""
    return _edit(session, get_device(session, device_id), changes, DEVICE_FIELDS)


def placements(session: Session, device_id: str) -> list[DevicePlacement]:
    """Where the device has been, oldest first (``UnknownDevice`` if it does not exist)."""
    get_device(session, device_id)
    q = (select(DevicePlacement).where(DevicePlacement.device_id == device_id)
         .order_by(DevicePlacement.valid_from, DevicePlacement.id))
    return list(session.scalars(q))


def _open_placement(session: Session, device: Device) -> DevicePlacement:
    """The device's current placement (one is created from ``created_at`` if it has none,
    as for a device registered before placements were kept)."""
    current = session.scalars(
        select(DevicePlacement).where(DevicePlacement.device_id == device.id,
                                      DevicePlacement.valid_to.is_(None))
        .order_by(DevicePlacement.valid_from.desc()).limit(1)).first()
    if current is None:
        current = DevicePlacement(device_id=device.id, site_id=device.site_id,
                                  valid_from=device.created_at)
        session.add(current)
    return current


def device_topic(session: Session, device: Device) -> str:
    """The topic ``device`` publishes on (it names the device's farm)."""
    farm_id = get_site(session, device.site_id).farm_id
    return (gateway_topic(farm_id, device.id) if device.type == "gateway"
            else telemetry_topic(farm_id, device.id))


def move_device(session: Session, device_id: str, site_id: str, *, at: datetime | None = None,
                last_reading_ms: int | None = None) -> DevicePlacement:
    """Move a device to ``site_id`` from ``at`` (default now; caller commits); the new
    placement is returned.

    ``at`` must not be in the future, nor before the current placement began, nor before
    ``last_reading_ms`` (the device's newest stored reading [epoch ms], which carries the old
    site's tag). A device behind a gateway moves only within the gateway's farm; a gateway
    with devices behind it only within its farm. Moving to another farm changes the topic the
    device publishes on (``device_topic``).
    """
    device = get_device(session, device_id)
    if device.retired_at is not None:
        raise DeviceRetired(f"device {device_id!r} is retired")
    if device.revoked_at is not None:
        raise DeviceRevoked(f"device {device_id!r} is revoked")
    target = get_site(session, site_id)
    if target.retired_at is not None:
        raise SiteRetired(f"site {site_id!r} is retired")
    if device.site_id == site_id:
        raise AlreadyThere(f"device {device_id!r} is on site {site_id!r} already")
    when = _when(at, utcnow())
    current = _open_placement(session, device)
    if to_ms(when) < to_ms(current.valid_from):
        raise BadTime(f"device {device_id!r} is on its site since {current.valid_from.isoformat()}")
    if last_reading_ms is not None and to_ms(when) <= last_reading_ms:
        raise BadTime(f"device {device_id!r} has readings stored for its site until "
                      f"{from_ms(last_reading_ms).isoformat()}: move it after that")
    old_farm = get_site(session, device.site_id).farm_id
    if target.farm_id != old_farm:
        if device.gateway_id is not None:
            raise GatewayBound(f"device {device_id!r} reports through gateway "
                               f"{device.gateway_id!r} of farm {old_farm!r}")
        children = session.scalar(select(Device.id).where(Device.gateway_id == device.id,
                                                          Device.retired_at.is_(None)).limit(1))
        if children is not None:
            raise GatewayBound(f"gateway {device_id!r} has devices behind it on farm {old_farm!r}")
    current.valid_to = when
    placement = DevicePlacement(device_id=device.id, site_id=site_id, valid_from=when)
    session.add(placement)
    device.site_id = site_id
    bump_version(session)
    return placement


def _retire_device(session: Session, device: Device, when: datetime) -> None:
    current = _open_placement(session, device)
    if to_ms(when) < to_ms(current.valid_from):
        raise BadTime(f"device {device.id!r} is on its site since {current.valid_from.isoformat()}")
    current.valid_to = when
    device.retired_at = when


def retire_device(session: Session, device_id: str, *, at: datetime | None = None) -> Device:
    """Retire a device from ``at`` (default now; caller commits): it may no longer connect
    or publish and is no longer expected to report. Retiring a retired device changes
    nothing."""
    device = get_device(session, device_id)
    if device.retired_at is None:
        _retire_device(session, device, _when(at, utcnow()))
        bump_version(session)
    return device


def _retire_site(session: Session, site: Site, when: datetime) -> None:
    for device in session.scalars(select(Device).where(Device.site_id == site.id,
                                                       Device.retired_at.is_(None))):
        _retire_device(session, device, when)
    site.retired_at = when


def retire_site(session: Session, site_id: str, *, at: datetime | None = None) -> Site:
    """Retire a site and the devices on it from ``at`` (default now; caller commits).
    Retiring a retired site changes nothing."""
    site = get_site(session, site_id)
    if site.retired_at is None:
        _retire_site(session, site, _when(at, utcnow()))
        bump_version(session)
    return site


def retire_farm(session: Session, farm_id: str, *, at: datetime | None = None) -> Farm:
    """Retire a farm, its sites and their devices from ``at`` (default now; caller commits).
    Retiring a retired farm changes nothing."""
    farm = get_farm(session, farm_id)
    if farm.retired_at is None:
        when = _when(at, utcnow())
        for site in session.scalars(select(Site).where(Site.farm_id == farm.id,
                                                       Site.retired_at.is_(None))):
            _retire_site(session, site, when)
        farm.retired_at = when
        bump_version(session)
    return farm
