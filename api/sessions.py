"""Server-side sessions of the pages: what a signed-in browser's cookie stands for.

Signing in (with an API token today; with a user name and password once issue 17's accounts
exist) opens a session: a random opaque id (256 bits) goes into the cookie, and only its
SHA-256 lives in ``web_sessions``, with the principal it speaks for (``token_id`` or, later,
``user_id``: exactly one of them), when it was created and last seen, its absolute expiry and
``revoked_at``. A session is refused once revoked (sign-out), past its absolute lifetime, idle
longer than the idle lifetime, or when its principal no longer works (a revoked token). The
cookie never holds the API token, so a stolen cookie dies with its session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from api.auth import ApiToken, Principal, Role
from devices.registry import utcnow
from storage.metadata import Base

MAX_SESSION_ID_CHARS = 128
"""A cookie value longer than this is not one of ours (not even looked up)."""


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Lifetimes of a page session [s] (``FARMTEL_WEB_SESSION_IDLE_S``, ``..._MAX_AGE_S``)."""

    idle_s: int = 2 * 3600
    """A session not used for this long is over [s]."""
    max_age_s: int = 12 * 3600
    """A session is over this long after sign-in, however busy [s]."""
    touch_every_s: int = 60
    """``last_seen_at`` is written at most this often per session [s] (one write a minute,
    not one per request)."""


class WebSession(Base):
    """One signed-in browser: the hash of its cookie's id and the principal it speaks for."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        CheckConstraint("(token_id IS NULL) <> (user_id IS NULL)",
                        name="ck_web_sessions_one_principal"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"), index=True,
                                                 default=None)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True, default=None)
    """Issue 17's user accounts (the foreign key comes with their table)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=utcnow().tzinfo)


def open_session(db: Session, *, token_id: int, policy: SessionPolicy,
                 now: datetime | None = None) -> str:
    """A new session for the API token ``token_id``; returns its id for the cookie (the
    database keeps only its hash; caller commits)."""
    now = now or utcnow()
    session_id = secrets.token_urlsafe(32)
    db.add(WebSession(id_hash=_hash(session_id), token_id=token_id, created_at=now,
                      last_seen_at=now, expires_at=now + timedelta(seconds=policy.max_age_s)))
    return session_id


def _live(db: Session, session_id: str | None, policy: SessionPolicy,
          now: datetime) -> WebSession | None:
    if not session_id or len(session_id) > MAX_SESSION_ID_CHARS:
        return None
    row = db.scalar(select(WebSession).where(WebSession.id_hash == _hash(session_id)))
    if row is None or row.revoked_at is not None or now >= _aware(row.expires_at):
        return None
    if now - _aware(row.last_seen_at) >= timedelta(seconds=policy.idle_s):
        return None
    return row


def session_principal(db: Session, session_id: str | None, policy: SessionPolicy,
                      now: datetime | None = None) -> Principal | None:
    """The caller a page session speaks for; ``None`` for no, an unknown, a revoked, an
    expired or an idle session, or one whose token was revoked. Marks the session as seen
    (committed at once, at most every ``policy.touch_every_s``)."""
    now = now or utcnow()
    row = _live(db, session_id, policy, now)
    if row is None or row.token_id is None:  # user sessions: issue 17
        return None
    token = db.get(ApiToken, row.token_id)
    if token is None or token.revoked_at is not None:
        return None
    if now - _aware(row.last_seen_at) >= timedelta(seconds=policy.touch_every_s):
        db.execute(update(WebSession).where(WebSession.id == row.id)
                   .values(last_seen_at=now))
        db.commit()
    return Principal(token.id, token.name, Role(token.role), dict(token.scope or {}))


def revoke_session(db: Session, session_id: str | None) -> bool:
    """End a session (sign-out); False if there was none to end (caller commits)."""
    if not session_id or len(session_id) > MAX_SESSION_ID_CHARS:
        return False
    result = db.execute(update(WebSession)
                        .where(WebSession.id_hash == _hash(session_id),
                               WebSession.revoked_at.is_(None))
                        .values(revoked_at=utcnow()))
    return bool(getattr(result, "rowcount", 0))
