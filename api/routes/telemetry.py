"""Range queries over stored telemetry, and the newest values of many devices."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Response

from api.deps import DbSession, FieldStaff, Services
from api.schemas import DeviceLatestOut, PointOut, TelemetryOut
from api.usecases import telemetry as uc
from storage.clock import from_ms
from storage.telemetry import Aggregation

router = APIRouter(tags=["telemetry"])


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
    got = uc.series(session, services.store, principal, uc.RangeRequest(
        quantity=quantity, device_id=device_id, site_id=site_id, start=start, end=end,
        every=every, agg=agg))
    return TelemetryOut(
        quantity=got.quantity, unit=got.unit, agg=got.agg.value if got.agg else None,
        every_s=got.every_s,
        points=[PointOut(device_id=p.device_id, quantity=p.quantity, ts=from_ms(p.ts_ms),
                         value=p.value) for p in got.points],
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
    body = uc.newest_values(session, services.store, principal, county_id=county_id,
                            farm_id=farm_id, site_id=site_id, quantity=quantity)
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")
