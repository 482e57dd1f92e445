"""API tokens (admin only): issue with role and scope, list, revoke. Only hashes are stored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.auth import ApiToken, Role, issue_token
from api.usecases.scope import validate_scope
from devices.credentials import hash_token
from devices.registry import utcnow
from storage.errors import Conflict, NotFound


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token's row and the token itself (shown once)."""

    row: ApiToken
    token: str


def issue(session: Session, *, name: str, role: Role, scope: Mapping[str, Any]) -> IssuedToken:
    """Issue a token for a role; agronomists need a scope of existing counties or farms
    (``InvalidInput`` otherwise)."""
    checked = validate_scope(session, role, scope)
    token = issue_token(session, name=name, role=role, scope=checked)
    session.flush()
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    assert row is not None
    session.commit()
    return IssuedToken(row, token)


def tokens(session: Session) -> list[ApiToken]:
    """Every token, by id."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke(session: Session, token_id: int) -> ApiToken:
    """Revoke a token (kept for the record; idempotent). The last live admin token stays
    (``Conflict``)."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound("unknown token")
    if row.revoked_at is None:
        if row.role == Role.ADMIN.value:
            admins = session.scalar(select(func.count()).select_from(ApiToken).where(
                ApiToken.role == Role.ADMIN.value, ApiToken.revoked_at.is_(None)))
            if (admins or 0) <= 1:
                raise Conflict("the last admin token stays")
        row.revoked_at = utcnow()
        session.commit()
    return row
