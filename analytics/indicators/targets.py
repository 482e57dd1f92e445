"""Plan targets as versioned, write-once data: parsed from JSON, kept in the metadata database.

The packaged jurisdiction's set (``analytics/data/jurisdiction.json`` names its file) is
inserted the first time targets are needed; an admin uploads a newer plan's set as JSON under a new
version. The newest set is current; snapshots keep the id of, and a copy of, the set they used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from analytics.indicators.immutable import write_once
from devices.registry import utcnow
from storage.errors import Conflict
from storage.metadata import Base

DEFAULT_JURISDICTION_FILE = "jurisdiction.json"
SCOPES = ("city", "county")


class TargetSetExists(Conflict):
    """A target set with this version is already stored."""


@dataclass(frozen=True, slots=True)
class TargetDef:
    """One indicator's target; ``scope`` ``county`` means it applies to each county too."""

    key: str
    name_zh: str
    name_en: str
    unit: str
    baseline: float | None
    target: float | None
    scope: str
    source_ref: str


@dataclass(frozen=True, slots=True)
class TargetSetDoc:
    """A versioned set of targets from one plan."""

    version: str
    title: str
    baseline_year: int
    target_year: int
    source: Mapping[str, Any]
    targets: tuple[TargetDef, ...]

    def by_key(self) -> dict[str, TargetDef]:
        """Targets keyed by indicator key."""
        return {t.key: t for t in self.targets}

    def to_json(self) -> dict[str, Any]:
        """The set as a JSON-ready dict (the upload format)."""
        return {
            "version": self.version, "title": self.title, "baseline_year": self.baseline_year,
            "target_year": self.target_year, "source": dict(self.source),
            "targets": [
                {"key": t.key, "name_zh": t.name_zh, "name_en": t.name_en, "unit": t.unit,
                 "baseline": t.baseline, "target": t.target, "scope": t.scope,
                 "source_ref": t.source_ref} for t in self.targets
            ],
        }


def _number(raw: Any, what: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"{what} must be a number or null")
    return float(raw)


def parse_target_set(doc: Mapping[str, Any]) -> TargetSetDoc:
    """A validated ``TargetSetDoc`` from the JSON format; ``ValueError`` on any defect."""
    try:
        rows = doc["targets"]
        targets = tuple(
            TargetDef(key=str(r["key"]), name_zh=str(r["name_zh"]), name_en=str(r["name_en"]),
                      unit=str(r["unit"]), baseline=_number(r.get("baseline"), f"{r['key']}.baseline"),
                      target=_number(r.get("target"), f"{r['key']}.target"),
                      scope=str(r.get("scope", "city")), source_ref=str(r["source_ref"]))
            for r in rows
        )
        result = TargetSetDoc(version=str(doc["version"]), title=str(doc.get("title", "")),
                              baseline_year=int(doc["baseline_year"]),
                              target_year=int(doc["target_year"]),
                              source=dict(doc.get("source") or {}), targets=targets)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"target set is missing or mistypes {exc}") from exc
    if not result.version or len(result.version) > 64:
        raise ValueError("version must be 1-64 characters")
    if result.target_year <= result.baseline_year:
        raise ValueError("target_year must follow baseline_year")
    keys = [t.key for t in targets]
    if not keys or len(set(keys)) != len(keys):
        raise ValueError("targets must be non-empty with unique keys")
    for t in targets:
        if t.scope not in SCOPES:
            raise ValueError(f"{t.key}: scope must be city or county")
        if not t.source_ref:
            raise ValueError(f"{t.key}: source_ref is required")
    return result


def packaged_target_set() -> TargetSetDoc:
    """The targets of the jurisdiction shipped with farmtel."""
    def read(name: str) -> Any:
        return json.loads(resources.files("analytics.data").joinpath(name).read_text(
            encoding="utf-8"))

    entry = read(DEFAULT_JURISDICTION_FILE)["target_set"]
    return parse_target_set(read(entry) if isinstance(entry, str) else entry)


@write_once
class TargetSet(Base):
    """A stored, versioned target set (write-once)."""

    __tablename__ = "indicator_target_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(256))
    baseline_year: Mapped[int] = mapped_column(Integer)
    target_year: Mapped[int] = mapped_column(Integer)
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(128), default=None)

    targets: Mapped[list[PlanTarget]] = relationship(order_by="PlanTarget.position",
                                                     lazy="selectin")

    def doc(self) -> TargetSetDoc:
        """The set as a plain document."""
        return TargetSetDoc(
            self.version, self.title, self.baseline_year, self.target_year, dict(self.source),
            tuple(TargetDef(t.key, t.name_zh, t.name_en, t.unit, t.baseline, t.target, t.scope,
                            t.source_ref) for t in self.targets))


@write_once
class PlanTarget(Base):
    """One target of a stored set (write-once)."""

    __tablename__ = "indicator_targets"
    __table_args__ = (UniqueConstraint("set_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("indicator_target_sets.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(64))
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(256))
    unit: Mapped[str] = mapped_column(String(16))
    baseline: Mapped[float | None] = mapped_column(Float, default=None)
    target: Mapped[float | None] = mapped_column(Float, default=None)
    scope: Mapped[str] = mapped_column(String(8))
    source_ref: Mapped[str] = mapped_column(String(512))


def store_target_set(session: Session, doc: TargetSetDoc, *, created_by: str | None = None) -> TargetSet:
    """Insert ``doc`` (flushes; the caller commits); ``TargetSetExists`` for a used version."""
    if session.scalar(select(TargetSet.id).where(TargetSet.version == doc.version)) is not None:
        raise TargetSetExists(f"target set {doc.version!r} exists")
    row = TargetSet(version=doc.version, title=doc.title, baseline_year=doc.baseline_year,
                    target_year=doc.target_year, source=dict(doc.source), created_by=created_by)
    session.add(row)
    session.flush()
    for i, t in enumerate(doc.targets):
        session.add(PlanTarget(set_id=row.id, position=i, key=t.key, name_zh=t.name_zh,
                               name_en=t.name_en, unit=t.unit, baseline=t.baseline,
                               target=t.target, scope=t.scope, source_ref=t.source_ref))
    session.flush()
    session.refresh(row)
    return row


def ensure_packaged_targets(session: Session) -> None:
    """Store the packaged set once (safe under concurrent first calls); commits."""
    doc = packaged_target_set()
    if session.scalar(select(TargetSet.id).where(TargetSet.version == doc.version)) is not None:
        return
    try:
        store_target_set(session, doc, created_by="packaged")
        session.commit()
    except (IntegrityError, TargetSetExists):
        session.rollback()


def target_sets(session: Session) -> list[TargetSet]:
    """Every stored set, newest first (the packaged one is stored first if none is)."""
    if session.scalar(select(TargetSet.id).limit(1)) is None:
        ensure_packaged_targets(session)
    return list(session.scalars(select(TargetSet).order_by(TargetSet.id.desc())))


def current_target_set(session: Session, version: str | None = None) -> TargetSet | None:
    """The set named ``version``, or the newest one; None for an unknown version."""
    sets = target_sets(session)
    if version is None:
        return sets[0] if sets else None
    return next((s for s in sets if s.version == version), None)
