"""Bureau indicators: current values by county against the plan's targets, history, snapshots.

Roles: admin and bureau. The bureau sees county and city aggregates only: evidence without
farm-level detail (site and device ids).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from api.deps import BureauView, DbSession, RowId, Services
from api.usecases import indicators as uc

router = APIRouter(prefix="/indicators", tags=["indicators"])

MonthParam = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$",
                                         description="CST month, e.g. 2025-06")]
SnapshotId = RowId
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
    basis: str = Field(default="sensed", description="sensed | registry (登记覆盖率, no target) | reported")
    reason: str | None = Field(default=None, description="why value is missing")
    evidence: dict[str, Any] = Field(default_factory=dict)


class ScopeOut(BaseModel):
    scope: str
    level: str = Field(description="city | plan_group | county")
    name_zh: str
    name_en: str
    plan_group: str | None
    indicators: list[IndicatorOut]


class IndicatorsOut(BaseModel):
    period: PeriodOut
    active_threshold_pct: float
    target_set: TargetSetRef
    jurisdiction: dict[str, str]
    scopes: list[ScopeOut]
    not_computed: list[str] = Field(description="targets farmtel does not sense (reported)")
    official_reference: list[dict[str, Any]] = Field(
        description="per scope: how much of the official figures the registry knows of")
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


def _download(got: uc.Download) -> Response:
    return Response(got.content, media_type=got.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{got.filename}"'})


@router.get("", response_model=IndicatorsOut)
def current_indicators(
    principal: BureauView, session: DbSession, services: Services,
    period: MonthParam = None, start: datetime | None = None, end: datetime | None = None,
    county_id: Annotated[str | None, Query(max_length=32)] = None,
    threshold_pct: ThresholdParam = None,
    target_set: Annotated[str | None, Query(max_length=64)] = None,
    evidence: bool = False,
    format: Literal["json", "csv"] = "json",
    jurisdiction: Annotated[str | None, Query(max_length=32)] = None,
) -> Any:
    """Indicators of every county and the city for a period (default: the last 30 days), with
    targets, the straight-line expectation and on-track/behind status.

    ``evidence=true``: admins get the sites and devices behind the figures with their
    completeness; the bureau gets completeness by county and by township (groups of at least
    k farms). ``format=csv`` exports the values.
    """
    ask = uc.ReportRequest(period=period, start=start, end=end, county_id=county_id,
                           threshold_pct=threshold_pct, target_set=target_set,
                           evidence=evidence, jurisdiction=jurisdiction)
    if format == "csv":
        return _download(uc.report_csv(session, services, ask))
    return uc.report(session, services, principal, ask)


@router.post("/snapshots", response_model=SnapshotOut, status_code=status.HTTP_201_CREATED)
def create_snapshot(body: SnapshotIn, principal: BureauView, session: DbSession,
                    services: Services) -> uc.SnapshotInfo:
    """Take an on-demand snapshot (immutable) of a period (default: the last 30 days)."""
    return uc.take(session, services, principal, uc.ReportRequest(
        period=body.period, start=body.start, end=body.end, threshold_pct=body.threshold_pct,
        target_set=body.target_set))


@router.get("/snapshots", response_model=list[SnapshotOut])
def snapshots(_: BureauView, session: DbSession, kind: uc.Kind | None = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[uc.SnapshotInfo]:
    """Snapshots, newest period first."""
    return uc.snapshots(session, kind, limit)


@router.get("/snapshots/{snapshot_id}", response_model=SnapshotDetail)
def snapshot(snapshot_id: SnapshotId, principal: BureauView,
             session: DbSession) -> uc.SnapshotDetail:
    """One snapshot: values, the targets/weights/denominators used, and the evidence."""
    return uc.snapshot(session, principal, snapshot_id)


@router.get("/snapshots/{snapshot_id}/export")
def export_snapshot(snapshot_id: SnapshotId, _: BureauView, session: DbSession,
                    format: Literal["csv", "json"] = "csv") -> Response:
    """A snapshot's values as CSV (UTF-8 with BOM) or JSON, for reports."""
    return _download(uc.export(session, snapshot_id, format))


@router.get("/{key}/history", response_model=HistoryOut)
def indicator_history(key: str, _: BureauView, session: DbSession,
                      county_id: Annotated[str | None, Query(max_length=32)] = None,
                      kind: uc.Kind = "monthly") -> uc.History:
    """An indicator's time series from the snapshots, per county and city, oldest first."""
    return uc.history_of(session, key, county_id, kind)
