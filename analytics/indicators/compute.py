"""Indicator values per county and city-wide, with progress and evidence (pure).

农业生产数字化水平 = Σ_s w_s · c_s / Σ_s w_s over the production sectors s (field crops,
facility, livestock, aquaculture) that have a denominator in the scope, c_s the sector's
coverage [%] and w_s its share of agricultural output value (data file with sources); the
method of the county-level evaluation 全国县域数字农业农村发展水平评价. Area indicators
[万亩] count only sites with an active device of their sector (measured, not declared):
1 万亩 = 10,000 亩.

A ratio whose denominator is what is registered (no official figure for the scope) is
coverage of the registered sites (登记覆盖率): shown with status ``registered_sites``, no
target and no progress, so it never counts toward 达标. Every target of the plan appears in
every scope: sensed, reported (entered per scope and year with provenance), or with the
reason it is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from analytics.indicators import definitions as d
from analytics.indicators.coverage import CITY, GROUP_PREFIX, REGISTRY, Ratio, SectorFigures
from analytics.indicators.progress import Progress, Status, progress
from analytics.indicators.reference import Sector, SectorWeights, SourcedValue
from analytics.indicators.rollup import CompletenessRow
from analytics.indicators.targets import TargetSetDoc
from analytics.indicators.water import CoefficientFigure, coefficient_evidence

MU_PER_10K_MU = 10_000.0
SENSED = "sensed"
REPORTED = "reported"
REGISTRY_LABEL_ZH = "登记覆盖率"
REGISTRY_LABEL_EN = "coverage of registered sites (no official denominator for this scope)"
NOT_SENSED: Mapping[str, str] = {
    "precipitation_use_rate": "降水利用率: not computed by this version (needs effective rain "
                              "on monitored fields); enter it as a reported value meanwhile",
}
"""Plan indicators a sensor could measure but farmtel does not compute yet, with why."""


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
    basis: str = SENSED
    """``sensed``, ``registry`` (登记覆盖率) or ``reported``."""
    reason: str | None = None
    """Why ``value`` is missing (None when it is there)."""

    @property
    def value(self) -> float | None:
        """The measured value in ``unit``."""
        return self.progress.value


def ratio_evidence(r: Ratio) -> dict[str, Any]:
    """A ratio as evidence; the ids of covered sites sit under ``covered`` (detail)."""
    return {"numerator": r.numerator, "denominator": r.denominator, "unit": r.unit,
            "denominator_source": r.denominator_source, "denominator_basis": r.basis,
            "n_covered": len(r.covered), "covered": list(r.covered)}


def digitisation(figures: SectorFigures,
                 weights: Mapping[Sector, SourcedValue]) -> tuple[float | None, dict[str, Any]]:
    """Output-value-weighted sector coverage [%] and its components."""
    coverage: dict[Sector, Ratio | None] = {
        Sector.FIELD_CROPS: figures.field_crops, Sector.FACILITY: figures.facility,
        Sector.LIVESTOCK: figures.livestock, Sector.AQUACULTURE: None,  # no ponds in the registry
    }
    parts: list[dict[str, Any]] = []
    used: list[tuple[float, float]] = []  # (weight, coverage [%])
    registry = False
    for sector, w in weights.items():
        ratio = coverage.get(sector)
        pct = None if ratio is None else ratio.pct
        counted = pct is not None and w.value > 0
        parts.append({"sector": sector.value, "weight": w.value, "weight_basis": w.basis,
                      "weight_source": w.source, "coverage_pct": pct, "used": counted,
                      "denominator": None if ratio is None else ratio.denominator,
                      "denominator_unit": None if ratio is None else ratio.unit,
                      "denominator_source": None if ratio is None else ratio.denominator_source,
                      "denominator_basis": None if ratio is None else ratio.basis})
        if pct is not None and counted:
            used.append((w.value, pct))
            assert ratio is not None
            registry = registry or ratio.basis == REGISTRY
    total = sum(w for w, _ in used)
    value = None if total <= 0 else sum(w * pct for w, pct in used) / total
    return value, {"components": parts, "weights_renormalised_over": total,
                   "denominator_basis": REGISTRY if registry else "official"}


def _completeness_evidence(row: CompletenessRow | None) -> dict[str, Any]:
    if row is None:
        return {"n_devices": 0}
    return {"n_devices": row.n_devices, "n_active": row.n_active, "expected": row.expected,
            "received": row.received, "longest_gap_s": row.longest_gap_s}


def _water(water: CoefficientFigure | None) -> tuple[float | None, dict[str, Any]]:
    if water is None:
        return None, {"reason": "η is computed per water source, county and city, not per plan group"}
    return water.coefficient, coefficient_evidence(water)


def _raw_values(scope: str, figures: SectorFigures, water: CoefficientFigure | None,
                completeness: CompletenessRow | None, weights: SectorWeights,
                ) -> dict[str, tuple[float | None, dict[str, Any]]]:
    w = weights.city if scope == CITY or scope.startswith(GROUP_PREFIX) else weights.for_county(scope)
    comp = _completeness_evidence(completeness)

    def area(mu: float, extra: dict[str, Any]) -> tuple[float | None, dict[str, Any]]:
        """An area [万亩]: an absolute amount, whatever the basis of the ratio it came from."""
        extra.pop("denominator_basis", None)
        return mu / MU_PER_10K_MU, {"area_mu": mu, **extra}

    return {
        d.DIGITISATION: digitisation(figures, w),
        d.SERVICE_COVERAGE: (figures.service_units.pct, ratio_evidence(figures.service_units)),
        d.IRRIGATION_COEFFICIENT: _water(water),
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


def _reason(key: str, evidence: Mapping[str, Any]) -> str:
    """Why a sensed value is missing, from its evidence."""
    given = evidence.get("reason")
    if given:
        return str(given)
    if key == d.DIGITISATION:
        return "no production sector has a denominator in this scope (nothing registered, no official figure)"
    if "denominator" in evidence:
        return "denominator is 0: nothing of this kind registered and no official figure"
    if "n_devices" in evidence:
        return "no device was expected to report in this period"
    return "not measured in this scope"


@dataclass(frozen=True, slots=True)
class ReportedEntry:
    """A reported value of one scope, indicator and year, with its provenance."""

    value: float
    year: int
    provenance: str
    entry_id: int


def _reported(scope: str, key: str, year: int,
              reported: Mapping[tuple[str, str], ReportedEntry],
              ) -> tuple[float | None, dict[str, Any], str | None]:
    entry = reported.get((scope, key))
    if entry is not None:
        return entry.value, {"reported": True, "year": entry.year, "source": entry.provenance,
                             "entry_id": entry.entry_id}, None
    if key in NOT_SENSED:
        return None, {"reported": False}, NOT_SENSED[key]
    if scope.startswith(GROUP_PREFIX):
        why = "reported per county and for the city; not rolled up to plan groups"
    else:
        why = (f"reported indicator (no sensor measures it): no value entered for {year} "
               "(POST /api/v1/reported)")
    return None, {"reported": True, "year": year}, why


def indicator_values(
    *, figures: Mapping[str, SectorFigures], water: Mapping[str, CoefficientFigure],
    completeness: Mapping[str, CompletenessRow], weights: SectorWeights, targets: TargetSetDoc,
    on: date, reported: Mapping[tuple[str, str], ReportedEntry] | None = None,
    sensed: Mapping[str, Mapping[str, tuple[float | None, dict[str, Any]]]] | None = None,
) -> list[IndicatorValue]:
    """Every indicator for every scope of ``figures``, against ``targets``: the sensed ones,
    then each target of the plan farmtel does not sense (its ``reported`` value for the year of
    ``on``, or the reason it is missing).

    A target of scope ``county`` applies to each county, plan group and the city; one of scope
    ``city`` only to the city (the other values are shown without target). A sensed ratio over
    the registry (no official denominator) gets no target: status ``registered_sites``.
    ``sensed`` (scope → key → (value, evidence)) adds or replaces sensed values computed
    elsewhere (降水利用率, 高效节水灌溉面积 from :mod:`analytics.indicators.water`).
    """
    by_key = targets.by_key()
    entries = reported or {}
    out: list[IndicatorValue] = []
    extra = [t for t in targets.targets if t.key not in d.BY_KEY]
    for scope, fig in figures.items():
        raw = _raw_values(scope, fig, water.get(scope), completeness.get(scope), weights)
        more = (sensed or {}).get(scope, {})
        raw.update({k: v for k, v in more.items() if k in raw})
        rows: list[tuple[str, str, str, str, float | None, dict[str, Any], str, str | None]] = []
        for definition in d.INDICATORS:
            value, evidence = raw[definition.key]
            basis = REGISTRY if evidence.get("denominator_basis") == REGISTRY else SENSED
            reason = None if value is not None else _reason(definition.key, evidence)
            rows.append((definition.key, definition.name_zh, definition.name_en, definition.unit,
                         value, evidence, basis, reason))
        for x in extra:
            if x.key in more and (scope, x.key) not in entries:
                value, evidence = more[x.key]
                rows.append((x.key, x.name_zh, x.name_en, x.unit, value, evidence, SENSED,
                             None if value is not None else _reason(x.key, evidence)))
                continue
            value, evidence, reason = _reported(scope, x.key, on.year, entries)
            basis = REPORTED if x.key not in NOT_SENSED or value is not None else SENSED
            rows.append((x.key, x.name_zh, x.name_en, x.unit, value,
                         {**evidence, "target_source": x.source_ref}, basis, reason))
        for key, name_zh, name_en, unit, value, evidence, basis, reason in rows:
            t = by_key.get(key)
            applies = t is not None and (scope == CITY or t.scope == "county")
            if basis == REGISTRY:
                p = Progress(value, None, None, None, None, Status.REGISTRY_COVERAGE,
                             t is not None and t.baseline is None)
                evidence = {**evidence, "label_zh": REGISTRY_LABEL_ZH, "label_en": REGISTRY_LABEL_EN}
            else:
                p = progress(value=value, baseline=t.baseline if t and applies else None,
                             target=t.target if t and applies else None, on=on,
                             baseline_year=targets.baseline_year, target_year=targets.target_year)
            out.append(IndicatorValue(
                key=key, scope=scope, name_zh=t.name_zh if t else name_zh,
                name_en=t.name_en if t else name_en, unit=unit, progress=p, evidence=evidence,
                basis=basis, reason=reason))
    return out


def not_computed(targets: TargetSetDoc) -> list[str]:
    """Keys of the target set farmtel does not sense (reported, or not computed yet)."""
    return [t.key for t in targets.targets if t.key not in d.BY_KEY]
