"""Alert persistence (SQLAlchemy 2, on ``storage.metadata.Base``): alerts, audit trail, repository.

One open alert per (rule_id, subject_id) is guaranteed twice: in code (checked inside the
writing transaction) and by the unique index ``uq_alerts_one_open`` over
``(rule_id, subject_id, open_key)``, where ``open_key`` is 1 while the alert is open or
acknowledged and NULL once resolved. Unique indexes treat NULLs as distinct in both SQLite and
PostgreSQL, so any number of resolved alerts may coexist with at most one open one — a
portable partial unique index.

Importing this module registers the two tables on ``Base``; the migrations
(``farmtel.migrate``) create them.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from analytics.alerts.rules import Severity, SubjectType
from analytics.alerts.transitions import ActiveAlert, Transition, TransitionKind
from devices.registry import utcnow
from storage.clock import from_ms, to_ms
from storage.errors import Conflict, NotFound
from storage.metadata import Base

__all__ = ["OPEN_KEY", "SYSTEM_ACTOR", "Alert", "AlertEvent", "AlertNotFound", "AlertRepository",
           "AlertState", "InvalidTransition"]

log = logging.getLogger(__name__)

OPEN_KEY = 1
"""``Alert.open_key`` of open and acknowledged alerts (NULL once resolved)."""
SYSTEM_ACTOR = "system"
"""Actor recorded for the engine's own transitions."""


class AlertState(StrEnum):
    """Where an alert is in its lifecycle: open → acknowledged → resolved (or open → resolved)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertNotFound(NotFound):
    """No alert with that id."""


class InvalidTransition(Conflict):
    """The requested change is not allowed from the alert's current state."""


def _aware(dt: datetime) -> datetime:
    """SQLite returns naive datetimes: they are UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


class Alert(Base):
    """One alert of one rule about one subject (device or site)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("uq_alerts_one_open", "rule_id", "subject_id", "open_key", unique=True),
        Index("ix_alerts_county_state", "county_id", "state"),
        Index("ix_alerts_farm_state", "farm_id", "state"),
        Index("ix_alerts_site_state", "site_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(128))
    device_id: Mapped[str] = mapped_column(String(128), default="")
    site_id: Mapped[str] = mapped_column(String(64), default="")
    farm_id: Mapped[str] = mapped_column(String(64), default="")
    county_id: Mapped[str] = mapped_column(String(32), default="")
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=AlertState.OPEN.value)
    title_zh: Mapped[str] = mapped_column(String(256))
    title_en: Mapped[str] = mapped_column(String(256))
    value: Mapped[float | None] = mapped_column(Float, default=None)
    threshold: Mapped[float | None] = mapped_column(Float, default=None)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                             default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(128), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    open_key: Mapped[int | None] = mapped_column(Integer, default=OPEN_KEY)

    def to_active(self) -> ActiveAlert:
        """What ``AlertEngine.restore`` needs of this (open or acknowledged) alert."""
        return ActiveAlert(
            rule_id=self.rule_id, subject_type=SubjectType(self.subject_type),
            subject_id=self.subject_id, severity=Severity(self.severity),
            opened_ms=to_ms(self.opened_at), value=self.value,
            device_id=self.device_id, site_id=self.site_id, farm_id=self.farm_id,
            county_id=self.county_id,
        )

    def to_transition(self, kind: TransitionKind, *, actor: str | None = None,
                      note: str | None = None, at: datetime | None = None) -> Transition:
        """A transition describing a change of this alert (to notify people of manual actions)."""
        when = _aware(at or utcnow())
        return Transition(
            kind=kind, rule_id=self.rule_id, subject_type=SubjectType(self.subject_type),
            subject_id=self.subject_id, severity=Severity(self.severity),
            ts_ms=to_ms(when), value=self.value, threshold=self.threshold,
            title_zh=self.title_zh, title_en=self.title_en, device_id=self.device_id,
            site_id=self.site_id, farm_id=self.farm_id, county_id=self.county_id,
            actor=actor, note=note, alert_id=self.id,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (timestamps as ISO 8601 UTC)."""
        def iso(dt: datetime | None) -> str | None:
            return _aware(dt).isoformat() if dt is not None else None

        return {
            "id": self.id, "rule_id": self.rule_id, "subject_type": self.subject_type,
            "subject_id": self.subject_id, "device_id": self.device_id,
            "site_id": self.site_id, "farm_id": self.farm_id, "county_id": self.county_id,
            "severity": self.severity, "state": self.state, "title_zh": self.title_zh,
            "title_en": self.title_en, "value": self.value, "threshold": self.threshold,
            "opened_at": iso(self.opened_at), "acknowledged_at": iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by, "resolved_at": iso(self.resolved_at),
            "resolved_by": self.resolved_by, "note": self.note,
        }


class AlertEvent(Base):
    """Audit trail: every state change of an alert (``from_state`` NULL at creation).

    A severity change is recorded with ``from_state == to_state`` and the change in ``note``.
    """

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"),
                                          index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    from_state: Mapped[str | None] = mapped_column(String(16), default=None)
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text, default=None)


def _open_alert(session: Session, rule_id: str, subject_id: str) -> Alert | None:
    return session.scalars(
        select(Alert).where(Alert.rule_id == rule_id, Alert.subject_id == subject_id,
                            Alert.open_key == OPEN_KEY)
    ).first()


class AlertRepository:
    """Reads and writes alerts; every write is one transaction with its audit event.

    :param sessions: a session factory on the metadata database (``make_session_factory``).
    """

    def __init__(self, sessions: sessionmaker[Any]) -> None:
        self._sessions = sessions

    def _session(self) -> Session:
        session: Session = self._sessions(expire_on_commit=False)
        return session

    # -- engine transitions -----------------------------------------------------------------

    def apply(self, transitions: Iterable[Transition]) -> builtins.list[Transition]:
        """Persist engine transitions; returns those that changed something, with ``alert_id``.

        Idempotent: an OPENED for a (rule, subject) that already has an open alert, or a
        SEVERITY_CHANGED/RESOLVED without one (e.g. resolved by hand meanwhile), is skipped.
        """
        applied: builtins.list[Transition] = []
        for t in transitions:
            try:
                alert_id = self._apply_one(t)
            except IntegrityError:  # a concurrent writer opened the same (rule, subject)
                log.info("alert %s/%s already open (concurrent)", t.rule_id, t.subject_id)
                alert_id = None
            if alert_id is not None:
                applied.append(_with_id(t, alert_id))
        return applied

    def _apply_one(self, t: Transition) -> int | None:
        with self._session() as session, session.begin():
            existing = _open_alert(session, t.rule_id, t.subject_id)
            at = from_ms(t.ts_ms)
            if t.kind is TransitionKind.OPENED:
                if existing is not None:
                    log.debug("duplicate open of %s/%s ignored", t.rule_id, t.subject_id)
                    return None
                alert = Alert(
                    rule_id=t.rule_id, subject_type=t.subject_type.value,
                    subject_id=t.subject_id, device_id=t.device_id, site_id=t.site_id,
                    farm_id=t.farm_id, county_id=t.county_id, severity=t.severity.value,
                    state=AlertState.OPEN.value, title_zh=t.title_zh, title_en=t.title_en,
                    value=t.value, threshold=t.threshold, opened_at=at, open_key=OPEN_KEY,
                )
                session.add(alert)
                session.flush()
                session.add(AlertEvent(alert_id=alert.id, at=at, from_state=None,
                                       to_state=AlertState.OPEN.value, actor=SYSTEM_ACTOR))
                return alert.id
            if existing is None:
                log.debug("%s for %s/%s without an open alert ignored", t.kind, t.rule_id,
                          t.subject_id)
                return None
            state = existing.state
            if t.kind is TransitionKind.SEVERITY_CHANGED:
                note = f"severity {existing.severity} -> {t.severity.value}"
                existing.severity = t.severity.value
                existing.value, existing.threshold = t.value, t.threshold
                existing.title_zh, existing.title_en = t.title_zh, t.title_en
                session.add(AlertEvent(alert_id=existing.id, at=at, from_state=state,
                                       to_state=state, actor=SYSTEM_ACTOR, note=note))
                return existing.id
            if t.kind is TransitionKind.RESOLVED:
                self._close(session, existing, at, t.actor or SYSTEM_ACTOR, t.note)
                return existing.id
            raise InvalidTransition(f"the engine does not emit {t.kind}")

    @staticmethod
    def _close(session: Session, alert: Alert, at: datetime, actor: str,
               note: str | None) -> None:
        session.add(AlertEvent(alert_id=alert.id, at=at, from_state=alert.state,
                               to_state=AlertState.RESOLVED.value, actor=actor, note=note))
        alert.state = AlertState.RESOLVED.value
        alert.resolved_at, alert.resolved_by, alert.open_key = at, actor, None
        if note:
            alert.note = note

    # -- people -----------------------------------------------------------------------------

    def acknowledge(self, alert_id: int, actor: str, note: str | None = None) -> Alert:
        """open → acknowledged; ``InvalidTransition`` from any other state."""
        if not actor.strip():
            raise ValueError("actor is required")
        with self._session() as session, session.begin():
            alert = self._get(session, alert_id)
            if alert.state != AlertState.OPEN.value:
                raise InvalidTransition(
                    f"alert {alert_id} is {alert.state}; only an open alert can be acknowledged")
            at = utcnow()
            session.add(AlertEvent(alert_id=alert.id, at=at, from_state=alert.state,
                                   to_state=AlertState.ACKNOWLEDGED.value, actor=actor,
                                   note=note))
            alert.state = AlertState.ACKNOWLEDGED.value
            alert.acknowledged_at, alert.acknowledged_by = at, actor
            if note:
                alert.note = note
            return alert

    def resolve(self, alert_id: int, actor: str, note: str | None = None) -> Alert:
        """open/acknowledged → resolved by a person; ``InvalidTransition`` if already resolved.

        Tell the engine too (``AlertEngine.resolved_by_hand``) so it does not reopen at once.
        """
        if not actor.strip():
            raise ValueError("actor is required")
        with self._session() as session, session.begin():
            alert = self._get(session, alert_id)
            if alert.state == AlertState.RESOLVED.value:
                raise InvalidTransition(f"alert {alert_id} is already resolved")
            self._close(session, alert, utcnow(), actor, note)
            return alert

    # -- reads ------------------------------------------------------------------------------

    @staticmethod
    def _get(session: Session, alert_id: int) -> Alert:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise AlertNotFound(f"no alert {alert_id}")
        return alert

    def get(self, alert_id: int) -> Alert:
        """One alert; ``AlertNotFound`` if there is none."""
        with self._session() as session:
            return self._get(session, alert_id)

    def list(
        self,
        *,
        county: str | None = None,
        farm: str | None = None,
        site: str | None = None,
        severity: Severity | str | None = None,
        state: AlertState | str | Iterable[AlertState | str] | None = None,
        farms: Iterable[str] | None = None,
        limit: int = 100,
    ) -> builtins.list[Alert]:
        """Alerts matching every given filter, newest first, at most ``limit`` (1..10000).

        ``farms`` narrows to a set of farms (an agronomist's scope).
        """
        if not 1 <= limit <= 10_000:
            raise ValueError("limit must be in 1..10000")
        q = select(Alert)
        if county is not None:
            q = q.where(Alert.county_id == county)
        if farm is not None:
            q = q.where(Alert.farm_id == farm)
        if farms is not None:
            q = q.where(Alert.farm_id.in_(builtins.list(farms)))
        if site is not None:
            q = q.where(Alert.site_id == site)
        if severity is not None:
            q = q.where(Alert.severity == Severity(severity).value)
        if state is not None:
            states = [state] if isinstance(state, str) else builtins.list(state)
            q = q.where(Alert.state.in_([AlertState(s).value for s in states]))
        q = q.order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit)
        with self._session() as session:
            return builtins.list(session.scalars(q))

    def events(self, alert_id: int) -> builtins.list[AlertEvent]:
        """The audit trail of one alert, in the order it was written (``AlertNotFound`` if no such alert)."""
        with self._session() as session:
            self._get(session, alert_id)
            q = (select(AlertEvent).where(AlertEvent.alert_id == alert_id)
                 .order_by(AlertEvent.id))
            return builtins.list(session.scalars(q))

    def active_alerts(self) -> builtins.list[ActiveAlert]:
        """Every open or acknowledged alert, for ``AlertEngine.restore``."""
        with self._session() as session:
            rows = session.scalars(select(Alert).where(Alert.open_key == OPEN_KEY))
            return [a.to_active() for a in rows]


def _with_id(t: Transition, alert_id: int) -> Transition:
    return replace(t, alert_id=alert_id)
