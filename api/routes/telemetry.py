"""Range queries over stored telemetry."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import DbSession, FieldStaff, Services
from api.schemas import PointOut, TelemetryOut
from api.scope import ensure_device_visible, ensure_site_visible
from api.timeutil import from_ms, to_ms
from devices.catalogue import QUANTITIES
from storage.telemetry import Aggregation, RangeQuery

router = APIRouter(tags=["telemetry"])

_EVERY = re.compile(r"^(\d{1,7})(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_POINTS = 100_000


def parse_every(every: str) -> int:
    """``15m``, ``1h``, ``1d`` or ``900s`` -> seconds; ValueError otherwise."""
    m = _EVERY.fullmatch(every)
    if m is None or int(m.group(1)) == 0:
        raise ValueError(f"every must look like 30s, 15m, 1h or 1d, not {every!r}")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


@router.get("/telemetry", response_model=TelemetryOut)
def telemetry(
    principal: FieldStaff,
    session: DbSession,
    services: Services,
    quantity: Annotated[str, Query(max_length=64)],
    device_id: Annotated[str | None, Query(max_length=128)] = None,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    start: datetime | None = None,
    end: datetime | None = None,
    every: Annotated[str | None, Query(max_length=12)] = None,
    agg: Aggregation | None = None,
) -> TelemetryOut:
    """Raw or aggregated points of one quantity for a device or a whole site, in ``[start, end)``.

    Default range: the last 24 hours. ``every`` (e.g. ``1h``) with ``agg`` aggregates per
    window aligned to the epoch; ``every`` alone means ``mean``.
    """
    if quantity not in QUANTITIES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown quantity {quantity}")
    if (device_id is None) == (site_id is None):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "give exactly one of device_id and site_id")
    if device_id is not None:  # 404 also when outside an agronomist's scope
        ensure_device_visible(session, principal, device_id)
    if site_id is not None:
        ensure_site_visible(session, principal, site_id)
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=1)
    try:
        every_s = parse_every(every) if every is not None else None
        if every_s is not None and agg is None:
            agg = Aggregation.MEAN
        if agg is not None and every_s is None:
            raise ValueError("agg needs every")
        q = RangeQuery(quantity=quantity, start_ms=to_ms(start), end_ms=to_ms(end),
                       device_id=device_id, site_id=site_id, every_s=every_s, agg=agg,
                       limit=MAX_POINTS)
    except (ValueError, OverflowError, OSError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    points = services.store.query(q)
    return TelemetryOut(
        quantity=quantity, unit=QUANTITIES[quantity].unit, agg=agg.value if agg else None,
        every_s=every_s,
        points=[PointOut(device_id=p.device_id, quantity=p.quantity, ts=from_ms(p.ts_ms),
                         value=p.value) for p in points],
    )
