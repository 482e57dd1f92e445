"""Indicator values per county and city-wide, with progress and evidence (pure).

农业生产数字化水平 = Σ_s w_s · c_s / Σ_s w_s over the production sectors s (field crops,
facility, livestock, aquaculture) that have a denominator in the scope, c_s the sector's
coverage [%] and w_s its share of agricultural output value (data file with sources); the
method of the county-level evaluation 全国县域数字农业农村发展水平评价. Area indicators
[万亩] count only sites with an active device of their sector (measured, not declared):
1 万亩 = 10,000 亩.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from analytics.indicators import definitions as d
from analytics.indicators.coverage import CITY, Ratio, SectorFigures
from analytics.indicators.progress import Progress, progress
from analytics.indicators.reference import Sector, SectorWeights, SourcedValue
from analytics.indicators.rollup import CompletenessRow
from analytics.indicators.targets import TargetSetDoc
from analytics.indicators.water import CoefficientFigure

MU_PER_10K_MU = 10_000.0


@dataclass(frozen=True, slots=True)
class IndicatorValue:
    """One indicator for one scope (county id or ``city``) in one period."""

    key: str
    scope: str
    name_zh: str
    name_en: str
    unit: str
    progress: Progress
    evidence: Mapping[str, Any]

    @property
    def value(self) -> float | None:
        """The measured value in ``unit``."""
        return self.progress.value


def ratio_evidence(r: Ratio) -> dict[str, Any]:
    """A ratio as evidence; the ids of covered sites sit under ``covered`` (detail)."""
    return {"numerator": r.numerator, "denominator": r.denominator, "unit": r.unit,
            "denominator_source": r.denominator_source, "n_covered": len(r.covered),
            "covered": list(r.covered)}


def digitisation(figures: SectorFigures,
                 weights: Mapping[Sector, SourcedValue]) -> tuple[float | None, dict[str, Any]]:
    """Output-value-weighted sector coverage [%] and its components."""
    coverage: dict[Sector, Ratio | None] = {
        Sector.FIELD_CROPS: figures.field_crops, Sector.FACILITY: figures.facility,
        Sector.LIVESTOCK: figures.livestock, Sector.AQUACULTURE: None,  # no ponds in the registry
    }
    parts: list[dict[str, Any]] = []
    used: list[tuple[float, float]] = []  # (weight, coverage [%])
    for sector, w in weights.items():
        ratio = coverage.get(sector)
        pct = None if ratio is None else ratio.pct
        counted = pct is not None and w.value > 0
        parts.append({"sector": sector.value, "weight": w.value, "weight_basis": w.basis,
                      "coverage_pct": pct, "used": counted})
        if pct is not None and counted:
            used.append((w.value, pct))
    total = sum(w for w, _ in used)
    value = None if total <= 0 else sum(w * pct for w, pct in used) / total
    return value, {"components": parts, "weights_renormalised_over": total}


def _completeness_evidence(row: CompletenessRow | None) -> dict[str, Any]:
    if row is None:
        return {"n_devices": 0}
    return {"n_devices": row.n_devices, "n_active": row.n_active, "expected": row.expected,
            "received": row.received, "longest_gap_s": row.longest_gap_s}


def _coefficient_evidence(c: CoefficientFigure) -> dict[str, Any]:
    return {"net_field_m3": c.net_field_m3, "gross_withdrawn_m3": c.gross_withdrawn_m3,
            "sources": list(c.sources_used), "sources_skipped": list(c.sources_skipped)}


def _raw_values(scope: str, figures: SectorFigures, water: CoefficientFigure,
                completeness: CompletenessRow | None, weights: SectorWeights,
                ) -> dict[str, tuple[float | None, dict[str, Any]]]:
    w = weights.city if scope == CITY else weights.for_county(scope)
    comp = _completeness_evidence(completeness)

    def area(mu: float, extra: dict[str, Any]) -> tuple[float | None, dict[str, Any]]:
        return mu / MU_PER_10K_MU, {"area_mu": mu, **extra}

    return {
        d.DIGITISATION: digitisation(figures, w),
        d.SERVICE_COVERAGE: (figures.service_units.pct, ratio_evidence(figures.service_units)),
        d.IRRIGATION_COEFFICIENT: (water.coefficient, _coefficient_evidence(water)),
        d.WATER_SAVING_AREA: area(figures.metered_irrigation.numerator,
                                  ratio_evidence(figures.metered_irrigation)),
        d.FACILITY_AREA: area(figures.facility.numerator, ratio_evidence(figures.facility)),
        d.HIGH_STANDARD_AREA: area(figures.high_standard_monitored_mu, {
            "registered_high_standard_mu": figures.high_standard_registered_mu}),
        d.COVERAGE_FIELD: (figures.field_crops.pct, ratio_evidence(figures.field_crops)),
        d.COVERAGE_FACILITY: (figures.facility.pct, ratio_evidence(figures.facility)),
        d.COVERAGE_LIVESTOCK: (figures.livestock.pct, ratio_evidence(figures.livestock)),
        d.COVERAGE_LIVESTOCK_BARN: (figures.livestock_barn.pct,
                                    ratio_evidence(figures.livestock_barn)),
        d.COVERAGE_LIVESTOCK_INDIVIDUAL: (figures.livestock_individual.pct,
                                          ratio_evidence(figures.livestock_individual)),
        d.COVERAGE_METERED: (figures.metered_irrigation.pct,
                             ratio_evidence(figures.metered_irrigation)),
        d.DEVICE_COMPLETENESS: (None if completeness is None else completeness.completeness_pct,
                                comp),
        d.ACTIVE_DEVICES: (None if completeness is None else completeness.active_pct, comp),
    }


def indicator_values(
    *, figures: Mapping[str, SectorFigures], water: Mapping[str, CoefficientFigure],
    completeness: Mapping[str, CompletenessRow], weights: SectorWeights, targets: TargetSetDoc,
    on: date,
) -> list[IndicatorValue]:
    """Every computed indicator for every scope of ``figures``, against ``targets``.

    A target of scope ``county`` applies to each county and to the city; one of scope ``city``
    only to the city (the county values are shown without target).
    """
    by_key = targets.by_key()
    out: list[IndicatorValue] = []
    for scope, fig in figures.items():
        raw = _raw_values(scope, fig, water[scope], completeness.get(scope), weights)
        for definition in d.INDICATORS:
            value, evidence = raw[definition.key]
            t = by_key.get(definition.key)
            applies = t is not None and (scope == CITY or t.scope == "county")
            p = progress(value=value, baseline=t.baseline if t and applies else None,
                         target=t.target if t and applies else None, on=on,
                         baseline_year=targets.baseline_year, target_year=targets.target_year)
            out.append(IndicatorValue(
                key=definition.key, scope=scope,
                name_zh=t.name_zh if t else definition.name_zh,
                name_en=t.name_en if t else definition.name_en,
                unit=definition.unit, progress=p, evidence=evidence))
    return out


def not_computed(targets: TargetSetDoc) -> list[str]:
    """Keys of the target set farmtel cannot measure (reported, not sensed)."""
    return [t.key for t in targets.targets if t.key not in d.BY_KEY]
