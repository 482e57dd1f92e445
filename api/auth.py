"""Bearer tokens with roles, and the one way a token becomes a ``Principal``.

Only SHA-256 hashes of tokens are stored. The JSON API reads the token from the
``Authorization: Bearer`` header, the pages from their session cookie and the event stream from
that cookie on every poll; all three turn it into the caller with ``principal_for_token``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from devices.credentials import hash_token
from devices.registry import utcnow
from storage.metadata import Base


class Role(StrEnum):
    """Who a token speaks for."""

    ADMIN = "admin"
    AGRONOMIST = "agronomist"
    BUREAU = "bureau"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as its token says."""

    token_id: int
    name: str
    role: Role
    scope: dict[str, Any]


class NotSignedIn(Exception):
    """No live token came with the request (the API answers 401, the pages ask to sign in)."""


class ApiToken(Base):
    """An API token: role, optional scope (counties/farms), hash only."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


def new_token() -> str:
    """A fresh bearer token (256 bits)."""
    return "ft_" + secrets.token_urlsafe(32)


def issue_token(session: Session, *, name: str, role: Role,
                scope: dict[str, Any] | None = None, token: str | None = None) -> str:
    """Store a token's hash and return the token itself (shown once; caller commits)."""
    token = token or new_token()
    session.add(ApiToken(name=name, role=role.value, token_hash=hash_token(token),
                         scope=dict(scope or {})))
    return token


def ensure_admin_token(session: Session, configured: str | None) -> str | None:
    """Make sure an admin token exists.

    With ``configured`` set, that token is registered (once). Otherwise, if no admin token
    exists yet, one is generated and returned so the caller can print it once; ``None`` means
    nothing new was created.
    """
    if configured:
        if session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(configured))):
            return None
        issue_token(session, name="admin (FARMTEL_ADMIN_TOKEN)", role=Role.ADMIN,
                    token=configured)
        return None
    exists = session.scalar(
        select(ApiToken.id).where(ApiToken.role == Role.ADMIN.value,
                                  ApiToken.revoked_at.is_(None))
    )
    if exists is not None:
        return None
    return issue_token(session, name="admin (generated)", role=Role.ADMIN)


def authenticate(session: Session, token: str) -> ApiToken | None:
    """The live token matching ``token``, or ``None``."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def principal_for_token(session: Session, token: str | None) -> Principal | None:
    """The caller a token speaks for; ``None`` for no, an unknown or a revoked token."""
    if not token or len(token) > 256:
        return None
    row = authenticate(session, token)
    if row is None:
        return None
    return Principal(row.id, row.name, Role(row.role), dict(row.scope or {}))
