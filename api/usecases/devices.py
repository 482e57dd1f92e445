"""Devices: status (last seen, online by expected interval, battery), newest values,
provisioning, credential rotation and revocation; corrections, moves between sites (with
their placement history) and retirement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from api.auth import Principal
from api.services import ApiServices
from api.usecases.scope import farm_clause, visible_device, visible_site
from devices import fleet
from devices.catalogue import DEVICE_TYPES, QUANTITIES
from devices.contract import telemetry_topic
from devices.provisioning import (
    IssuedCredentials,
    provision_device,
    revoke_device,
    rotate_credentials,
)
from devices.registry import Device, DevicePlacement, Farm, Site, live_device
from storage.clock import from_ms, now_ms, to_ms
from storage.errors import NotFound
from storage.telemetry import Reading, TelemetryStore

OFFLINE_AFTER_INTERVALS: Final = 3
"""A device is offline after missing this many expected reports."""


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A device as the fleet view shows it."""

    device_id: str
    type: str
    site_id: str
    farm_id: str
    county_id: str
    gateway_id: str | None
    attributes: dict[str, Any]
    revoked: bool
    last_seen: datetime | None
    online: bool
    battery_v: float | None
    report_interval_s: int
    retired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LatestValue:
    """The newest value of one quantity of a device."""

    quantity: str
    unit: str
    value: float
    ts: datetime
    quality: int


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """MQTT credentials, shown once (only a hash of the password is stored), and where the
    device publishes."""

    device_id: str
    mqtt_username: str
    mqtt_password: str
    telemetry_topic: str


def _rows(session: Session, device_id: str | None = None,
          scope: ColumnElement[bool] | None = None) -> list[tuple[Device, str, str]]:
    q = (select(Device, Site.farm_id, Farm.county_id)
         .join(Site, Device.site_id == Site.id).join(Farm, Site.farm_id == Farm.id)
         .order_by(Device.id))
    if scope is not None:
        q = q.where(scope)
    if device_id is not None:
        q = q.where(Device.id == device_id)
    return [(d, f, c) for d, f, c in session.execute(q)]


def _status(rows: list[tuple[Device, str, str]], latest: list[Reading]) -> list[DeviceStatus]:
    last_seen: dict[str, int] = {}
    battery: dict[str, float] = {}
    for r in latest:
        last_seen[r.device_id] = max(last_seen.get(r.device_id, 0), r.ts_ms)
        if r.quantity == "battery_v":
            battery[r.device_id] = r.value
    for d, _, _ in rows:  # a gateway is as fresh as the newest record it forwarded
        if d.gateway_id is not None and d.id in last_seen:
            last_seen[d.gateway_id] = max(last_seen.get(d.gateway_id, 0), last_seen[d.id])
    now = now_ms()
    out = []
    for d, farm_id, county_id in rows:
        interval = DEVICE_TYPES[d.type].report_interval_s
        seen = last_seen.get(d.id)
        out.append(DeviceStatus(
            device_id=d.id, type=d.type, site_id=d.site_id, farm_id=farm_id, county_id=county_id,
            gateway_id=d.gateway_id, attributes=d.attributes, revoked=d.revoked_at is not None,
            last_seen=from_ms(seen) if seen is not None else None,
            online=seen is not None and now - seen <= OFFLINE_AFTER_INTERVALS * interval * 1000,
            battery_v=battery.get(d.id), report_interval_s=interval, retired_at=d.retired_at,
        ))
    return out


def device_statuses(session: Session, store: TelemetryStore, principal: Principal,
                    site_id: str | None = None, *,
                    retired: bool | None = None) -> list[DeviceStatus]:
    """Every device in scope (optionally of one site; retired ones only, none or all) with
    its status, by id."""
    rows = _rows(session, scope=farm_clause(principal))
    if site_id is not None:
        rows = [r for r in rows if r[0].site_id == site_id]
    if retired is not None:
        rows = [r for r in rows if (r[0].retired_at is not None) == retired]
    latest = store.latest([d.id for d, _, _ in rows]) if rows else []
    return _status(rows, latest)


def device_status(session: Session, store: TelemetryStore, principal: Principal,
                  device_id: str) -> DeviceStatus:
    """One device in scope with its status (``NotFound`` otherwise)."""
    rows = _rows(session, device_id, scope=farm_clause(principal))
    if not rows:
        raise NotFound("unknown device")
    return _status(rows, store.latest([device_id]))[0]


def latest_values(session: Session, store: TelemetryStore, principal: Principal,
                  device_id: str) -> list[LatestValue]:
    """The newest value of each quantity of a device in scope, by quantity."""
    visible_device(session, principal, device_id)
    by_q = {r.quantity: r for r in store.latest([device_id])}
    return [LatestValue(quantity=q, unit=QUANTITIES[q].unit, value=r.value, ts=from_ms(r.ts_ms),
                        quality=int(r.quality))
            for q, r in sorted(by_q.items()) if q in QUANTITIES]


def _credentials(session: Session, issued: IssuedCredentials) -> DeviceCredentials:
    device = session.get(Device, issued.device_id)
    assert device is not None
    farm_id = device.site.farm_id
    return DeviceCredentials(device_id=issued.device_id, mqtt_username=issued.mqtt_username,
                             mqtt_password=issued.mqtt_password,
                             telemetry_topic=telemetry_topic(farm_id, issued.device_id))


def provision(session: Session, services: ApiServices, *, device_id: str, device_type: str,
              site_id: str, gateway_id: str | None = None,
              attributes: dict[str, Any] | None = None) -> DeviceCredentials:
    """Register a device and issue its MQTT credentials (``InvalidInput`` for a bad id, type,
    site or gateway, ``Conflict`` if it exists)."""
    issued = provision_device(session, device_id=device_id, device_type=device_type,
                              site_id=site_id, attributes=attributes, gateway_id=gateway_id)
    session.commit()
    services.on_registry_change()
    return _credentials(session, issued)


def rotate(session: Session, services: ApiServices, device_id: str) -> DeviceCredentials:
    """A new MQTT password for a device; the old one stops working (``NotFound``,
    ``Conflict`` when revoked)."""
    issued = rotate_credentials(session, device_id)
    credentials = _credentials(session, issued)
    session.commit()
    services.on_registry_change()
    return credentials


def revoke(session: Session, services: ApiServices, device_id: str) -> DeviceStatus:
    """Revoke a device (idempotent; ``NotFound`` if unknown); its status afterwards."""
    changed = revoke_device(session, device_id)
    session.commit()
    if changed:
        services.on_registry_change()
    return _one_status(session, services, device_id)


def gateways(session: Session) -> list[Device]:
    """Live gateways (what a new device may report through)."""
    return list(session.scalars(select(Device).where(Device.type == "gateway", live_device())
                                .order_by(Device.id)))


def site_devices(session: Session, site_id: str) -> list[Device]:
    """The live (neither revoked nor retired) devices of a site the caller was shown."""
    return list(session.scalars(select(Device).where(Device.site_id == site_id, live_device())
                                .order_by(Device.id)))


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a device stood: a site (and its farm) from ``valid_from`` until ``valid_to``
    (exclusive; None: it still stands there)."""

    site_id: str
    farm_id: str
    valid_from: datetime
    valid_to: datetime | None


@dataclass(frozen=True, slots=True)
class Moved:
    """A device after a move: its new placement and the topic it must now publish on (it
    names the farm, so it changes when the device moves to another farm)."""

    device: DeviceStatus
    placement: Placement
    telemetry_topic: str
    topic_changed: bool


def _one_status(session: Session, services: ApiServices, device_id: str) -> DeviceStatus:
    return _status(_rows(session, device_id), services.store.latest([device_id]))[0]


def _placement(session: Session, row: DevicePlacement) -> Placement:
    site = fleet.get_site(session, row.site_id)
    return Placement(site_id=row.site_id, farm_id=site.farm_id,
                     valid_from=from_ms(to_ms(row.valid_from)),
                     valid_to=None if row.valid_to is None else from_ms(to_ms(row.valid_to)))


def placements(session: Session, principal: Principal, device_id: str) -> list[Placement]:
    """The sites a device in scope stood on, oldest first (``NotFound`` otherwise)."""
    visible_device(session, principal, device_id)
    return [_placement(session, p) for p in fleet.placements(session, device_id)]


def edit(session: Session, services: ApiServices, principal: Principal, device_id: str,
         changes: Mapping[str, Any]) -> DeviceStatus:
    """Correct a device in scope (its attributes); ``NotFound``, ``InvalidInput``."""
    visible_device(session, principal, device_id)
    fleet.edit_device(session, device_id, changes)
    session.commit()
    services.on_registry_change()
    return _one_status(session, services, device_id)


def move(session: Session, services: ApiServices, principal: Principal, device_id: str,
         site_id: str, at: datetime | None = None) -> Moved:
    """Move a device in scope to a site in scope from ``at`` (default now); not before its
    newest stored reading, which carries its old site (``NotFound``, ``Conflict``,
    ``InvalidInput``)."""
    device, _, _ = visible_device(session, principal, device_id)
    visible_site(session, principal, site_id)
    before = fleet.device_topic(session, device)
    newest = max((r.ts_ms for r in services.store.latest([device_id])), default=None)
    placement = fleet.move_device(session, device_id, site_id, at=at, last_reading_ms=newest)
    session.commit()
    services.on_registry_change()
    after = fleet.device_topic(session, device)
    return Moved(device=_one_status(session, services, device_id),
                 placement=_placement(session, placement), telemetry_topic=after,
                 topic_changed=after != before)


def retire(session: Session, services: ApiServices, principal: Principal, device_id: str,
           at: datetime | None = None) -> DeviceStatus:
    """Retire a device in scope from ``at`` (default now): the broker refuses it, ingest
    dead-letters its messages, the indicators stop expecting it. Idempotent."""
    visible_device(session, principal, device_id)
    fleet.retire_device(session, device_id, at=at)
    session.commit()
    services.on_registry_change()
    return _one_status(session, services, device_id)
