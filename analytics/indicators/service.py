"""One evaluation: registry + store + targets → completeness, sector figures and indicators."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from analytics.indicators.compute import IndicatorValue, indicator_values, not_computed
from analytics.indicators.config import IndicatorConfig
from analytics.indicators.coverage import SectorFigures, sector_figures
from analytics.indicators.measure import FleetCompleteness, measure_completeness
from analytics.indicators.periods import Period
from analytics.indicators.reference import (
    Denominators,
    SectorWeights,
    load_denominators,
    load_sector_weights,
)
from analytics.indicators.registry_view import RegistryView, load_registry_view
from analytics.indicators.rollup import CompletenessRow, Level, rollup
from analytics.indicators.targets import TargetSetDoc, current_target_set
from analytics.indicators.water import WaterFigures, irrigation_figures
from storage.telemetry import TelemetryStore


class UnknownTargetSet(LookupError):
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


def measure(session: Session, store: TelemetryStore, *, period: Period, now_ms: int,
            config: IndicatorConfig, farm_ids: Collection[str] | None = None,
            ) -> tuple[RegistryView, FleetCompleteness]:
    """The registry (optionally narrowed to ``farm_ids``) and its completeness in ``period``."""
    view = load_registry_view(session, farm_ids=farm_ids)
    return view, measure_completeness(store=store, view=view, period=period, now_ms=now_ms,
                                      config=config)


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
    view, fleet = measure(session, store, period=period, now_ms=now_ms, config=config)
    active = {k for k, v in fleet.devices.items() if v.active}
    figures = sector_figures(view, active, denominators)
    water = irrigation_figures(store=store, view=view, period=fleet.period, active=active)
    rows = {r.key: r for r in rollup(view, fleet, Level.COUNTY)}
    rows.update({r.key: r for r in rollup(view, fleet, Level.CITY)})
    doc = target_set.doc()
    values = indicator_values(figures=figures, water=water.by_scope, completeness=rows,
                              weights=weights, targets=doc, on=fleet.period.end_date)
    return Evaluation(period, config, view, fleet, figures, water, rows, target_set.id, doc,
                      weights, denominators, tuple(values), tuple(not_computed(doc)))
