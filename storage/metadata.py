"""The metadata database (SQLAlchemy 2): declarative base, engine and session factory.

SQLite by default (WAL, foreign keys on); any SQLAlchemy URL (e.g. PostgreSQL) in production.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Integer, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class Base(DeclarativeBase):
    """Declarative base of every metadata table."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder and turns on WAL + foreign keys."""
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
    """The single-row version of the schema the database was created with."""

    __tablename__ = "schema_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class SchemaMismatch(RuntimeError):
    """The database was created by another schema version than the code's."""


def create_schema(engine: Engine, tables: Iterable[type[Base]], version: int) -> None:
    """Create exactly ``tables`` (and ``schema_version``) if missing; record ``version``.

    Idempotent. A database stamped with another version raises ``SchemaMismatch``.
    """
    names = dict.fromkeys([SchemaVersion.__tablename__, *(t.__tablename__ for t in tables)])
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[n] for n in names])
    with Session(engine) as session, session.begin():
        row = session.get(SchemaVersion, 1)
        if row is None:
            session.add(SchemaVersion(id=1, version=version))
        elif row.version != version:
            raise SchemaMismatch(f"database schema version {row.version}, code expects {version}")
