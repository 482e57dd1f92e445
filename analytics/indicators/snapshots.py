"""Immutable indicator snapshots: monthly (one per month, idempotent) and on demand.

A snapshot keeps the values, the evidence, and the targets, weights and denominators it was
computed with; its rows are never updated or deleted (the ORM refuses, and no API offers it).
The month column is unique, so a second monthly snapshot of the same month cannot be stored
even by two schedulers racing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from analytics.indicators.config import IndicatorConfig
from analytics.indicators.immutable import write_once
from analytics.indicators.periods import Period, previous_month
from analytics.indicators.serialize import evidence_document, reference_document, value_row
from analytics.indicators.service import Evaluation, evaluate
from devices.registry import Device, utcnow
from storage.clock import from_ms
from storage.metadata import Base
from storage.telemetry import TelemetryStore

log = logging.getLogger(__name__)

MONTHLY = "monthly"
ON_DEMAND = "on_demand"


@write_once
class IndicatorSnapshot(Base):
    """One snapshot: its period, who took it, and the reference data used (write-once)."""

    __tablename__ = "indicator_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    month: Mapped[str | None] = mapped_column(String(7), unique=True, default=None)
    """``2025-06`` for monthly snapshots (unique), None for on-demand ones."""
    period_label: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    measured_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    target_set_id: Mapped[int] = mapped_column(ForeignKey("indicator_target_sets.id"))
    active_threshold_pct: Mapped[float] = mapped_column(Float)
    reference: Mapped[dict[str, Any]] = mapped_column(JSON)


@write_once
class SnapshotValue(Base):
    """One indicator value of a snapshot, for one county or the city (write-once)."""

    __tablename__ = "indicator_snapshot_values"
    __table_args__ = (Index("ix_snapshot_values_key_scope", "key", "scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("indicator_snapshots.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(256))
    unit: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float, default=None)
    baseline: Mapped[float | None] = mapped_column(Float, default=None)
    target: Mapped[float | None] = mapped_column(Float, default=None)
    expected: Mapped[float | None] = mapped_column(Float, default=None)
    progress_pct: Mapped[float | None] = mapped_column(Float, default=None)
    status: Mapped[str] = mapped_column(String(16))


@write_once
class SnapshotEvidence(Base):
    """The evidence document of a snapshot (write-once)."""

    __tablename__ = "indicator_snapshot_evidence"

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("indicator_snapshots.id"),
                                             primary_key=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One value of an indicator's time series."""

    snapshot_id: int
    kind: str
    period_label: str
    period_start: datetime
    scope: str
    value: float | None
    target: float | None
    expected: float | None
    status: str


def store_snapshot(session: Session, ev: Evaluation, *, kind: str, created_by: str) -> IndicatorSnapshot:
    """Insert an evaluation as a snapshot (flushes; the caller commits)."""
    month = ev.period.label if kind == MONTHLY else None
    snap = IndicatorSnapshot(
        kind=kind, month=month, period_label=ev.period.label,
        period_start=from_ms(ev.period.start_ms), period_end=from_ms(ev.period.end_ms),
        measured_until=from_ms(ev.fleet.period.end_ms), created_by=created_by,
        target_set_id=ev.target_set_id, active_threshold_pct=ev.config.active_threshold_pct,
        reference=reference_document(ev))
    session.add(snap)
    session.flush()
    for v in ev.values:
        row = value_row(v)
        session.add(SnapshotValue(
            snapshot_id=snap.id, key=v.key, scope=v.scope, name_zh=v.name_zh, name_en=v.name_en,
            unit=v.unit, value=row["value"], baseline=row["baseline"], target=row["target"],
            expected=row["expected"], progress_pct=row["progress_pct"], status=row["status"]))
    session.add(SnapshotEvidence(snapshot_id=snap.id, evidence=evidence_document(ev)))
    session.flush()
    return snap


def take_snapshot(session: Session, store: TelemetryStore, *, period: Period, now_ms: int,
                  config: IndicatorConfig, created_by: str,
                  target_version: str | None = None) -> IndicatorSnapshot:
    """Compute and store an on-demand snapshot of ``period``; commits."""
    ev = evaluate(session, store, period=period, now_ms=now_ms, config=config,
                  target_version=target_version)
    snap = store_snapshot(session, ev, kind=ON_DEMAND, created_by=created_by)
    session.commit()
    return snap


def monthly_snapshot_exists(session: Session, month: str) -> bool:
    """True when the monthly snapshot of ``month`` (``2025-06``) is stored."""
    return session.scalar(select(IndicatorSnapshot.id).where(IndicatorSnapshot.month == month)) \
        is not None


def take_monthly_snapshot(sessions: sessionmaker[Any], store: TelemetryStore, *, now_ms: int,
                          config: IndicatorConfig) -> int | None:
    """Snapshot the last complete CST month unless it is stored or nothing was installed
    before it ended (a fresh installation has no history to report); its id, or None."""
    period = previous_month(now_ms)
    with sessions() as session:
        if monthly_snapshot_exists(session, period.label):
            return None
        if session.scalar(select(Device.id).where(Device.created_at < from_ms(period.end_ms))
                          .limit(1)) is None:
            log.info("no device before the end of %s: no indicator snapshot", period.label)
            return None
        ev = evaluate(session, store, period=period, now_ms=now_ms, config=config)
        try:
            snap = store_snapshot(session, ev, kind=MONTHLY, created_by="scheduler")
            session.commit()
        except IntegrityError:  # another scheduler stored it meanwhile
            session.rollback()
            return None
        log.info("indicator snapshot %d of %s stored", snap.id, period.label)
        return snap.id


def list_snapshots(session: Session, *, kind: str | None = None, limit: int = 100) -> list[IndicatorSnapshot]:
    """Snapshots, newest period first."""
    q = select(IndicatorSnapshot).order_by(IndicatorSnapshot.period_start.desc(),
                                           IndicatorSnapshot.id.desc()).limit(limit)
    if kind is not None:
        q = q.where(IndicatorSnapshot.kind == kind)
    return list(session.scalars(q))


def snapshot_values(session: Session, snapshot_id: int) -> list[SnapshotValue]:
    """The values of one snapshot, by scope then key."""
    return list(session.scalars(select(SnapshotValue).where(SnapshotValue.snapshot_id == snapshot_id)
                                .order_by(SnapshotValue.scope, SnapshotValue.id)))


def snapshot_evidence(session: Session, snapshot_id: int) -> dict[str, Any]:
    """The evidence document of one snapshot ({} if none)."""
    row = session.get(SnapshotEvidence, snapshot_id)
    return {} if row is None else dict(row.evidence)


def history(session: Session, key: str, *, scope: str | None = None,
            kind: str = MONTHLY) -> list[HistoryPoint]:
    """The time series of one indicator, oldest period first, per scope."""
    q = (select(SnapshotValue, IndicatorSnapshot)
         .join(IndicatorSnapshot, SnapshotValue.snapshot_id == IndicatorSnapshot.id)
         .where(SnapshotValue.key == key, IndicatorSnapshot.kind == kind)
         .order_by(IndicatorSnapshot.period_start, IndicatorSnapshot.id, SnapshotValue.scope))
    if scope is not None:
        q = q.where(SnapshotValue.scope == scope)
    return [HistoryPoint(s.id, s.kind, s.period_label, s.period_start, v.scope, v.value,
                         v.target, v.expected, v.status) for v, s in session.execute(q)]
