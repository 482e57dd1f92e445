"""Devices: status, provisioning, latest values."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import ColumnElement, select

from api.deps import Admin, DbSession, FieldStaff, Services
from api.schemas import DeviceCredentials, DeviceIn, DeviceOut, LatestOut
from api.scope import ensure_device_visible, farm_clause
from api.timeutil import from_ms
from devices.catalogue import DEVICE_TYPES, QUANTITIES
from devices.contract import telemetry_topic
from devices.provisioning import (
    ProvisioningError,
    provision_device,
    revoke_device,
    rotate_credentials,
)
from devices.registry import Device, Farm, Site
from storage.telemetry import Reading

router = APIRouter(prefix="/devices", tags=["devices"])

OFFLINE_AFTER_INTERVALS = 3  # a device is offline after missing 3 expected reports


def _device_rows(session: DbSession, device_id: str | None = None,
                 scope: ColumnElement[bool] | None = None) -> list[tuple[Device, str, str]]:
    q = (select(Device, Site.farm_id, Farm.county_id)
         .join(Site, Device.site_id == Site.id).join(Farm, Site.farm_id == Farm.id)
         .order_by(Device.id))
    if scope is not None:
        q = q.where(scope)
    if device_id is not None:
        q = q.where(Device.id == device_id)
    return [(d, f, c) for d, f, c in session.execute(q)]


def _status(rows: list[tuple[Device, str, str]], latest: list[Reading]) -> list[DeviceOut]:
    last_seen: dict[str, int] = {}
    battery: dict[str, float] = {}
    for r in latest:
        last_seen[r.device_id] = max(last_seen.get(r.device_id, 0), r.ts_ms)
        if r.quantity == "battery_v":
            battery[r.device_id] = r.value
    for d, _, _ in rows:  # a gateway is as fresh as the newest record it forwarded
        if d.gateway_id is not None and d.id in last_seen:
            last_seen[d.gateway_id] = max(last_seen.get(d.gateway_id, 0), last_seen[d.id])
    now = time.time() * 1000
    out = []
    for d, farm_id, county_id in rows:
        interval = DEVICE_TYPES[d.type].report_interval_s
        seen = last_seen.get(d.id)
        out.append(DeviceOut(
            device_id=d.id, type=d.type, site_id=d.site_id, farm_id=farm_id, county_id=county_id,
            gateway_id=d.gateway_id, attributes=d.attributes, revoked=d.revoked_at is not None,
            last_seen=from_ms(seen) if seen is not None else None,
            online=seen is not None and now - seen <= OFFLINE_AFTER_INTERVALS * interval * 1000,
            battery_v=battery.get(d.id), report_interval_s=interval,
        ))
    return out


@router.get("", response_model=list[DeviceOut])
def list_devices(principal: FieldStaff, session: DbSession, services: Services,
                 site_id: str | None = None) -> list[DeviceOut]:
    """Every device (an agronomist's: of its scope) with its status (last seen, online by
    expected interval, battery)."""
    rows = _device_rows(session, scope=farm_clause(principal))
    if site_id is not None:
        rows = [r for r in rows if r[0].site_id == site_id]
    latest = services.store.latest([d.id for d, _, _ in rows]) if rows else []
    return _status(rows, latest)


@router.post("", response_model=DeviceCredentials, status_code=status.HTTP_201_CREATED)
def create_device(body: DeviceIn, _: Admin, session: DbSession,
                  services: Services) -> DeviceCredentials:
    """Provision a device; its MQTT password is in this response and nowhere else."""
    try:
        issued = provision_device(session, device_id=body.device_id, device_type=body.type,
                                  site_id=body.site_id, attributes=body.attributes,
                                  gateway_id=body.gateway_id)
    except ProvisioningError as exc:
        code = (status.HTTP_409_CONFLICT if "exists" in str(exc)
                else status.HTTP_422_UNPROCESSABLE_CONTENT)
        raise HTTPException(code, str(exc)) from exc
    session.commit()
    services.on_registry_change()
    farm_id = session.get(Site, body.site_id).farm_id  # type: ignore[union-attr]
    return DeviceCredentials(device_id=issued.device_id, mqtt_username=issued.mqtt_username,
                             mqtt_password=issued.mqtt_password,
                             telemetry_topic=telemetry_topic(farm_id, issued.device_id))


@router.get("/{device_id}", response_model=DeviceOut)
def get_device(device_id: str, principal: FieldStaff, session: DbSession,
               services: Services) -> DeviceOut:
    """One device with its status."""
    rows = _device_rows(session, device_id, scope=farm_clause(principal))
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown device")
    return _status(rows, services.store.latest([device_id]))[0]


@router.get("/{device_id}/latest", response_model=list[LatestOut])
def latest(device_id: str, principal: FieldStaff, session: DbSession,
           services: Services) -> list[LatestOut]:
    """The newest value of each quantity of a device."""
    ensure_device_visible(session, principal, device_id)
    by_q: dict[str, Reading] = {}
    for r in services.store.latest([device_id]):
        by_q[r.quantity] = r
    return [
        LatestOut(quantity=q, unit=QUANTITIES[q].unit, value=r.value, ts=from_ms(r.ts_ms),
                  quality=int(r.quality))
        for q, r in sorted(by_q.items()) if q in QUANTITIES
    ]


def _farm_of(session: DbSession, device: Device) -> str:
    return session.get(Site, device.site_id).farm_id  # type: ignore[union-attr]


@router.post("/{device_id}/rotate-credentials", response_model=DeviceCredentials)
def rotate_device_credentials(device_id: str, _: Admin, session: DbSession,
                              services: Services) -> DeviceCredentials:
    """Issue a new MQTT password (in this response only); the old one stops working.

    The embedded broker applies it at the device's next connection; an external Mosquitto
    after ``farmtel mosquitto-sync``.
    """
    try:
        issued = rotate_credentials(session, device_id)
    except ProvisioningError as exc:
        code = (status.HTTP_404_NOT_FOUND if "unknown" in str(exc)
                else status.HTTP_409_CONFLICT)
        raise HTTPException(code, str(exc)) from exc
    device = session.get(Device, device_id)
    assert device is not None
    farm_id = _farm_of(session, device)
    session.commit()
    services.on_registry_change()
    return DeviceCredentials(device_id=issued.device_id, mqtt_username=issued.mqtt_username,
                             mqtt_password=issued.mqtt_password,
                             telemetry_topic=telemetry_topic(farm_id, issued.device_id))


@router.post("/{device_id}/revoke", response_model=DeviceOut)
def revoke(device_id: str, _: Admin, session: DbSession, services: Services) -> DeviceOut:
    """Revoke a device: the broker refuses its next connection, ingest dead-letters its data
    (``revoked_device``). Idempotent; history stays queryable."""
    try:
        changed = revoke_device(session, device_id)
    except ProvisioningError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    session.commit()
    if changed:
        services.on_registry_change()
    rows = _device_rows(session, device_id)
    return _status(rows, services.store.latest([device_id]))[0]
