"""Range queries over stored telemetry."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import groupby
from operator import attrgetter
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import select

from api.deps import DbSession, FieldStaff, Services
from api.schemas import DeviceLatestOut, PointOut, TelemetryOut
from api.scope import ensure_device_visible, ensure_farm_visible, ensure_site_visible, farm_clause
from api.timeutil import from_ms, to_ms
from devices.catalogue import QUANTITIES
from devices.registry import County, Device, Farm, Site
from storage.telemetry import Aggregation, RangeQuery

router = APIRouter(tags=["telemetry"])

_EVERY = re.compile(r"^(\d{1,7})(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_POINTS = 100_000
MAX_LATEST_DEVICES = 5_000  # devices per /telemetry/latest answer (a county may hold more)
_UNITS = {q: spec.unit for q, spec in QUANTITIES.items()}


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


@router.get("/telemetry/latest", response_model=list[DeviceLatestOut])
def latest_values(
    principal: FieldStaff,
    session: DbSession,
    services: Services,
    county_id: Annotated[str | None, Query(max_length=32)] = None,
    farm_id: Annotated[str | None, Query(max_length=64)] = None,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    quantity: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The newest value of each quantity (or of ``quantity``) of every device of one county,
    farm or site, by device id; devices without data have no ``values``.

    At most ``MAX_LATEST_DEVICES`` devices (422 beyond: narrow to a farm or a site). An
    agronomist sees the devices of its scope; a county, farm or site outside it answers 404.
    The answer (``DeviceLatestOut`` items) is encoded by orjson from plain dicts: a model per
    value, validated again by FastAPI, costs ~10 ms of CPU for a 1,000-device farm here.
    """
    chosen = [v for v in (county_id, farm_id, site_id) if v is not None]
    if len(chosen) != 1:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "give exactly one of county_id, farm_id and site_id")
    if quantity is not None and quantity not in QUANTITIES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown quantity {quantity}")
    q = (select(Device.id, Device.type, Device.site_id)
         .join(Site, Device.site_id == Site.id).join(Farm, Site.farm_id == Farm.id)
         .order_by(Device.id))
    if (clause := farm_clause(principal)) is not None:
        q = q.where(clause)
    if site_id is not None:
        ensure_site_visible(session, principal, site_id)
        q = q.where(Device.site_id == site_id)
    elif farm_id is not None:
        ensure_farm_visible(session, principal, farm_id)
        q = q.where(Site.farm_id == farm_id)
    else:
        visible = select(Farm.id).where(Farm.county_id == county_id)
        if clause is not None:
            visible = visible.where(clause)
        if session.get(County, county_id) is None or (
                clause is not None and session.scalar(visible.limit(1)) is None):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown county")
        q = q.where(Farm.county_id == county_id)
    rows = session.execute(q.limit(MAX_LATEST_DEVICES + 1)).all()
    if len(rows) > MAX_LATEST_DEVICES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"more than {MAX_LATEST_DEVICES} devices: narrow to a farm or a site")
    values: dict[str, list[dict[str, Any]]] = {}
    stamps: dict[int, datetime] = {}  # the quantities of one record share their timestamp
    latest = services.store.latest([d for d, _, _ in rows], quantity) if rows else []
    for device, readings in groupby(latest, attrgetter("device_id")):  # sorted by the stores
        out = values.setdefault(device, [])
        for r in readings:
            if (unit := _UNITS.get(r.quantity)) is None:
                continue
            if (ts := stamps.get(r.ts_ms)) is None:
                ts = stamps[r.ts_ms] = from_ms(r.ts_ms)
            out.append({"quantity": r.quantity, "unit": unit, "value": r.value, "ts": ts,
                        "quality": r.quality})
    body = [{"device_id": d, "type": t, "site_id": s, "values": values.get(d, [])}
            for d, t, s in rows]
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")
