"""JSON-ready documents of an evaluation: value rows, evidence, and the reference data used.

Farm-level detail (ids of sites and devices) lives only under the keys in ``DETAIL_KEYS``, so
``strip_detail`` can take it out for callers who may see aggregates only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from analytics.indicators.compute import IndicatorValue
from analytics.indicators.coverage import CITY, SectorFigures
from analytics.indicators.reference import DenominatorKey
from analytics.indicators.rollup import CompletenessRow, Level, rollup
from analytics.indicators.service import Evaluation

DETAIL_KEYS = frozenset({"covered", "sites", "devices", "sources", "sources_skipped",
                         "unassigned_field_meters", "fields"})


def value_row(v: IndicatorValue) -> dict[str, Any]:
    """One indicator value with its target and progress."""
    p = v.progress
    return {"key": v.key, "scope": v.scope, "name_zh": v.name_zh, "name_en": v.name_en,
            "unit": v.unit, "value": p.value, "baseline": p.baseline, "target": p.target,
            "expected": p.expected, "progress_pct": p.progress_pct, "status": p.status.value,
            "baseline_assumed": p.baseline_assumed, "basis": v.basis, "reason": v.reason}


def completeness_row(row: CompletenessRow) -> dict[str, Any]:
    """A completeness roll-up row."""
    return {"level": row.level.value, "key": row.key, "county_id": row.county_id,
            "n_farms": row.n_farms, "n_sites": row.n_sites, "n_devices": row.n_devices,
            "n_active": row.n_active, "expected": row.expected, "received": row.received,
            "completeness_pct": row.completeness_pct, "active_pct": row.active_pct,
            "longest_gap_s": row.longest_gap_s, "gap_resolution_s": row.gap_resolution_s}


def denominators_used(figures: Mapping[str, SectorFigures]) -> dict[str, dict[str, Any]]:
    """Per scope, each denominator's value and source as used."""
    return {
        scope: {name: {"value": r.denominator, "unit": r.unit, "source": r.denominator_source}
                for name, r in (("farmland", f.field_crops), ("facility", f.facility),
                                ("livestock", f.livestock), ("service_units", f.service_units))}
        for scope, f in figures.items()
    }


_REGISTERED = (  # key, site kind, what is summed
    (DenominatorKey.FARMLAND_MU, "field", "area_mu"),
    (DenominatorKey.FACILITY_MU, "greenhouse", "area_mu"),
    (DenominatorKey.LIVESTOCK_HEAD, "barn", "head_count"),
)


def official_reference(ev: Evaluation) -> list[dict[str, Any]]:
    """For the jurisdiction (scope ``city``) and each unit: how much of the real agriculture
    (the official figure, with its source) the registry knows of [%]; ``official`` None where
    no official figure is on record."""
    registered: dict[tuple[str, str], float] = {}
    for site in ev.view.sites.values():
        for key, kind, attr in _REGISTERED:
            if site.kind == kind:
                amount = float(getattr(site, attr) or 0)
                for scope in (site.county_id, CITY):
                    registered[(scope, key.value)] = registered.get((scope, key.value), 0.0) + amount
    out = []
    for scope in [*ev.view.counties, CITY]:
        for key, _, _ in _REGISTERED:
            ref = (ev.denominators.city.get(key.value) if scope == CITY
                   else ev.denominators.official(scope, key))
            known = registered.get((scope, key.value), 0.0)
            out.append({"scope": scope, "key": key.value, "registered": known,
                        "official": None if ref is None else ref.value,
                        "source": None if ref is None else ref.source,
                        "registered_pct": None if ref is None or ref.value <= 0
                        else 100.0 * known / ref.value})
    return out


def reference_document(ev: Evaluation) -> dict[str, Any]:
    """Targets, weights, denominators and settings an evaluation used."""
    return {
        "scope_names": {**{c: ref.name_zh for c, ref in ev.view.counties.items()},
                        CITY: ev.jurisdiction_name_zh},
        "jurisdiction": ev.jurisdiction_id,
        "target_set": {"id": ev.target_set_id, **ev.targets.to_json()},
        "sector_weights": {
            "version": ev.weights.version, "method": ev.weights.method,
            "city": {s.value: asdict(w) for s, w in ev.weights.city.items()},
            "counties": {c: {s.value: asdict(w) for s, w in ws.items()}
                         for c, ws in ev.weights.counties.items()},
        },
        "denominators": {
            "version": ev.denominators.version,
            "used": denominators_used(ev.figures),
            "city": {k: asdict(v) for k, v in ev.denominators.city.items()},
            "official_reference": official_reference(ev),
        },
        "config": {"active_threshold_pct": ev.config.active_threshold_pct,
                   "min_farms_per_group": ev.config.min_farms_per_group,
                   "max_windows_per_device": ev.config.max_windows_per_device},
    }


def evidence_document(ev: Evaluation) -> dict[str, Any]:
    """The evidence behind the values: per-scope figures, completeness, devices left out."""
    return {
        "period": {"label": ev.period.label, "start_ms": ev.period.start_ms,
                   "end_ms": ev.period.end_ms, "measured_until_ms": ev.fleet.period.end_ms},
        "by_scope": {scope: {v.key: dict(v.evidence) for v in ev.values if v.scope == scope}
                     for scope in ev.figures},
        "completeness": {scope: completeness_row(r) for scope, r in ev.county_completeness.items()},
        "excluded_devices": dict(Counter(ev.fleet.excluded.values())),
        "store_queries": ev.fleet.store_queries,
        "unassigned_field_meters": list(ev.water.unassigned_field_meters),
        "sites": [completeness_row(r) for r in rollup(ev.view, ev.fleet, Level.SITE)],
    }


def strip_detail(doc: Any) -> Any:
    """``doc`` without farm-level detail (the keys in ``DETAIL_KEYS``), recursively."""
    if isinstance(doc, Mapping):
        return {k: strip_detail(v) for k, v in doc.items() if k not in DETAIL_KEYS}
    if isinstance(doc, list):
        return [strip_detail(x) for x in doc]
    return doc
