"""API tokens (admin only): create with role and scope, list, revoke. Only hashes are stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from api.auth import ApiToken, Role
from api.deps import Admin, DbSession, RowId
from api.usecases import tokens as uc

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
    issued = uc.issue(session, name=body.name, role=body.role, scope=body.scope)
    return IssuedToken(**_out(issued.row).model_dump(), token=issued.token)


@router.get("", response_model=list[TokenOut])
def list_tokens(_: Admin, session: DbSession) -> list[TokenOut]:
    """Every token (never the token itself or its hash)."""
    return [_out(t) for t in uc.tokens(session)]


@router.delete("/{token_id}", response_model=TokenOut)
def revoke_token(token_id: RowId, _: Admin,
                 session: DbSession) -> TokenOut:
    """Revoke a token (kept for the record; idempotent). The last live admin token cannot go."""
    return _out(uc.revoke(session, token_id))
