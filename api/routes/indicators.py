"""Bureau indicators: current values by county against the plan's targets, history, snapshots.

Roles: admin and bureau. The bureau sees county and city aggregates only: evidence without
farm-level detail (site and device ids).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, Field

from analytics.indicators.compute import IndicatorValue
from analytics.indicators.coverage import CITY
from analytics.indicators.definitions import BY_KEY, CITY_NAME_EN, CITY_NAME_ZH
from analytics.indicators.export import values_csv
from analytics.indicators.privacy import k_anonymous
from analytics.indicators.rollup import Level, rollup
from analytics.indicators.serialize import (
    completeness_row,
    official_reference,
    strip_detail,
    value_row,
)
from analytics.indicators.service import Evaluation, UnknownTargetSet, evaluate
from analytics.indicators.snapshots import (
    IndicatorSnapshot,
    history,
    list_snapshots,
    snapshot_evidence,
    snapshot_values,
    take_snapshot,
)
from api.auth import Role
from api.deps import BureauView, DbSession, Principal, Services
from api.periods import now_ms, resolve_period, with_threshold
from devices.registry import County
from storage.telemetry import StoreError

router = APIRouter(prefix="/indicators", tags=["indicators"])

Kind = Literal["monthly", "on_demand"]
MonthParam = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$",
                                         description="CST month, e.g. 2025-06")]
SnapshotId = Annotated[int, Path(ge=1, le=2**62)]
ThresholdParam = Annotated[float | None, Query(gt=0, le=100, description="active at ≥ this [%]")]


class PeriodOut(BaseModel):
    label: str
    start: datetime
    end: datetime
    measured_until: datetime | None = None


class TargetSetRef(BaseModel):
    id: int
    version: str


class IndicatorOut(BaseModel):
    key: str
    name_zh: str
    name_en: str
    unit: str
    value: float | None
    baseline: float | None
    target: float | None
    expected: float | None = Field(description="value on the straight line to the target")
    progress_pct: float | None
    status: str
    baseline_assumed: bool = False
    evidence: dict[str, Any] = Field(default_factory=dict)


class ScopeOut(BaseModel):
    scope: str
    name_zh: str
    name_en: str
    plan_group: str | None
    indicators: list[IndicatorOut]


class IndicatorsOut(BaseModel):
    period: PeriodOut
    active_threshold_pct: float
    target_set: TargetSetRef
    scopes: list[ScopeOut]
    not_computed: list[str] = Field(description="targets farmtel cannot measure")
    official_reference: list[dict[str, Any]] = Field(
        description="how much of the city's official totals (the plan's figures) is registered")
    detail: dict[str, Any] | None = None


class HistoryPointOut(BaseModel):
    snapshot_id: int
    period: str
    period_start: datetime
    value: float | None
    target: float | None
    expected: float | None
    status: str


class HistoryOut(BaseModel):
    key: str
    name_zh: str
    name_en: str
    unit: str
    kind: str
    series: dict[str, list[HistoryPointOut]]


class SnapshotIn(BaseModel):
    period: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$")
    start: datetime | None = None
    end: datetime | None = None
    threshold_pct: float | None = Field(default=None, gt=0, le=100)
    target_set: str | None = Field(default=None, max_length=64)


class SnapshotOut(BaseModel):
    id: int
    kind: str
    period: PeriodOut
    created_at: datetime
    created_by: str
    target_set_id: int
    active_threshold_pct: float


class SnapshotDetail(SnapshotOut):
    values: list[dict[str, Any]]
    reference: dict[str, Any]
    evidence: dict[str, Any]


def _slug(label: str) -> str:
    """A period label fit for a file name (``2025-06``, ``2025-06-01T0000Z_2025-06-02T0000Z``)."""
    return re.sub(r"[^0-9A-Za-z_-]", "", label.replace("/", "_"))


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _ms_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _aggregate_only(principal: Principal) -> bool:
    return principal.role is not Role.ADMIN


def _indicator(v: IndicatorValue, *, detail: bool) -> IndicatorOut:
    row = value_row(v)
    evidence = dict(v.evidence) if detail else strip_detail(dict(v.evidence))
    return IndicatorOut(**{k: row[k] for k in IndicatorOut.model_fields if k in row},
                        evidence=evidence)


def _scopes(ev: Evaluation, county_id: str | None, *, detail: bool) -> list[ScopeOut]:
    out = []
    for scope in [*ev.view.counties, CITY]:
        if county_id is not None and scope != county_id:
            continue
        county = ev.view.counties.get(scope)
        out.append(ScopeOut(
            scope=scope,
            name_zh=county.name_zh if county else CITY_NAME_ZH,
            name_en=county.name_en if county else CITY_NAME_EN,
            plan_group=county.plan_group if county else None,
            indicators=[_indicator(v, detail=detail) for v in ev.values if v.scope == scope]))
    return out


def _device_detail(ev: Evaluation, county_id: str | None) -> list[dict[str, Any]]:
    rows = []
    for device_id, c in sorted(ev.fleet.devices.items()):
        dev = ev.view.devices[device_id]
        if county_id is not None and dev.county_id != county_id:
            continue
        rows.append({"device_id": device_id, "type": dev.device_type, "site_id": dev.site_id,
                     "farm_id": dev.farm_id, "county_id": dev.county_id,
                     "expected": c.expected, "received": c.received,
                     "completeness_pct": c.completeness_pct, "longest_gap_s": c.longest_gap_s,
                     "active": c.active})
    return rows


def _evaluate(session: DbSession, services: Services, **kwargs: Any) -> Evaluation:
    try:
        return evaluate(session, services.store, **kwargs)
    except UnknownTargetSet as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except StoreError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc


@router.get("", response_model=IndicatorsOut)
def current_indicators(
    principal: BureauView, session: DbSession, services: Services,
    period: MonthParam = None, start: datetime | None = None, end: datetime | None = None,
    county_id: Annotated[str | None, Query(max_length=32)] = None,
    threshold_pct: ThresholdParam = None,
    target_set: Annotated[str | None, Query(max_length=64)] = None,
    evidence: bool = False,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Indicators of every county and the city for a period (default: the last 30 days), with
    targets, the straight-line expectation and on-track/behind status.

    ``evidence=true``: admins get the sites and devices behind the figures with their
    completeness; the bureau gets completeness by county and by township (groups of at least
    k farms). ``format=csv`` exports the values.
    """
    if county_id is not None and session.get(County, county_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown county")
    p = resolve_period(period=period, start=start, end=end, default_days=30)
    config = with_threshold(services.indicators, threshold_pct)
    ev = _evaluate(session, services, period=p, now_ms=now_ms(), config=config,
                   target_version=target_set)
    detail = evidence and not _aggregate_only(principal)
    if format == "csv":
        names = {c: ref.name_zh for c, ref in ev.view.counties.items()}
        rows = [{**value_row(v), "period": p.label, "scope_name_zh": names.get(v.scope, CITY_NAME_ZH),
                 "target_set": ev.targets.version}
                for v in ev.values if county_id is None or v.scope == county_id]
        return Response(values_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="indicators-{_slug(p.label)}.csv"'})
    extra: dict[str, Any] | None = None
    if evidence:
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
    return IndicatorsOut(
        period=PeriodOut(label=p.label, start=_ms_dt(p.start_ms), end=_ms_dt(p.end_ms),
                         measured_until=_ms_dt(ev.fleet.period.end_ms)),
        active_threshold_pct=config.active_threshold_pct,
        target_set=TargetSetRef(id=ev.target_set_id, version=ev.targets.version),
        scopes=_scopes(ev, county_id, detail=detail),
        not_computed=list(ev.not_computed), official_reference=official_reference(ev),
        detail=extra)


def _snapshot_out(s: IndicatorSnapshot) -> SnapshotOut:
    return SnapshotOut(
        id=s.id, kind=s.kind,
        period=PeriodOut(label=s.period_label, start=_utc(s.period_start), end=_utc(s.period_end),
                         measured_until=_utc(s.measured_until)),
        created_at=_utc(s.created_at), created_by=s.created_by, target_set_id=s.target_set_id,
        active_threshold_pct=s.active_threshold_pct)


@router.post("/snapshots", response_model=SnapshotOut, status_code=status.HTTP_201_CREATED)
def create_snapshot(body: SnapshotIn, principal: BureauView, session: DbSession,
                    services: Services) -> SnapshotOut:
    """Take an on-demand snapshot (immutable) of a period (default: the last 30 days)."""
    p = resolve_period(period=body.period, start=body.start, end=body.end, default_days=30)
    config = with_threshold(services.indicators, body.threshold_pct)
    try:
        snap = take_snapshot(session, services.store, period=p, now_ms=now_ms(), config=config,
                             created_by=principal.name, target_version=body.target_set)
    except UnknownTargetSet as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except StoreError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    return _snapshot_out(snap)


@router.get("/snapshots", response_model=list[SnapshotOut])
def snapshots(_: BureauView, session: DbSession, kind: Kind | None = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[SnapshotOut]:
    """Snapshots, newest period first."""
    return [_snapshot_out(s) for s in list_snapshots(session, kind=kind, limit=limit)]


def _snapshot(session: DbSession, snapshot_id: int) -> IndicatorSnapshot:
    snap = session.get(IndicatorSnapshot, snapshot_id)
    if snap is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown snapshot")
    return snap


def _snapshot_rows(session: DbSession, snap: IndicatorSnapshot) -> list[dict[str, Any]]:
    version = snap.reference.get("target_set", {}).get("version")
    names = {c: n for c, n in snap.reference.get("scope_names", {}).items()}
    return [{"period": snap.period_label, "scope": v.scope,
             "scope_name_zh": names.get(v.scope), "key": v.key, "name_zh": v.name_zh,
             "name_en": v.name_en, "unit": v.unit, "value": v.value, "baseline": v.baseline,
             "target": v.target, "expected": v.expected, "progress_pct": v.progress_pct,
             "status": v.status, "target_set": version}
            for v in snapshot_values(session, snap.id)]


@router.get("/snapshots/{snapshot_id}", response_model=SnapshotDetail)
def snapshot(snapshot_id: SnapshotId, principal: BureauView, session: DbSession) -> SnapshotDetail:
    """One snapshot: values, the targets/weights/denominators used, and the evidence."""
    snap = _snapshot(session, snapshot_id)
    evidence = snapshot_evidence(session, snap.id)
    reference = dict(snap.reference)
    if _aggregate_only(principal):
        evidence, reference = strip_detail(evidence), strip_detail(reference)
    return SnapshotDetail(**_snapshot_out(snap).model_dump(), values=_snapshot_rows(session, snap),
                          reference=reference, evidence=evidence)


@router.get("/snapshots/{snapshot_id}/export")
def export_snapshot(snapshot_id: SnapshotId, _: BureauView, session: DbSession,
                    format: Literal["csv", "json"] = "csv") -> Response:
    """A snapshot's values as CSV (UTF-8 with BOM) or JSON, for reports."""
    snap = _snapshot(session, snapshot_id)
    rows = _snapshot_rows(session, snap)
    name = f"indicators-snapshot-{snap.id}-{_slug(snap.period_label)}"
    if format == "json":
        body = json.dumps({"snapshot": _snapshot_out(snap).model_dump(mode="json"),
                           "values": rows}, ensure_ascii=False)
        return Response(body, media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}.json"'})
    return Response(values_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@router.get("/{key}/history", response_model=HistoryOut)
def indicator_history(key: str, _: BureauView, session: DbSession,
                      county_id: Annotated[str | None, Query(max_length=32)] = None,
                      kind: Kind = "monthly") -> HistoryOut:
    """An indicator's time series from the snapshots, per county and city, oldest first."""
    definition = BY_KEY.get(key)
    if definition is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown indicator")
    series: dict[str, list[HistoryPointOut]] = {}
    for h in history(session, key, scope=county_id, kind=kind):
        series.setdefault(h.scope, []).append(HistoryPointOut(
            snapshot_id=h.snapshot_id, period=h.period_label, period_start=_utc(h.period_start),
            value=h.value, target=h.target, expected=h.expected, status=h.status))
    return HistoryOut(key=key, name_zh=definition.name_zh, name_en=definition.name_en,
                      unit=definition.unit, kind=kind, series=series)
