"""Provisioning: register devices and hand out their MQTT credentials exactly once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from devices.catalogue import DEVICE_TYPES
from devices.credentials import hash_password, new_secret
from devices.registry import Device, Site, bump_version, utcnow
from storage.errors import Conflict, InvalidInput, NotFound

DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class ProvisioningError(ValueError):
    """A device cannot be provisioned as asked."""


class InvalidDevice(ProvisioningError, InvalidInput):
    """The new device's id, type, site or gateway is not acceptable."""


class DeviceExists(ProvisioningError, Conflict):
    """A device with that id is registered already."""


class UnknownDevice(ProvisioningError, NotFound):
    """No device with that id."""


class DeviceRevoked(ProvisioningError, Conflict):
    """The device is revoked."""


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """Credentials shown to the caller once; only the hash is stored."""

    device_id: str
    mqtt_username: str
    mqtt_password: str


def provision_device(
    session: Session,
    *,
    device_id: str,
    device_type: str,
    site_id: str,
    attributes: dict[str, Any] | None = None,
    gateway_id: str | None = None,
) -> IssuedCredentials:
    """Register a device and issue its MQTT credentials (caller commits)."""
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise InvalidDevice(f"invalid device_id {device_id!r}")
    if device_type not in DEVICE_TYPES:
        raise InvalidDevice(f"unknown device type {device_type!r}")
    if session.get(Site, site_id) is None:
        raise InvalidDevice(f"unknown site {site_id!r}")
    if session.get(Device, device_id) is not None:
        raise DeviceExists(f"device {device_id!r} exists")
    if gateway_id is not None:
        gateway = session.get(Device, gateway_id)
        if gateway is None or gateway.type != "gateway":
            raise InvalidDevice(f"{gateway_id!r} is not a registered gateway")
    password = new_secret()
    session.add(
        Device(
            id=device_id,
            type=device_type,
            site_id=site_id,
            gateway_id=gateway_id,
            attributes=dict(attributes or {}),
            mqtt_username=device_id,
            password_hash=hash_password(password),
        )
    )
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
