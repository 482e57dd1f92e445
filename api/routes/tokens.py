"""API tokens (admin only): create with role and scope, list, revoke. Only hashes are stored."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from api.auth import ApiToken, Role, issue_token
from api.deps import Admin, DbSession
from api.scope import validate_scope
from devices.credentials import hash_token
from devices.registry import utcnow

router = APIRouter(prefix="/tokens", tags=["tokens"])


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    role: Role
    scope: dict[str, Any] = Field(default_factory=dict,
                                  description='agronomists: {"counties": [...], "farms": [...]}')


class TokenOut(BaseModel):
    id: int
    name: str
    role: str
    scope: dict[str, Any]
    created_at: datetime
    revoked_at: datetime | None


class IssuedToken(TokenOut):
    token: str = Field(description="Shown once; only a hash is stored.")


def _out(row: ApiToken) -> TokenOut:
    return TokenOut(id=row.id, name=row.name, role=row.role, scope=dict(row.scope or {}),
                    created_at=row.created_at, revoked_at=row.revoked_at)


@router.post("", response_model=IssuedToken, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenIn, _: Admin, session: DbSession) -> IssuedToken:
    """Issue a token for a role; agronomists need a scope of existing counties or farms."""
    try:
        scope = validate_scope(session, body.role, body.scope)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    token = issue_token(session, name=body.name, role=body.role, scope=scope)
    session.flush()
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    assert row is not None
    session.commit()
    return IssuedToken(**_out(row).model_dump(), token=token)


@router.get("", response_model=list[TokenOut])
def list_tokens(_: Admin, session: DbSession) -> list[TokenOut]:
    """Every token (never the token itself or its hash)."""
    return [_out(t) for t in session.scalars(select(ApiToken).order_by(ApiToken.id))]


@router.delete("/{token_id}", response_model=TokenOut)
def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**62)], _: Admin,
                 session: DbSession) -> TokenOut:
    """Revoke a token (kept for the record; idempotent). The last live admin token cannot go."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown token")
    if row.revoked_at is None:
        if row.role == Role.ADMIN.value:
            admins = session.scalar(select(func.count()).select_from(ApiToken).where(
                ApiToken.role == Role.ADMIN.value, ApiToken.revoked_at.is_(None)))
            if (admins or 0) <= 1:
                raise HTTPException(status.HTTP_409_CONFLICT, "the last admin token stays")
        row.revoked_at = utcnow()
        session.commit()
    return _out(row)
