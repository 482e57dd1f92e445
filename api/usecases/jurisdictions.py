"""Jurisdictions, their official denominators and reported indicator values: list, load or
create (admin), append a version with its provenance (admin), read with history. Shared by
the JSON routes and the indicators page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from analytics.indicators.service import jurisdiction_target_set
from analytics.jurisdictions.documents import parse_denominator, parse_jurisdiction
from analytics.jurisdictions.store import (
    JurisdictionInfo,
    check_scope,
    denominator_history,
    denominators_at,
    jurisdiction,
    jurisdictions,
    record_denominator,
    record_reported,
    reported_history,
    store_jurisdiction,
)
from analytics.jurisdictions.tables import OfficialDenominator, ReportedValue
from api.auth import Principal
from storage.clock import cst_date, now_ms
from storage.errors import InvalidInput


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def info_json(info: JurisdictionInfo) -> dict[str, Any]:
    """A jurisdiction with its units (and their plan group and townships)."""
    r = info.row
    return {"id": r.id, "name_zh": r.name_zh, "name_en": r.name_en, "level_zh": r.level_zh,
            "unit_level_zh": r.unit_level_zh, "target_set_version": r.target_set_version,
            "source": dict(r.source), "created_by": r.created_by,
            "units": [{"id": u.county_id, "townships": list(u.townships)} for u in info.units]}


def list_all(session: Session) -> list[dict[str, Any]]:
    """Every jurisdiction, the packaged one first."""
    return [info_json(i) for i in jurisdictions(session)]


def create(session: Session, principal: Principal, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Load a jurisdiction from its document (``InvalidInput`` for a bad one, ``Conflict`` for
    a used id or a unit of another jurisdiction)."""
    jurisdictions(session)  # the packaged one first
    try:
        parsed = parse_jurisdiction(dict(doc))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(str(exc)) from exc
    store_jurisdiction(session, parsed, created_by=principal.name)
    session.commit()
    return info_json(jurisdiction(session, parsed.id))


def denominator_json(row: OfficialDenominator) -> dict[str, Any]:
    """One version of an official figure."""
    return {"id": row.id, "jurisdiction": row.jurisdiction_id, "scope": row.scope, "key": row.key,
            "value": row.value, "unit": row.unit, "year": row.year, "document": row.document,
            "section": row.section, "valid_from": row.valid_from,
            "entered_by": row.entered_by, "entered_at": _utc(row.entered_at)}


def add_denominator(session: Session, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
    """Append a version of an official figure (valid from ``valid_from``, default 1 January
    of its year)."""
    info = jurisdiction(session, body.get("jurisdiction"))
    check_scope(session, info.row.id, str(body.get("scope")))
    try:
        d = parse_denominator(body, {str(body.get("scope"))})
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    valid_from = body.get("valid_from") or date(d.year, 1, 1)
    row = record_denominator(session, info.row.id, d, entered_by=principal.name,
                             valid_from=valid_from)
    session.commit()
    return denominator_json(row)


def denominators(session: Session, jurisdiction_id: str | None, scope: str | None,
                 on: date | None = None) -> dict[str, Any]:
    """The figures current on ``on`` (default today, CST) and every version, newest first."""
    info = jurisdiction(session, jurisdiction_id)
    day = on or cst_date(now_ms())
    cur = denominators_at(session, info.row.id, day)
    current = [{"scope": "city", "key": k, "value": v.value, "source": v.source}
               for k, v in cur.city.items()]
    current += [{"scope": c, "key": k.value, "value": v.value, "source": v.source}
                for c, vs in cur.counties.items() for k, v in vs.items()]
    return {"jurisdiction": info.row.id, "on": day,
            "current": [c for c in current if scope is None or c["scope"] == scope],
            "history": [denominator_json(r) for r in denominator_history(session, info.row.id, scope)]}


def reported_json(row: ReportedValue) -> dict[str, Any]:
    """One reported value with its provenance."""
    return {"id": row.id, "jurisdiction": row.jurisdiction_id, "scope": row.scope, "key": row.key,
            "year": row.year, "value": row.value, "unit": row.unit, "document": row.document,
            "section": row.section, "entered_by": row.entered_by,
            "entered_at": _utc(row.entered_at)}


def add_reported(session: Session, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
    """Append a reported value of a plan indicator for a scope and year."""
    info = jurisdiction(session, body.get("jurisdiction"))
    scope, key = str(body.get("scope")), str(body.get("key"))
    check_scope(session, info.row.id, scope)
    target_set = jurisdiction_target_set(session, info)
    target = None if target_set is None else target_set.doc().by_key().get(key)
    if target is None:
        raise InvalidInput(f"{key!r} is not an indicator of the jurisdiction's plan")
    row = record_reported(session, info.row.id, scope=scope, key=key, year=int(body["year"]),
                          value=float(body["value"]), unit=target.unit,
                          document=str(body["document"]), section=str(body.get("section") or ""),
                          entered_by=principal.name)
    session.commit()
    return reported_json(row)


def reported(session: Session, jurisdiction_id: str | None, key: str | None) -> list[dict[str, Any]]:
    """Every reported value (of one indicator), newest first."""
    info = jurisdiction(session, jurisdiction_id)
    return [reported_json(r) for r in reported_history(session, info.row.id, key)]
