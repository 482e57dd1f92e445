"""Report completeness by county, township, farm, site or device.

Admin: everything. Agronomist: the farms of its scope only (county rows then cover just
those farms; ``scoped`` says so). Bureau: county and city rows, and township/farm rows of
groups with at least k farms (k-anonymity); no site or device rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from analytics.indicators.rollup import Level
from api.deps import AnyRole, DbSession, Services
from api.usecases import completeness as uc

router = APIRouter(tags=["completeness"])


class RowOut(BaseModel):
    level: str
    key: str
    county_id: str | None
    n_farms: int
    n_sites: int
    n_devices: int
    n_active: int
    expected: int = Field(description="reports expected [count]")
    received: int = Field(description="reports received, at most one per report interval")
    completeness_pct: float | None
    active_pct: float | None
    longest_gap_s: int
    gap_resolution_s: int
    device_type: str | None = None
    site_id: str | None = None
    farm_id: str | None = None


class CompletenessOut(BaseModel):
    period: str
    start: datetime
    end: datetime
    measured_until: datetime
    level: str
    active_threshold_pct: float
    scoped: bool = Field(description="rows cover only the caller's farms")
    rows: list[RowOut]
    withheld_groups: int = Field(description="groups under the bureau's minimum farm count")
    excluded_devices: dict[str, int]
    store_queries: int


@router.get("/completeness", response_model=CompletenessOut)
def completeness(
    principal: AnyRole, session: DbSession, services: Services,
    level: Level = Level.COUNTY,
    period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    start: datetime | None = None, end: datetime | None = None,
    county_id: Annotated[str | None, Query(max_length=32)] = None,
    farm_id: Annotated[str | None, Query(max_length=64)] = None,
    threshold_pct: Annotated[float | None, Query(gt=0, le=100)] = None,
) -> CompletenessOut:
    """Expected and received reports, completeness [%], active devices and longest gap [s] per
    group, for a period (default: the last 24 hours; ``period=2025-06`` for a CST month)."""
    got = uc.completeness(session, services, principal, uc.CompletenessRequest(
        level=level, period=period, start=start, end=end, county_id=county_id, farm_id=farm_id,
        threshold_pct=threshold_pct))
    rows = [RowOut(level=d.row.level.value, key=d.row.key, county_id=d.row.county_id,
                   n_farms=d.row.n_farms, n_sites=d.row.n_sites, n_devices=d.row.n_devices,
                   n_active=d.row.n_active, expected=d.row.expected, received=d.row.received,
                   completeness_pct=d.row.completeness_pct, active_pct=d.row.active_pct,
                   longest_gap_s=d.row.longest_gap_s, gap_resolution_s=d.row.gap_resolution_s,
                   device_type=d.device_type, site_id=d.site_id, farm_id=d.farm_id)
            for d in got.rows]
    return CompletenessOut(
        period=got.period, start=got.start, end=got.end, measured_until=got.measured_until,
        level=got.level.value, active_threshold_pct=got.active_threshold_pct,
        scoped=got.scoped, rows=rows, withheld_groups=got.withheld_groups,
        excluded_devices=got.excluded_devices, store_queries=got.store_queries)
