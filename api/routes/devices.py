"""Devices: status, provisioning, latest values, corrections, moves and retirement."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import Admin, DbSession, FieldStaff, Services
from api.schemas import DeviceIn, DevicePatch, MoveIn, RetireIn
from api.usecases import devices as uc

router = APIRouter(prefix="/devices", tags=["devices"])


@router.get("", response_model=list[uc.DeviceStatus])
def list_devices(principal: FieldStaff, session: DbSession, services: Services,
                 site_id: str | None = None, retired: bool | None = None) -> list[uc.DeviceStatus]:
    """Every device (an agronomist's: of its scope) with its status (last seen, online by
    expected interval, battery); ``retired`` true lists only retired ones, false only those
    in service."""
    return uc.device_statuses(session, services.store, principal, site_id, retired=retired)


@router.post("", response_model=uc.DeviceCredentials, status_code=status.HTTP_201_CREATED)
def create_device(body: DeviceIn, _: Admin, session: DbSession,
                  services: Services) -> uc.DeviceCredentials:
    """Provision a device; its MQTT password is in this response and nowhere else."""
    return uc.provision(
        session, services, device_id=body.device_id, device_type=body.type,
        site_id=body.site_id, gateway_id=body.gateway_id, attributes=body.attributes)


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


@router.patch("/{device_id}", response_model=uc.DeviceStatus)
def edit_device(device_id: str, body: DevicePatch, principal: FieldStaff, session: DbSession,
                services: Services) -> uc.DeviceStatus:
    """Correct a device's attributes (replaced as a whole)."""
    return uc.edit(session, services, principal, device_id, body.model_dump(exclude_unset=True))


@router.post("/{device_id}/move", response_model=uc.Moved)
def move_device(device_id: str, body: MoveIn, principal: FieldStaff, session: DbSession,
                services: Services) -> uc.Moved:
    """Move a device to another site (an agronomist: within its scope) from ``at`` (default
    now, not before its newest stored reading). Its readings before stay with the old site.
    Moving to another farm changes its topic (``telemetry_topic``)."""
    return uc.move(session, services, principal, device_id, body.site_id, body.at)


@router.post("/{device_id}/retire", response_model=uc.DeviceStatus)
def retire_device(device_id: str, principal: FieldStaff, session: DbSession, services: Services,
                  body: RetireIn | None = None) -> uc.DeviceStatus:
    """Retire a device from ``at`` (default now): the broker refuses it, ingest dead-letters
    its data, the indicators stop expecting it. Idempotent; history stays queryable."""
    return uc.retire(session, services, principal, device_id, body.at if body else None)


@router.get("/{device_id}/placements", response_model=list[uc.Placement])
def device_placements(device_id: str, principal: FieldStaff,
                      session: DbSession) -> list[uc.Placement]:
    """The sites the device stood on, oldest first (``valid_to`` null: where it is now)."""
    return uc.placements(session, principal, device_id)
