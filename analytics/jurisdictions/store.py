"""Jurisdictions in the metadata database: load one from data, record and read its official
denominators and reported values (each edit a new row, the newest valid one current)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from analytics.indicators.reference import (
    DenominatorKey,
    Denominators,
    SectorWeights,
    SourcedValue,
    parse_sector_weights,
)
from analytics.indicators.targets import TargetSet, store_target_set
from analytics.jurisdictions.documents import (
    DenominatorDoc,
    JurisdictionDoc,
    packaged_json,
    parse_jurisdiction,
)
from analytics.jurisdictions.tables import (
    CITY_SCOPE,
    Jurisdiction,
    JurisdictionUnit,
    OfficialDenominator,
    ReportedValue,
)
from devices.registry import County
from storage.errors import Conflict, InvalidInput, NotFound

DEFAULT_FILE = "jurisdiction.json"
"""The packaged jurisdiction, loaded into an empty database (``analytics/data``)."""
PACKAGED_BY = "packaged"


class JurisdictionExists(Conflict):
    """A jurisdiction with this id is stored already."""


class UnknownJurisdiction(NotFound):
    """No jurisdiction with this id."""


@dataclass(frozen=True, slots=True)
class JurisdictionInfo:
    """A stored jurisdiction and its units (county ids, in order)."""

    row: Jurisdiction
    units: tuple[JurisdictionUnit, ...]

    @property
    def unit_ids(self) -> tuple[str, ...]:
        """Registry county ids of the units."""
        return tuple(u.county_id for u in self.units)

    def weights(self) -> SectorWeights:
        """The jurisdiction's sector weights."""
        return parse_sector_weights(self.row.weights)


def default_document() -> JurisdictionDoc:
    """The packaged jurisdiction."""
    return parse_jurisdiction(packaged_json(DEFAULT_FILE))


def _valid_from(d: DenominatorDoc) -> date:
    return date(d.year, 1, 1)


def store_jurisdiction(session: Session, doc: JurisdictionDoc, *, created_by: str) -> Jurisdiction:
    """Insert ``doc``: its units (registry counties, created or renamed), its target set (if
    that version is new), its denominators (valid from 1 January of their year). Flushes; the
    caller commits. ``JurisdictionExists`` for a used id, ``Conflict`` for a unit of another
    jurisdiction."""
    if session.get(Jurisdiction, doc.id) is not None:
        raise JurisdictionExists(f"jurisdiction {doc.id!r} exists")
    taken = set(session.scalars(select(JurisdictionUnit.county_id).where(
        JurisdictionUnit.county_id.in_([u.id for u in doc.units]))))
    if taken:
        raise Conflict(f"units {sorted(taken)} belong to another jurisdiction")
    if session.scalar(select(TargetSet.id).where(TargetSet.version == doc.targets.version)) is None:
        store_target_set(session, doc.targets, created_by=created_by)
    session.add(Jurisdiction(id=doc.id, name_zh=doc.name_zh, name_en=doc.name_en,
                             level_zh=doc.level_zh, unit_level_zh=doc.unit_level_zh,
                             target_set_version=doc.targets.version,
                             weights=dict(doc.weights_doc), source=dict(doc.source),
                             created_by=created_by))
    for u in doc.units:
        county = session.get(County, u.id)
        if county is None:
            session.add(County(id=u.id, name_zh=u.name_zh, name_en=u.name_en,
                               plan_group=u.plan_group))
        else:
            county.name_zh, county.name_en, county.plan_group = u.name_zh, u.name_en, u.plan_group
    session.flush()
    for i, u in enumerate(doc.units):
        session.add(JurisdictionUnit(county_id=u.id, jurisdiction_id=doc.id, position=i,
                                     townships=list(u.townships)))
    for d in doc.denominators:
        record_denominator(session, doc.id, d, entered_by=created_by, valid_from=_valid_from(d))
    session.flush()
    row = session.get(Jurisdiction, doc.id)
    assert row is not None
    return row


def ensure_default_jurisdiction(session: Session) -> None:
    """Load the packaged jurisdiction into a database without any (safe under concurrent
    first calls); commits."""
    if session.scalar(select(Jurisdiction.id).limit(1)) is not None:
        return
    try:
        store_jurisdiction(session, default_document(), created_by=PACKAGED_BY)
        session.commit()
    except (IntegrityError, JurisdictionExists):
        session.rollback()


def jurisdictions(session: Session) -> list[JurisdictionInfo]:
    """Every jurisdiction (the packaged one loaded first if none is), oldest first."""
    ensure_default_jurisdiction(session)
    rows = list(session.scalars(select(Jurisdiction).order_by(Jurisdiction.created_at,
                                                               Jurisdiction.id)))
    units = list(session.scalars(select(JurisdictionUnit).order_by(JurisdictionUnit.position)))
    return [JurisdictionInfo(r, tuple(u for u in units if u.jurisdiction_id == r.id))
            for r in rows]


def jurisdiction(session: Session, jurisdiction_id: str | None = None) -> JurisdictionInfo:
    """The jurisdiction ``jurisdiction_id``, or the first stored (the packaged one)."""
    found = jurisdictions(session)
    for info in found:
        if jurisdiction_id is None or info.row.id == jurisdiction_id:
            return info
    raise UnknownJurisdiction(f"unknown jurisdiction {jurisdiction_id!r}")


def _scopes(session: Session, jurisdiction_id: str) -> set[str]:
    units = session.scalars(select(JurisdictionUnit.county_id).where(
        JurisdictionUnit.jurisdiction_id == jurisdiction_id))
    return {CITY_SCOPE, *units}


def check_scope(session: Session, jurisdiction_id: str, scope: str) -> None:
    """``InvalidInput`` unless ``scope`` is ``city`` or a unit of the jurisdiction."""
    if scope not in _scopes(session, jurisdiction_id):
        raise InvalidInput(f"scope {scope!r} is neither city nor a unit of {jurisdiction_id}")


def record_denominator(session: Session, jurisdiction_id: str, d: DenominatorDoc, *,
                       entered_by: str, valid_from: date) -> OfficialDenominator:
    """Append a version of an official figure (flushes; never overwrites)."""
    row = OfficialDenominator(jurisdiction_id=jurisdiction_id, scope=d.scope, key=d.key.value,
                              value=d.value, unit=d.unit, year=d.year, document=d.document,
                              section=d.section, valid_from=valid_from, entered_by=entered_by)
    session.add(row)
    session.flush()
    return row


def denominator_history(session: Session, jurisdiction_id: str, scope: str | None = None,
                        ) -> list[OfficialDenominator]:
    """Every version of the jurisdiction's figures (of one scope), newest first."""
    q = select(OfficialDenominator).where(OfficialDenominator.jurisdiction_id == jurisdiction_id)
    if scope is not None:
        q = q.where(OfficialDenominator.scope == scope)
    return list(session.scalars(q.order_by(OfficialDenominator.id.desc())))


def provenance(row: OfficialDenominator | ReportedValue) -> str:
    """Where a figure comes from and who entered it, in one line."""
    section = f", {row.section}" if row.section else ""
    return f"{row.document}{section} ({row.year}); entered by {row.entered_by}"


def denominators_at(session: Session, jurisdiction_id: str, on: date) -> Denominators:
    """The official figures valid on ``on`` (newest valid_from, then newest entry)."""
    current: dict[tuple[str, str], OfficialDenominator] = {}
    for row in denominator_history(session, jurisdiction_id):
        if row.valid_from > on:
            continue
        held = current.get((row.scope, row.key))
        if held is None or row.valid_from > held.valid_from:
            current[(row.scope, row.key)] = row
    counties: dict[str, dict[DenominatorKey, SourcedValue]] = {}
    city: dict[str, SourcedValue] = {}
    for (scope, name), row in current.items():
        value = SourcedValue(row.value, provenance(row), f"official v{row.id}")
        if scope == CITY_SCOPE:
            city[name] = value
        else:
            counties.setdefault(scope, {})[DenominatorKey(name)] = value
    version = max((r.id for r in current.values()), default=0)
    return Denominators(f"{jurisdiction_id}@{version}",
                        MappingProxyType({c: MappingProxyType(v) for c, v in counties.items()}),
                        MappingProxyType(city))


def record_reported(session: Session, jurisdiction_id: str, *, scope: str, key: str, year: int,
                    value: float, unit: str, document: str, section: str,
                    entered_by: str) -> ReportedValue:
    """Append a reported value (flushes; never overwrites)."""
    row = ReportedValue(jurisdiction_id=jurisdiction_id, scope=scope, key=key, year=year,
                        value=value, unit=unit, document=document, section=section,
                        entered_by=entered_by)
    session.add(row)
    session.flush()
    return row


def reported_history(session: Session, jurisdiction_id: str, key: str | None = None,
                     ) -> list[ReportedValue]:
    """Every reported value of the jurisdiction (of one indicator), newest first."""
    q = select(ReportedValue).where(ReportedValue.jurisdiction_id == jurisdiction_id)
    if key is not None:
        q = q.where(ReportedValue.key == key)
    return list(session.scalars(q.order_by(ReportedValue.id.desc())))


def reported_for_year(session: Session, jurisdiction_id: str, year: int,
                      ) -> Mapping[tuple[str, str], ReportedValue]:
    """The newest reported value per (scope, key) for ``year``."""
    out: dict[tuple[str, str], ReportedValue] = {}
    for row in reported_history(session, jurisdiction_id):
        if row.year == year:
            out.setdefault((row.scope, row.key), row)
    return out
