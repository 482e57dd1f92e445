"""Plan target sets: the stored sets, newest (current) first, and uploading a newer plan's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from analytics.indicators.targets import (
    TargetSet,
    parse_target_set,
    store_target_set,
    target_sets,
)
from api.auth import Principal
from storage.errors import InvalidInput


def stored_sets(session: Session) -> list[TargetSet]:
    """Every stored target set, newest (current) first."""
    return list(target_sets(session))


def upload(session: Session, principal: Principal, doc: Mapping[str, Any]) -> TargetSet:
    """Store a new, versioned target set; it becomes current (``InvalidInput`` for a bad
    document, ``Conflict`` for a used version). Stored sets never change."""
    try:
        parsed = parse_target_set(dict(doc))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    target_sets(session)  # the packaged set goes in first, so the upload is newer
    row = store_target_set(session, parsed, created_by=principal.name)
    session.commit()
    return row
