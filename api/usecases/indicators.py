"""Bureau indicators: current values by county against the plan's targets, the evidence,
history from the snapshots, taking and exporting snapshots.

The bureau sees county and city aggregates only (no site or device ids); admins may see the
detail. ``report``, ``history_of``, ``snapshots``, ``take`` and ``export`` serve the JSON
routes and the indicators page alike.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from analytics.indicators.compute import IndicatorValue
from analytics.indicators.coverage import GROUP_PREFIX
from analytics.indicators.definitions import BY_KEY
from analytics.indicators.export import values_csv
from analytics.indicators.privacy import k_anonymous
from analytics.indicators.rollup import Level, rollup
from analytics.indicators.serialize import (
    completeness_row,
    official_reference,
    strip_detail,
    value_row,
)
from analytics.indicators.service import Evaluation, evaluate
from analytics.indicators.snapshots import (
    IndicatorSnapshot,
    history,
    list_snapshots,
    snapshot_evidence,
    snapshot_values,
    take_snapshot,
)
from api.auth import Principal, Role
from api.services import ApiServices
from api.usecases.periods import resolve_period, with_threshold
from devices.registry import County
from storage.clock import from_ms, now_ms
from storage.errors import NotFound

Kind = Literal["monthly", "on_demand"]


@dataclass(frozen=True, slots=True)
class PeriodInfo:
    """A period's label and bounds [UTC]."""

    label: str
    start: datetime
    end: datetime
    measured_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    """One indicator of one scope against its target."""

    key: str
    name_zh: str
    name_en: str
    unit: str
    value: float | None
    baseline: float | None
    target: float | None
    expected: float | None
    progress_pct: float | None
    status: str
    baseline_assumed: bool = False
    basis: str = "sensed"
    reason: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScopeReport:
    """The indicators of a county, a plan group or the city."""

    scope: str
    level: str
    name_zh: str
    name_en: str
    plan_group: str | None
    indicators: list[IndicatorRow]


@dataclass(frozen=True, slots=True)
class TargetSetRef:
    """Which target set the values were measured against."""

    id: int
    version: str


@dataclass(frozen=True, slots=True)
class Report:
    """The indicators of a period by county and for the city."""

    period: PeriodInfo
    active_threshold_pct: float
    target_set: TargetSetRef
    jurisdiction: dict[str, str]
    scopes: list[ScopeReport]
    not_computed: list[str]
    official_reference: list[dict[str, Any]]
    detail: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What the caller asks the indicators for."""

    period: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    county_id: str | None = None
    threshold_pct: float | None = None
    target_set: str | None = None
    evidence: bool = False
    jurisdiction: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """An indicator's value in one snapshot."""

    snapshot_id: int
    period: str
    period_start: datetime
    value: float | None
    target: float | None
    expected: float | None
    status: str


@dataclass(frozen=True, slots=True)
class History:
    """An indicator's series per scope, oldest first."""

    key: str
    name_zh: str
    name_en: str
    unit: str
    kind: str
    series: dict[str, list[HistoryPoint]]


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A snapshot's header."""

    id: int
    kind: str
    period: PeriodInfo
    created_at: datetime
    created_by: str
    target_set_id: int
    active_threshold_pct: float


@dataclass(frozen=True, slots=True)
class SnapshotDetail(SnapshotInfo):
    """A snapshot with its values, the reference it used and its evidence."""

    values: list[dict[str, Any]] = field(default_factory=list)
    reference: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Download:
    """A file for the caller: its name, media type and content."""

    filename: str
    media_type: str
    content: str | bytes


def slug(label: str) -> str:
    """A period label fit for a file name (``2025-06``, ``2025-06-01T0000Z_2025-06-02T0000Z``)."""
    return re.sub(r"[^0-9A-Za-z_-]", "", label.replace("/", "_"))


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def aggregate_only(principal: Principal) -> bool:
    """Whether the caller sees aggregates only (everyone but admins)."""
    return principal.role is not Role.ADMIN


def _indicator(v: IndicatorValue, *, detail: bool) -> IndicatorRow:
    row = value_row(v)
    evidence = dict(v.evidence) if detail else strip_detail(dict(v.evidence))
    names = IndicatorRow.__dataclass_fields__
    return IndicatorRow(**{k: row[k] for k in names if k in row and k != "evidence"},
                        evidence=evidence)


def _scope_names(ev: Evaluation, scope: str) -> tuple[str, str, str, str | None]:
    """Level, Chinese and English name, plan group of a scope."""
    county = ev.view.counties.get(scope)
    if county is not None:
        return "county", county.name_zh, county.name_en, county.plan_group or None
    if scope.startswith(GROUP_PREFIX):
        group = scope.removeprefix(GROUP_PREFIX)
        return "plan_group", group, f"plan group {group}", group
    return "city", ev.jurisdiction_name_zh, ev.jurisdiction_name_en, None


def _scopes(ev: Evaluation, county_id: str | None, *, detail: bool) -> list[ScopeReport]:
    out = []
    order = {"city": 0, "plan_group": 1, "county": 2}
    for scope in sorted(ev.figures, key=lambda s: order[_scope_names(ev, s)[0]]):
        if county_id is not None and scope != county_id:
            continue
        level, zh, en, group = _scope_names(ev, scope)
        out.append(ScopeReport(
            scope=scope, level=level, name_zh=zh, name_en=en, plan_group=group,
            indicators=[_indicator(v, detail=detail) for v in ev.values if v.scope == scope]))
    return out


def _device_detail(ev: Evaluation, county_id: str | None) -> list[dict[str, Any]]:
    rows = []
    for device_id, c in sorted(ev.fleet.devices.items()):
        dev = ev.view.devices[device_id]
        if county_id is not None and dev.county_id != county_id:
            continue
        rows.append({"device_id": dev.device_id, "type": dev.device_type, "site_id": dev.site_id,
                     "farm_id": dev.farm_id, "county_id": dev.county_id,
                     "expected": c.expected, "received": c.received,
                     "completeness_pct": c.completeness_pct, "longest_gap_s": c.longest_gap_s,
                     "active": c.active})
    return rows


def _evaluation(session: Session, services: ApiServices, ask: ReportRequest) -> Evaluation:
    if ask.county_id is not None and session.get(County, ask.county_id) is None:
        raise NotFound("unknown county")
    p = resolve_period(period=ask.period, start=ask.start, end=ask.end, default_days=30)
    config = with_threshold(services.indicators, ask.threshold_pct)
    return evaluate(session, services.store, period=p, now_ms=now_ms(), config=config,
                    target_version=ask.target_set, jurisdiction_id=ask.jurisdiction)


def report(session: Session, services: ApiServices, principal: Principal,
           ask: ReportRequest) -> Report:
    """Indicators of every county (or one) and the city for a period (default: the last 30
    days), with targets, the straight-line expectation and status; with ``evidence``, admins
    get the sites and devices behind the figures, the bureau completeness by county and by
    township (groups of at least k farms)."""
    ev = _evaluation(session, services, ask)
    p, county_id = ev.period, ask.county_id
    detail = ask.evidence and not aggregate_only(principal)
    extra: dict[str, Any] | None = None
    if ask.evidence:
        extra = {"excluded_devices": dict(Counter(ev.fleet.excluded.values())),
                 "store_queries": ev.fleet.store_queries}
        if detail:
            extra["devices"] = _device_detail(ev, county_id)
            extra["unassigned_field_meters"] = list(ev.water.unassigned_field_meters)
        else:
            k = ev.config.min_farms_per_group
            towns = k_anonymous(rollup(ev.view, ev.fleet, Level.TOWNSHIP), min_farms=k)
            extra["townships"] = [completeness_row(r) for r in towns.rows
                                  if county_id is None or r.county_id == county_id]
            extra["townships_withheld"] = towns.withheld
            extra["min_farms_per_group"] = k
    return Report(
        period=PeriodInfo(label=p.label, start=from_ms(p.start_ms), end=from_ms(p.end_ms),
                          measured_until=from_ms(ev.fleet.period.end_ms)),
        active_threshold_pct=ev.config.active_threshold_pct,
        target_set=TargetSetRef(id=ev.target_set_id, version=ev.targets.version),
        jurisdiction={"id": ev.jurisdiction_id, "name_zh": ev.jurisdiction_name_zh,
                      "name_en": ev.jurisdiction_name_en},
        scopes=_scopes(ev, county_id, detail=detail),
        not_computed=list(ev.not_computed), official_reference=official_reference(ev),
        detail=extra)


def report_csv(session: Session, services: ApiServices, ask: ReportRequest) -> Download:
    """The period's values by county and city as CSV (UTF-8 with BOM)."""
    ev = _evaluation(session, services, ask)
    rows = [{**value_row(v), "period": ev.period.label,
             "scope_name_zh": _scope_names(ev, v.scope)[1], "target_set": ev.targets.version}
            for v in ev.values if ask.county_id is None or v.scope == ask.county_id]
    return Download(f"indicators-{slug(ev.period.label)}.csv", "text/csv; charset=utf-8",
                    values_csv(rows))


def _info(s: IndicatorSnapshot) -> dict[str, Any]:
    return {"id": s.id, "kind": s.kind,
            "period": PeriodInfo(label=s.period_label, start=_utc(s.period_start),
                                 end=_utc(s.period_end), measured_until=_utc(s.measured_until)),
            "created_at": _utc(s.created_at), "created_by": s.created_by,
            "target_set_id": s.target_set_id, "active_threshold_pct": s.active_threshold_pct}


def take(session: Session, services: ApiServices, principal: Principal,
         ask: ReportRequest) -> SnapshotInfo:
    """Take an on-demand snapshot (immutable) of a period (default: the last 30 days)."""
    p = resolve_period(period=ask.period, start=ask.start, end=ask.end, default_days=30)
    config = with_threshold(services.indicators, ask.threshold_pct)
    snap = take_snapshot(session, services.store, period=p, now_ms=now_ms(), config=config,
                         created_by=principal.name, target_version=ask.target_set)
    return SnapshotInfo(**_info(snap))


def snapshots(session: Session, kind: Kind | None = None, limit: int = 100) -> list[SnapshotInfo]:
    """Snapshots, newest period first."""
    return [SnapshotInfo(**_info(s)) for s in list_snapshots(session, kind=kind, limit=limit)]


def _snapshot(session: Session, snapshot_id: int) -> IndicatorSnapshot:
    snap = session.get(IndicatorSnapshot, snapshot_id)
    if snap is None:
        raise NotFound("unknown snapshot")
    return snap


def _snapshot_rows(session: Session, snap: IndicatorSnapshot) -> list[dict[str, Any]]:
    version = snap.reference.get("target_set", {}).get("version")
    names = dict(snap.reference.get("scope_names", {}))
    return [{"period": snap.period_label, "scope": v.scope,
             "scope_name_zh": names.get(v.scope), "key": v.key, "name_zh": v.name_zh,
             "name_en": v.name_en, "unit": v.unit, "value": v.value, "baseline": v.baseline,
             "target": v.target, "expected": v.expected, "progress_pct": v.progress_pct,
             "status": v.status, "target_set": version}
            for v in snapshot_values(session, snap.id)]


def snapshot(session: Session, principal: Principal, snapshot_id: int) -> SnapshotDetail:
    """One snapshot: values, the targets/weights/denominators used, and the evidence."""
    snap = _snapshot(session, snapshot_id)
    evidence = snapshot_evidence(session, snap.id)
    reference = dict(snap.reference)
    if aggregate_only(principal):
        evidence, reference = strip_detail(evidence), strip_detail(reference)
    return SnapshotDetail(**_info(snap), values=_snapshot_rows(session, snap),
                          reference=reference, evidence=evidence)


def export(session: Session, snapshot_id: int, fmt: Literal["csv", "json"]) -> Download:
    """A snapshot's values as CSV (UTF-8 with BOM) or JSON, for reports."""
    snap = _snapshot(session, snapshot_id)
    rows = _snapshot_rows(session, snap)
    name = f"indicators-snapshot-{snap.id}-{slug(snap.period_label)}"
    if fmt == "json":
        head = asdict(SnapshotInfo(**_info(snap)))
        body = json.dumps({"snapshot": head, "values": rows}, ensure_ascii=False, default=_iso)
        return Download(f"{name}.json", "application/json", body)
    return Download(f"{name}.csv", "text/csv; charset=utf-8", values_csv(rows))


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def history_of(session: Session, key: str, county_id: str | None, kind: Kind) -> History:
    """An indicator's time series from the snapshots, per county and city, oldest first."""
    definition = BY_KEY.get(key)
    if definition is None:
        raise NotFound("unknown indicator")
    series: dict[str, list[HistoryPoint]] = {}
    for h in history(session, key, scope=county_id, kind=kind):
        series.setdefault(h.scope, []).append(HistoryPoint(
            snapshot_id=h.snapshot_id, period=h.period_label, period_start=_utc(h.period_start),
            value=h.value, target=h.target, expected=h.expected, status=h.status))
    return History(key=key, name_zh=definition.name_zh, name_en=definition.name_en,
                   unit=definition.unit, kind=kind, series=series)
