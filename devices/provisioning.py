"""Registry writes: farms, sites and devices are registered here (and only here), each write
bumping the registry version; devices get their MQTT credentials exactly once, and their first
placement (``devices.registry.DevicePlacement``). Edits, moves and retirements: ``devices.fleet``.

Every refusal is its own error class, a kind of ``storage.errors`` (``InvalidInput`` 422,
``Conflict`` 409, ``NotFound`` 404), so callers map them by type.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from devices.catalogue import DEVICE_TYPES
from devices.credentials import hash_password, new_secret
from devices.registry import (
    County,
    Device,
    DevicePlacement,
    Farm,
    IrrigationMethod,
    Site,
    SiteKind,
    bump_version,
    utcnow,
)
from storage.errors import Conflict, InvalidInput, NotFound
from storage.naming import ID_PATTERN, id_pattern

DEVICE_ID_PATTERN = ID_PATTERN
"""Device ids (full match): ``storage.naming.ID_CHARS``, the alphabet Mosquitto's files and the
topic scheme accept, at most 128 characters."""


class ProvisioningError(ValueError):
    """A registry write refused as asked (base of the errors below)."""


class InvalidDeviceId(ProvisioningError, InvalidInput):
    """The device id does not match ``DEVICE_ID_PATTERN``."""


class UnknownDeviceType(ProvisioningError, InvalidInput):
    """The device type is not in the catalogue."""


class UnknownSite(ProvisioningError, InvalidInput):
    """The site a new device is to sit on is not registered."""


class NotAGateway(ProvisioningError, InvalidInput):
    """The gateway named for a new device is not a registered gateway in service (a device of
    another type, a revoked or retired gateway)."""


class GatewayBehindGateway(NotAGateway):
    """A gateway was to report through another gateway (gateways publish their own topic)."""


class GatewayOfAnotherFarm(ProvisioningError, InvalidInput):
    """The gateway named for a new device sits on another farm than the device's site (its
    topic, ``farmtel/<farm>/<gateway>/gateway``, names the gateway's farm)."""


class DeviceExists(ProvisioningError, Conflict):
    """A device with that id is registered already."""


class UnknownDevice(ProvisioningError, NotFound):
    """No device with that id."""


class DeviceRevoked(ProvisioningError, Conflict):
    """The device is revoked."""


class UnknownCounty(ProvisioningError, InvalidInput):
    """The county of a new farm is not registered."""


class FarmExists(ProvisioningError, Conflict):
    """A farm with that id is registered already."""


class UnknownFarm(ProvisioningError, InvalidInput):
    """The farm of a new site is not registered."""


class SiteExists(ProvisioningError, Conflict):
    """A site with that id is registered already."""


class InvalidField(ProvisioningError, InvalidInput):
    """A farm's or site's value is malformed or out of range; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class FarmRetired(ProvisioningError, Conflict):
    """The farm is retired: nothing new goes on it."""


class SiteRetired(ProvisioningError, Conflict):
    """The site is retired: no device goes on it."""


REGISTRY_ID_PATTERN = id_pattern(64)
"""Farm and site ids (full match): ``storage.naming.ID_CHARS``, at most 64 characters."""

SITE_LIMITS: Mapping[str, tuple[float, float]] = MappingProxyType({
    "area_mu": (0.0, 1e7),  # [亩]
    "head_count": (0, 10_000_000),
    "lat_deg": (-90.0, 90.0),
    "lon_deg": (-180.0, 180.0),
    "elevation_m": (-500.0, 9000.0),
})
"""Allowed ranges (inclusive) of a site's numbers."""

_TEXT_LIMITS: Mapping[str, tuple[int, int]] = MappingProxyType({
    "name": (1, 128), "township": (0, 64), "crop": (0, 64), "species": (0, 64)})


def _check_text(field: str, value: str | None) -> None:
    lo, hi = _TEXT_LIMITS[field]
    if (value is None and lo > 0) or (value is not None and not lo <= len(value) <= hi):
        raise InvalidField(field, f"{field} needs {lo} to {hi} characters")
    if value is not None and "\x00" in value:  # PostgreSQL's text cannot hold it
        raise InvalidField(field, f"{field} holds a NUL character")


def check_farm(farm: Farm) -> None:
    """The rules a farm's own values follow (``InvalidField``)."""
    if not REGISTRY_ID_PATTERN.fullmatch(farm.id or ""):
        raise InvalidField("id", f"invalid farm id {farm.id!r}")
    _check_text("name", farm.name)
    _check_text("township", farm.township)


def check_site(site: Site) -> None:
    """The rules a site's own values follow (``InvalidField``): id, kind, name, ranges."""
    if not REGISTRY_ID_PATTERN.fullmatch(site.id or ""):
        raise InvalidField("id", f"invalid site id {site.id!r}")
    if site.kind not in set(SiteKind):
        raise InvalidField("kind", f"unknown site kind {site.kind!r}")
    for field in ("name", "crop", "species"):
        _check_text(field, getattr(site, field))
    method = site.irrigation_method
    if method is not None and method not in set(IrrigationMethod):
        raise InvalidField("irrigation_method", f"unknown irrigation method {method!r}: one of "
                           + ", ".join(m.value for m in IrrigationMethod))
    for field, (lo, hi) in SITE_LIMITS.items():
        value = getattr(site, field)
        if value is not None and not lo <= value <= hi:
            raise InvalidField(field, f"{field} {value} is outside [{lo:g}, {hi:g}]")


def create_farm(session: Session, farm: Farm, *, bump: bool = True) -> Farm:
    """Register ``farm`` (caller commits; ``bump=False`` leaves the registry version to the
    caller); ``InvalidField``, ``UnknownCounty``, ``FarmExists``."""
    check_farm(farm)
    if session.get(County, farm.county_id) is None:
        raise UnknownCounty("unknown county")
    if session.get(Farm, farm.id) is not None:
        raise FarmExists("farm exists")
    session.add(farm)
    if bump:
        bump_version(session)
    return farm


def create_site(session: Session, site: Site, *, bump: bool = True) -> Site:
    """Register ``site`` (caller commits; ``bump`` as for ``create_farm``); ``InvalidField``,
    ``UnknownFarm``, ``FarmRetired``, ``SiteExists``."""
    check_site(site)
    farm = session.get(Farm, site.farm_id)
    if farm is None:
        raise UnknownFarm("unknown farm")
    if farm.retired_at is not None:
        raise FarmRetired(f"farm {farm.id!r} is retired")
    if session.get(Site, site.id) is not None:
        raise SiteExists("site exists")
    session.add(site)
    if bump:
        bump_version(session)
    return site


def insert_registry_rows(connection: Connection, *, farms: Iterable[Mapping[str, Any]] = (),
                         sites: Iterable[Mapping[str, Any]] = (),
                         devices: Iterable[Mapping[str, Any]] = (),
                         chunk: int = 50_000) -> tuple[int, int, int]:
    """Insert rows of farms, sites and devices (SQLAlchemy Core executemany in chunks of
    ``chunk`` rows; gateways before the devices behind them) unchecked, for fleets of
    simulated devices, each device with its first placement (from its ``created_at``), then
    bump the registry version once if anything was inserted (in the caller's transaction).
    Returns the farms, sites and devices inserted."""
    inserted = []
    for table, rows in ((Farm, farms), (Site, sites), (Device, devices)):
        n = 0
        it = iter(rows)
        while batch := list(itertools.islice(it, chunk)):
            if table is Device:
                now = utcnow()
                batch = [r if "created_at" in r else {**r, "created_at": now} for r in batch]
                connection.execute(insert(table), batch)
                connection.execute(insert(DevicePlacement), [
                    {"device_id": r["id"], "site_id": r["site_id"], "valid_from": r["created_at"]}
                    for r in batch])
            else:
                connection.execute(insert(table), batch)
            n += len(batch)
        inserted.append(n)
    if any(inserted):
        with Session(bind=connection) as session:
            bump_version(session)
            session.flush()
    farms_added, sites_added, devices_added = inserted
    return farms_added, sites_added, devices_added


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """Credentials shown to the caller once; only the hash is stored."""

    device_id: str
    mqtt_username: str
    mqtt_password: str


def _check_gateway(session: Session, gateway_id: str, device_type: str, site: Site) -> None:
    """``gateway_id`` may forward the records of a new ``device_type`` device on ``site``: a
    gateway in service on the same farm, and the new device is no gateway itself."""
    if device_type == "gateway":
        raise GatewayBehindGateway("a gateway cannot report through another gateway")
    gateway = session.get(Device, gateway_id)
    if gateway is None or gateway.type != "gateway":
        raise NotAGateway(f"{gateway_id!r} is not a registered gateway")
    if gateway.revoked_at is not None or gateway.retired_at is not None:
        raise NotAGateway(f"gateway {gateway_id!r} is revoked or retired")
    gateway_site = session.get(Site, gateway.site_id)
    gateway_farm = gateway_site.farm_id if gateway_site is not None else None
    if gateway_farm != site.farm_id:
        raise GatewayOfAnotherFarm(f"gateway {gateway_id!r} is on another farm "
                                   f"({gateway_farm!r}) than site {site.id!r} "
                                   f"({site.farm_id!r})")


def provision_device(
    session: Session,
    *,
    device_id: str,
    device_type: str,
    site_id: str,
    attributes: dict[str, Any] | None = None,
    gateway_id: str | None = None,
    bump: bool = True,
) -> IssuedCredentials:
    """Register a device on ``site_id`` from now and issue its MQTT credentials (caller
    commits). Refused: ``InvalidDeviceId`` (outside ``storage.naming.ID_CHARS``: Mosquitto could
    never accept it), ``UnknownDeviceType``, ``UnknownSite``, ``SiteRetired``, ``DeviceExists``,
    ``NotAGateway`` (``gateway_id`` not a gateway in service, or a gateway behind a gateway),
    ``GatewayOfAnotherFarm``."""
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise InvalidDeviceId(f"invalid device_id {device_id!r}: letters, digits and . _ - "
                              "only, starting with a letter or digit, at most 128 characters")
    if device_type not in DEVICE_TYPES:
        raise UnknownDeviceType(f"unknown device type {device_type!r}")
    site = session.get(Site, site_id)
    if site is None:
        raise UnknownSite(f"unknown site {site_id!r}")
    if site.retired_at is not None:
        raise SiteRetired(f"site {site_id!r} is retired")
    if session.get(Device, device_id) is not None:
        raise DeviceExists(f"device {device_id!r} exists")
    if gateway_id is not None:
        _check_gateway(session, gateway_id, device_type, site)
    password = new_secret()
    now = utcnow()
    session.add(
        Device(
            id=device_id,
            type=device_type,
            site_id=site_id,
            gateway_id=gateway_id,
            attributes=dict(attributes or {}),
            mqtt_username=device_id,
            password_hash=hash_password(password),
            created_at=now,
        )
    )
    session.add(DevicePlacement(device_id=device_id, site_id=site_id, valid_from=now))
    if bump:
        bump_version(session)
    return IssuedCredentials(device_id=device_id, mqtt_username=device_id, mqtt_password=password)


def rotate_credentials(session: Session, device_id: str) -> IssuedCredentials:
    """Issue a new MQTT password for a device; the old one stops working (caller commits).

    The broker learns it from the registry: at once for the embedded broker, at the next
    ``farmtel mosquitto-sync`` for Mosquitto.
    """
    device = session.get(Device, device_id)
    if device is None:
        raise UnknownDevice(f"unknown device {device_id!r}")
    if device.revoked_at is not None:
        raise DeviceRevoked(f"device {device_id!r} is revoked")
    password = new_secret()
    device.password_hash = hash_password(password)
    bump_version(session)
    return IssuedCredentials(device_id=device.id, mqtt_username=device.mqtt_username,
                             mqtt_password=password)


def revoke_device(session: Session, device_id: str) -> bool:
    """Revoke a device: the broker refuses its next connection and ingest its messages.

    Returns False if it was already revoked (caller commits).
    """
    device = session.get(Device, device_id)
    if device is None:
        raise UnknownDevice(f"unknown device {device_id!r}")
    if device.revoked_at is not None:
        return False
    device.revoked_at = utcnow()
    bump_version(session)
    return True
