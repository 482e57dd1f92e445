"""One evaluation: registry + store + targets → completeness, sector figures and indicators."""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.indicators.completeness import active_device_ids
from analytics.indicators.compute import (
    IndicatorValue,
    ReportedEntry,
    indicator_values,
    not_computed,
)
from analytics.indicators.config import IndicatorConfig
from analytics.indicators.counters import CachedMeterTotals
from analytics.indicators.coverage import SectorFigures, group_scope, sector_figures
from analytics.indicators.hourly.table import cache_frontier
from analytics.indicators.measure import FleetCompleteness, measure_completeness
from analytics.indicators.periods import Period
from analytics.indicators.reference import Denominators, SectorWeights
from analytics.indicators.registry_view import RegistryView, load_registry_view
from analytics.indicators.rollup import CompletenessRow, Level, rollup, site_totals
from analytics.indicators.targets import TargetSet, TargetSetDoc, target_sets
from analytics.indicators.water import (
    WATER_SAVING_AREA,
    WaterFigures,
    extra_water_values,
    irrigation_figures,
    load_irrigation_methods,
    reporting_meter_ids,
)
from analytics.jurisdictions.store import (
    JurisdictionInfo,
    denominators_at,
    jurisdiction,
    jurisdictions,
    provenance,
    reported_for_year,
)
from analytics.water.records import load_field_days
from devices.registry import Farm
from storage.errors import NotFound
from storage.telemetry import TelemetryStore


class UnknownTargetSet(NotFound):
    """No target set with that version."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything one computation produced and used."""

    period: Period
    """The requested period."""
    config: IndicatorConfig
    view: RegistryView
    fleet: FleetCompleteness
    figures: Mapping[str, SectorFigures]
    water: WaterFigures
    county_completeness: Mapping[str, CompletenessRow]
    target_set_id: int
    targets: TargetSetDoc
    weights: SectorWeights
    denominators: Denominators
    values: tuple[IndicatorValue, ...]
    not_computed: tuple[str, ...]
    jurisdiction_id: str = ""
    jurisdiction_name_zh: str = ""
    jurisdiction_name_en: str = ""


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for one computation, on again afterwards (if it
    was on). A computation over 200,000 devices allocates a few hundred thousand objects that
    live until it ends; with the collector on, that triggers about eight full collections
    walking the whole heap (~1.5 s here). What it allocates is freed by reference counting."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def measure(session: Session, store: TelemetryStore, *, period: Period, now_ms: int,
            config: IndicatorConfig, farm_ids: Collection[str] | None = None,
            county_ids: Collection[str] | None = None,
            ) -> tuple[RegistryView, FleetCompleteness]:
    """The registry (optionally narrowed to ``farm_ids``, and to the counties ``county_ids``)
    and its completeness in ``period`` (from the hourly-count cache where the windows allow
    it; up to the cache's end with ``config.until_cached``)."""
    now_ms = _until(session, period, now_ms, config)
    with collector_paused():
        view = load_registry_view(session, farm_ids=farm_ids)
        if county_ids is not None and set(view.counties) - set(county_ids):
            wanted = set(county_ids)
            in_scope = set(session.scalars(select(Farm.id).where(Farm.county_id.in_(wanted))))
            view = load_registry_view(session, farm_ids=in_scope if farm_ids is None
                                      else in_scope & set(farm_ids))
            view = replace(view, counties={c: r for c, r in view.counties.items() if c in wanted})
        return view, measure_completeness(store=store, view=view, period=period, now_ms=now_ms,
                                          config=config, session=session)


def _until(session: Session, period: Period, now_ms: int, config: IndicatorConfig) -> int:
    """``now_ms``, or the end of the hourly-count cache if earlier and ``config.until_cached``
    (and the cache reaches into the period)."""
    if not config.until_cached:
        return now_ms
    frontier = cache_frontier(session)
    return now_ms if frontier is None or frontier <= period.start_ms else min(now_ms, frontier)


Sensed = dict[str, dict[str, tuple[float | None, dict[str, Any]]]]


def _with_groups(view: RegistryView, sensed: Sensed) -> Sensed:
    """``sensed`` with each plan group's 高效节水灌溉面积 (Σ its counties' [万亩]; the rates
    are per county and city only)."""
    groups: dict[str, list[str]] = {}
    for cid, ref in view.counties.items():
        if ref.plan_group:
            groups.setdefault(group_scope(ref.plan_group), []).append(cid)
    for scope, members in groups.items():
        parts = [sensed[c][WATER_SAVING_AREA] for c in members if WATER_SAVING_AREA in sensed.get(c, {})]
        total = sum(v for v, _ in parts if v is not None)
        sensed[scope] = {WATER_SAVING_AREA: (total, {"area_mu": total * 10_000.0,
                                                     "counties": members})}
    return sensed


def jurisdiction_target_set(session: Session, info: JurisdictionInfo,
                            version: str | None = None) -> TargetSet | None:
    """The set ``version``, or the jurisdiction's current one: the newest set that is not
    another jurisdiction's (an uploaded newer plan supersedes the packaged one)."""
    sets = target_sets(session)
    if version is not None:
        return next((s for s in sets if s.version == version), None)
    others = {j.row.target_set_version for j in jurisdictions(session) if j.row.id != info.row.id}
    return next((s for s in sets if s.version not in others), None)


def evaluate(session: Session, store: TelemetryStore, *, period: Period, now_ms: int,
             config: IndicatorConfig, target_version: str | None = None,
             weights: SectorWeights | None = None,
             denominators: Denominators | None = None,
             jurisdiction_id: str | None = None) -> Evaluation:
    """Indicators of every unit, plan group and the whole of a jurisdiction (default: the
    first stored) for ``period`` against its current targets, over its official denominators
    valid at the period's end (or ``denominators``) and with the values reported for the
    period's year."""
    info = jurisdiction(session, jurisdiction_id)
    target_set = jurisdiction_target_set(session, info, target_version)
    if target_set is None:
        raise UnknownTargetSet(f"no target set {target_version!r}")
    weights = weights or info.weights()
    on = period.end_date
    denominators = denominators or denominators_at(session, info.row.id, on)
    reported = {k: ReportedEntry(r.value, r.year, provenance(r), r.id)
                for k, r in reported_for_year(session, info.row.id, on.year).items()}
    with collector_paused():
        return _evaluate(session, store, period=period, now_ms=now_ms, config=config,
                         target_set=target_set, weights=weights, denominators=denominators,
                         info=info, reported=reported)


def _evaluate(session: Session, store: TelemetryStore, *, period: Period, now_ms: int,
              config: IndicatorConfig, target_set: TargetSet, weights: SectorWeights,
              denominators: Denominators, info: JurisdictionInfo,
              reported: Mapping[tuple[str, str], ReportedEntry]) -> Evaluation:
    view, fleet = measure(session, store, period=period, now_ms=now_ms, config=config,
                          county_ids=info.unit_ids)
    active = active_device_ids(fleet.devices)
    figures = sector_figures(view, active, denominators, period_start_ms=fleet.period.start_ms)
    until = fleet.period.end_ms if config.until_cached and fleet.period.end_ms < period.end_ms else None
    water = irrigation_figures(store=store, view=view, period=fleet.period,
                               active=reporting_meter_ids(fleet.devices),
                               totals=CachedMeterTotals(session, [], now_ms, until),
                               field_days=partial(load_field_days, session))
    sensed = _with_groups(view, extra_water_values(
        view=view, period=fleet.period, active=active, field_days=partial(load_field_days, session),
        irrigation_methods=load_irrigation_methods(session)))
    totals = site_totals(view, fleet)
    rows = {r.key: r for r in rollup(view, fleet, Level.COUNTY, totals)}
    rows.update({r.key: r for r in rollup(view, fleet, Level.CITY, totals)})
    doc = target_set.doc()
    values = indicator_values(figures=figures, water=water.by_scope, completeness=rows,
                              weights=weights, targets=doc, on=fleet.period.end_date,
                              reported=reported, sensed=sensed)
    return Evaluation(period, config, view, fleet, figures, water, rows, target_set.id, doc,
                      weights, denominators, tuple(values), tuple(not_computed(doc)),
                      info.row.id, info.row.name_zh, info.row.name_en)
