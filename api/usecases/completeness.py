"""Report completeness by county, township, farm, site or device, within the caller's scope.

Admin: everything. Agronomist: the farms of its scope only (county rows then cover just
those farms; ``scoped`` says so). Bureau: county and city rows, and township/farm rows of
groups with at least k farms (k-anonymity); no site or device rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.indicators.periods import rolling_period
from analytics.indicators.privacy import FARM_DETAIL_LEVELS, k_anonymous
from analytics.indicators.rollup import CompletenessRow, Level, rollup
from analytics.indicators.service import measure
from api.auth import Principal, Role
from api.services import ApiServices
from api.usecases.periods import resolve_period, with_threshold
from api.usecases.scope import visible_farm, visible_farm_ids
from devices.registry import County, Farm
from storage.clock import from_ms, now_ms
from storage.errors import NotFound, OutOfScope
from storage.telemetry import StoreError


@dataclass(frozen=True, slots=True)
class CompletenessRequest:
    """What the caller asks for."""

    level: Level = Level.COUNTY
    period: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    county_id: str | None = None
    farm_id: str | None = None
    threshold_pct: float | None = None


@dataclass(frozen=True, slots=True)
class RowDetail:
    """A completeness row with where it lies (for device, site and farm rows)."""

    row: CompletenessRow
    device_type: str | None = None
    site_id: str | None = None
    farm_id: str | None = None


@dataclass(frozen=True, slots=True)
class CompletenessReport:
    """Completeness of a period at one level."""

    period: str
    start: datetime
    end: datetime
    measured_until: datetime
    level: Level
    active_threshold_pct: float
    scoped: bool
    rows: list[RowDetail]
    withheld_groups: int
    excluded_devices: dict[str, int]
    store_queries: int


def _farms_wanted(session: Session, principal: Principal, county_id: str | None,
                  farm_id: str | None) -> set[str] | None:
    """Farms to measure: the caller's, narrowed by the filters; None = all."""
    visible = visible_farm_ids(session, principal)
    if farm_id is not None:
        visible_farm(session, principal, farm_id)
        return {farm_id}
    if county_id is not None:
        if session.get(County, county_id) is None:
            raise NotFound("unknown county")
        in_county = set(session.scalars(select(Farm.id).where(Farm.county_id == county_id)))
        return in_county if visible is None else in_county & visible
    return visible


def completeness(session: Session, services: ApiServices, principal: Principal,
                 ask: CompletenessRequest) -> CompletenessReport:
    """Expected and received reports, completeness, active devices and longest gap per group
    for a period (default: the last 24 hours)."""
    bureau = principal.role is Role.BUREAU
    if bureau and (ask.level in FARM_DETAIL_LEVELS or ask.farm_id is not None):
        raise OutOfScope("the bureau sees county aggregates and groups of farms only")
    p = resolve_period(period=ask.period, start=ask.start, end=ask.end, default_days=1)
    config = with_threshold(services.indicators, ask.threshold_pct)
    farms = _farms_wanted(session, principal, ask.county_id, ask.farm_id)
    view, fleet = measure(session, services.store, period=p, now_ms=now_ms(), config=config,
                          farm_ids=farms)
    rows: list[CompletenessRow] = rollup(view, fleet, ask.level)
    if ask.county_id is not None:
        rows = [r for r in rows if r.county_id == ask.county_id or r.level is Level.CITY]
    withheld = 0
    if bureau:
        kept = k_anonymous(rows, min_farms=config.min_farms_per_group)
        rows, withheld = kept.rows, kept.withheld
    out = []
    for r in rows:
        if ask.level is Level.DEVICE:
            dev = view.devices[r.key]
            out.append(RowDetail(r, dev.device_type, dev.site_id, dev.farm_id))
        elif ask.level is Level.SITE:
            site = view.sites[r.key]
            out.append(RowDetail(r, site_id=site.site_id, farm_id=site.farm_id))
        elif ask.level is Level.FARM:
            out.append(RowDetail(r, farm_id=r.key))
        else:
            out.append(RowDetail(r))
    return CompletenessReport(
        period=p.label, start=from_ms(p.start_ms), end=from_ms(p.end_ms),
        measured_until=from_ms(fleet.period.end_ms), level=ask.level,
        active_threshold_pct=config.active_threshold_pct, scoped=farms is not None,
        rows=out, withheld_groups=withheld,
        excluded_devices=dict(Counter(fleet.excluded.values())),
        store_queries=fleet.store_queries)


def device_completeness(session: Session, services: ApiServices,
                        principal: Principal) -> dict[str, float | None]:
    """Each device's report completeness over the last 24 hours [%] (empty if the store is
    unavailable: a status page still shows what the registry knows)."""
    now = now_ms()
    try:
        _, fleet = measure(session, services.store, period=rolling_period(now, days=1),
                           now_ms=now, config=services.indicators,
                           farm_ids=visible_farm_ids(session, principal))
    except StoreError:
        return {}
    return {k: v.completeness_pct for k, v in fleet.devices.items()}
