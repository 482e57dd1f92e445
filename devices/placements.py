"""Which devices stood on a site over a time range, and when: the site's share of the fleet's
history, from the placement records (``devices.registry.DevicePlacement``).

A site's charts and water balance read each device only for the time it stood on the site, so
a device moved between sites shows its readings before the move under the old site and those
after it under the new one, and a retired device's past stays with its site (its last
placement ends at its retirement). Readings from before a device's registration (a backlog it
sent, a history it was backfilled with) belong to its first site: its first placement reaches
back without limit. Revoked devices are left out, as everywhere a site's
devices are listed (their credentials were withdrawn, so their readings are not trusted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devices.registry import Device, DevicePlacement
from storage.clock import to_ms

Span = tuple[int, int]
"""``[from, until)`` [UTC ms]."""
OPEN_END_MS: Final = 2**62
"""The end of a placement still open [UTC ms]."""
OPEN_START_MS: Final = -(2**62)
"""The start of a device's first placement [UTC ms]."""


@dataclass(frozen=True, slots=True)
class Placed:
    """A device and the spans of a range during which it stood on the site, oldest first
    (more than one when it left and came back)."""

    device: Device
    spans: tuple[Span, ...]

    def clip(self, start_ms: int, end_ms: int) -> list[Span]:
        """The parts of ``[start_ms, end_ms)`` the device stood on the site [UTC ms]."""
        return [(max(a, start_ms), min(b, end_ms)) for a, b in self.spans
                if max(a, start_ms) < min(b, end_ms)]


def placed_on(session: Session, site_id: str, start_ms: int, end_ms: int,
              types: Sequence[str] | None = None) -> list[Placed]:
    """The non-revoked devices (of ``types``, or all) that stood on ``site_id`` at some time in
    ``[start_ms, end_ms)`` [UTC ms], by id, each with its spans there clipped to the range.

    A device's first placement, or the device on the site without any placement record
    (written before placements were kept), reaches back without limit; the latter until its
    retirement."""
    first = (select(DevicePlacement.device_id, func.min(DevicePlacement.valid_from).label("at"))
             .group_by(DevicePlacement.device_id).subquery())
    q = (select(Device, DevicePlacement, first.c.at)
         .join(DevicePlacement, DevicePlacement.device_id == Device.id)
         .join(first, first.c.device_id == Device.id)
         .where(DevicePlacement.site_id == site_id, Device.revoked_at.is_(None)))
    legacy = select(Device).where(
        Device.site_id == site_id, Device.revoked_at.is_(None),
        ~select(DevicePlacement.id).where(DevicePlacement.device_id == Device.id).exists())
    if types is not None:
        q = q.where(Device.type.in_(types))
        legacy = legacy.where(Device.type.in_(types))
    spans: dict[str, list[Span]] = {}
    devices: dict[str, Device] = {}
    for device, placement, first_at in session.execute(q):
        devices[device.id] = device
        since = to_ms(placement.valid_from)
        spans.setdefault(device.id, []).append(
            (OPEN_START_MS if since == to_ms(first_at) else since, _end_ms(placement.valid_to)))
    for device in session.scalars(legacy):
        devices[device.id] = device
        spans[device.id] = [(OPEN_START_MS, _end_ms(device.retired_at))]
    out = []
    for device_id in sorted(devices):
        placed = Placed(devices[device_id], tuple(sorted(spans[device_id])))
        clipped = placed.clip(start_ms, end_ms)
        if clipped:
            out.append(Placed(placed.device, tuple(clipped)))
    return out


def _end_ms(at: datetime | None) -> int:
    """A placement's end [UTC ms]; open (None) is the far future."""
    return OPEN_END_MS if at is None else to_ms(at)
