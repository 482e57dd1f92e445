"""Devices: status, provisioning, latest values."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import Admin, DbSession, FieldStaff, Services
from api.schemas import DeviceIn
from api.usecases import devices as uc

router = APIRouter(prefix="/devices", tags=["devices"])


@router.get("", response_model=list[uc.DeviceStatus])
def list_devices(principal: FieldStaff, session: DbSession, services: Services,
                 site_id: str | None = None) -> list[uc.DeviceStatus]:
    """Every device (an agronomist's: of its scope) with its status (last seen, online by
    expected interval, battery)."""
    return uc.device_statuses(session, services.store, principal, site_id)


@router.post("", response_model=uc.DeviceCredentials, status_code=status.HTTP_201_CREATED)
def create_device(body: DeviceIn, _: Admin, session: DbSession,
                  services: Services) -> uc.DeviceCredentials:
    """Provision a device; its MQTT password is in this response and nowhere else."""
    return uc.provision(session, services, uc.NewDevice(
        device_id=body.device_id, type=body.type, site_id=body.site_id,
        gateway_id=body.gateway_id, attributes=body.attributes))


@router.get("/{device_id}", response_model=uc.DeviceStatus)
def get_device(device_id: str, principal: FieldStaff, session: DbSession,
               services: Services) -> uc.DeviceStatus:
    """One device with its status."""
    return uc.device_status(session, services.store, principal, device_id)


@router.get("/{device_id}/latest", response_model=list[uc.LatestValue])
def latest(device_id: str, principal: FieldStaff, session: DbSession,
           services: Services) -> list[uc.LatestValue]:
    """The newest value of each quantity of a device."""
    return uc.latest_values(session, services.store, principal, device_id)


@router.post("/{device_id}/rotate-credentials", response_model=uc.DeviceCredentials)
def rotate_device_credentials(device_id: str, _: Admin, session: DbSession,
                              services: Services) -> uc.DeviceCredentials:
    """Issue a new MQTT password (in this response only); the old one stops working.

    The embedded broker applies it at the device's next connection; an external Mosquitto
    after ``farmtel mosquitto-sync``.
    """
    return uc.rotate(session, services, device_id)


@router.post("/{device_id}/revoke", response_model=uc.DeviceStatus)
def revoke(device_id: str, _: Admin, session: DbSession, services: Services) -> uc.DeviceStatus:
    """Revoke a device: the broker refuses its next connection, ingest dead-letters its data
    (``revoked_device``). Idempotent; history stays queryable."""
    return uc.revoke(session, services, device_id)
