"""One evaluation: registry + store + targets → completeness, sector figures and indicators."""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from analytics.indicators.completeness import active_device_ids
from analytics.indicators.compute import IndicatorValue, indicator_values, not_computed
from analytics.indicators.config import IndicatorConfig
from analytics.indicators.counters import CachedMeterTotals
from analytics.indicators.coverage import SectorFigures, sector_figures
from analytics.indicators.hourly.table import cache_frontier
from analytics.indicators.measure import FleetCompleteness, measure_completeness
from analytics.indicators.periods import Period
from analytics.indicators.reference import (
    Denominators,
    SectorWeights,
    load_denominators,
    load_sector_weights,
)
from analytics.indicators.registry_view import RegistryView, load_registry_view
from analytics.indicators.rollup import CompletenessRow, Level, rollup, site_totals
from analytics.indicators.targets import TargetSet, TargetSetDoc, current_target_set
from analytics.indicators.water import WaterFigures, irrigation_figures
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
            ) -> tuple[RegistryView, FleetCompleteness]:
    """The registry (optionally narrowed to ``farm_ids``) and its completeness in ``period``
    (from the hourly-count cache where the windows allow it; up to the cache's end with
    ``config.until_cached``)."""
    now_ms = _until(session, period, now_ms, config)
    with collector_paused():
        view = load_registry_view(session, farm_ids=farm_ids)
        return view, measure_completeness(store=store, view=view, period=period, now_ms=now_ms,
                                          config=config, session=session)


def _until(session: Session, period: Period, now_ms: int, config: IndicatorConfig) -> int:
    """``now_ms``, or the end of the hourly-count cache if earlier and ``config.until_cached``
    (and the cache reaches into the period)."""
    if not config.until_cached:
        return now_ms
    frontier = cache_frontier(session)
    return now_ms if frontier is None or frontier <= period.start_ms else min(now_ms, frontier)


def evaluate(session: Session, store: TelemetryStore, *, period: Period, now_ms: int,
             config: IndicatorConfig, target_version: str | None = None,
             weights: SectorWeights | None = None,
             denominators: Denominators | None = None) -> Evaluation:
    """Indicators of every county and the city for ``period`` against the current targets."""
    target_set = current_target_set(session, target_version)
    if target_set is None:
        raise UnknownTargetSet(f"no target set {target_version!r}")
    weights = weights or load_sector_weights()
    denominators = denominators or load_denominators()
    with collector_paused():
        return _evaluate(session, store, period=period, now_ms=now_ms, config=config,
                         target_set=target_set, weights=weights, denominators=denominators)


def _evaluate(session: Session, store: TelemetryStore, *, period: Period, now_ms: int,
              config: IndicatorConfig, target_set: TargetSet, weights: SectorWeights,
              denominators: Denominators) -> Evaluation:
    view, fleet = measure(session, store, period=period, now_ms=now_ms, config=config)
    active = active_device_ids(fleet.devices)
    figures = sector_figures(view, active, denominators)
    until = fleet.period.end_ms if config.until_cached and fleet.period.end_ms < period.end_ms else None
    water = irrigation_figures(store=store, view=view, period=fleet.period, active=active,
                               totals=CachedMeterTotals(session, [], now_ms, until))
    totals = site_totals(view, fleet)
    rows = {r.key: r for r in rollup(view, fleet, Level.COUNTY, totals)}
    rows.update({r.key: r for r in rollup(view, fleet, Level.CITY, totals)})
    doc = target_set.doc()
    values = indicator_values(figures=figures, water=water.by_scope, completeness=rows,
                              weights=weights, targets=doc, on=fleet.period.end_date)
    return Evaluation(period, config, view, fleet, figures, water, rows, target_set.id, doc,
                      weights, denominators, tuple(values), tuple(not_computed(doc)))
