"""Report completeness by county, township, farm, site or device.

Admin: everything. Agronomist: the farms of its scope only (county rows then cover just
those farms; ``scoped`` says so). Bureau: county and city rows, and township/farm rows of
groups with at least k farms (k-anonymity); no site or device rows.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from analytics.indicators.privacy import FARM_DETAIL_LEVELS, k_anonymous
from analytics.indicators.rollup import CompletenessRow, Level, rollup
from analytics.indicators.service import measure
from api.auth import Role
from api.deps import AnyRole, DbSession, Principal, Services
from api.periods import now_ms, resolve_period, with_threshold
from api.scope import ensure_farm_visible, visible_farm_ids
from devices.registry import County, Farm
from storage.telemetry import StoreError

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


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _farms_wanted(session: DbSession, principal: Principal, county_id: str | None,
                  farm_id: str | None) -> set[str] | None:
    """Farms to measure: the caller's, narrowed by the filters; None = all."""
    visible = visible_farm_ids(session, principal)
    if farm_id is not None:
        ensure_farm_visible(session, principal, farm_id)
        return {farm_id}
    if county_id is not None:
        if session.get(County, county_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown county")
        in_county = set(session.scalars(select(Farm.id).where(Farm.county_id == county_id)))
        return in_county if visible is None else in_county & visible
    return visible


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
    bureau = principal.role is Role.BUREAU
    if bureau and (level in FARM_DETAIL_LEVELS or farm_id is not None):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "the bureau sees county aggregates and groups of farms only")
    p = resolve_period(period=period, start=start, end=end, default_days=1)
    config = with_threshold(services.indicators, threshold_pct)
    farms = _farms_wanted(session, principal, county_id, farm_id)
    try:
        view, fleet = measure(session, services.store, period=p, now_ms=now_ms(), config=config,
                              farm_ids=farms)
    except StoreError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    rows: list[CompletenessRow] = rollup(view, fleet, level)
    if county_id is not None:
        rows = [r for r in rows if r.county_id == county_id or r.level is Level.CITY]
    withheld = 0
    if bureau:
        kept = k_anonymous(rows, min_farms=config.min_farms_per_group)
        rows, withheld = kept.rows, kept.withheld
    out = []
    for r in rows:
        extra = {}
        if level is Level.DEVICE:
            dev = view.devices[r.key]
            extra = {"device_type": dev.device_type, "site_id": dev.site_id, "farm_id": dev.farm_id}
        elif level is Level.SITE:
            site = view.sites[r.key]
            extra = {"site_id": site.site_id, "farm_id": site.farm_id}
        elif level is Level.FARM:
            extra = {"farm_id": r.key}
        out.append(RowOut(level=r.level.value, key=r.key, county_id=r.county_id,
                          n_farms=r.n_farms, n_sites=r.n_sites, n_devices=r.n_devices,
                          n_active=r.n_active, expected=r.expected, received=r.received,
                          completeness_pct=r.completeness_pct, active_pct=r.active_pct,
                          longest_gap_s=r.longest_gap_s, gap_resolution_s=r.gap_resolution_s,
                          **extra))
    return CompletenessOut(
        period=p.label, start=_dt(p.start_ms), end=_dt(p.end_ms),
        measured_until=_dt(fleet.period.end_ms), level=level.value,
        active_threshold_pct=config.active_threshold_pct, scoped=farms is not None,
        rows=out, withheld_groups=withheld, excluded_devices=dict(Counter(fleet.excluded.values())),
        store_queries=fleet.store_queries)
