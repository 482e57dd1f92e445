"""The metadata database (SQLAlchemy 2): declarative base, engine and session factory.

SQLite by default (WAL, foreign keys on); PostgreSQL through psycopg 3 in production
(``postgresql+psycopg://user:password@host:5432/farmtel``; ``postgresql://`` means the same).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Integer, create_engine, event, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


class Base(DeclarativeBase):
    """Declarative base of every metadata table."""


_PSYCOPG = "postgresql+psycopg"


def make_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite (creates the file's folder, turns on WAL + foreign keys) or
    PostgreSQL with psycopg 3 (``postgresql://`` uses it too; sessions in UTC, connections
    checked before use so a restarted server costs no request)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", _PSYCOPG):
        return create_engine(parsed.set(drivername=_PSYCOPG), pool_pre_ping=True,
                             connect_args={"options": "-c timezone=UTC"})
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def make_session_factory(engine: Engine) -> sessionmaker[Any]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


class SchemaVersion(Base):
    """The schema version of farmtel before migrations (1), in a single row.

    Alembic's ``alembic_version`` tracks the schema now (``farmtel.migrate``); this table stays
    because a farmtel from before migrations checks it and refuses a version other than its own.
    """

    __tablename__ = "schema_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
