"""An in-memory, read-only view of the registry for hot paths (ingest, status), reloaded on change."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices.registry import Device, Farm, Site, current_version


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What ingest needs to know about a device, without touching the database."""

    device_id: str
    device_type: str
    site_id: str
    farm_id: str
    county: str
    gateway_id: str | None
    revoked: bool
    """Revoked or retired: no longer admitted (ingest dead-letters its messages)."""


def load_devices(session: Session) -> dict[str, DeviceInfo]:
    """Every device with its site, farm and county, in one query."""
    rows = session.execute(
        select(Device.id, Device.type, Device.site_id, Site.farm_id, Farm.county_id,
               Device.gateway_id, Device.revoked_at, Device.retired_at)
        .join(Site, Device.site_id == Site.id)
        .join(Farm, Site.farm_id == Farm.id)
    )
    return {
        r[0]: DeviceInfo(r[0], r[1], r[2], r[3], r[4], r[5], r[6] is not None or r[7] is not None)
        for r in rows
    }


class DeviceDirectory:
    """Registry cache: lookups are dict reads; reloads when the registry version changes.

    ``refresh_if_stale`` is cheap (one tiny query) and rate-limited, so a miss on an unknown
    device costs at most one version check per ``min_check_interval_s``.
    """

    def __init__(
        self,
        sessions: sessionmaker[Any],
        *,
        min_check_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._min_check_interval_s = min_check_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._devices: Mapping[str, DeviceInfo] = MappingProxyType({})
        self._version = -1
        self._last_check = float("-inf")

    def get(self, device_id: str) -> DeviceInfo | None:
        """The cached device, or ``None``."""
        return self._devices.get(device_id)

    def __len__(self) -> int:
        return len(self._devices)

    def snapshot(self) -> Mapping[str, DeviceInfo]:
        """The current registry view (an immutable mapping)."""
        return self._devices

    def reload(self) -> None:
        """Load the whole registry now."""
        with self._lock, self._sessions() as session:
            version = current_version(session)
            self._devices = MappingProxyType(load_devices(session))
            self._version = version
            self._last_check = self._clock()

    def refresh_if_stale(self) -> bool:
        """Reload if the registry changed since the last load; True if it reloaded."""
        now = self._clock()
        if now - self._last_check < self._min_check_interval_s:
            return False
        with self._sessions() as session:
            version = current_version(session)
        self._last_check = now
        if version == self._version:
            return False
        self.reload()
        return True

    def lookup(self, device_id: str) -> DeviceInfo | None:
        """Cached device; on a miss, reload once if the registry changed meanwhile."""
        info = self._devices.get(device_id)
        if info is None and self.refresh_if_stale():
            info = self._devices.get(device_id)
        return info
