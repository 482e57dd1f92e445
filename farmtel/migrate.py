"""The metadata database's schema, brought to this farmtel's head revision by Alembic.

Alembic is configured in code (no alembic.ini): the script folder is ``farmtel/migrations``,
which ships in the wheel. A database created by a farmtel from before migrations (table
``schema_version`` holding 1, no ``alembic_version``) has exactly revision ``0001``'s schema; it
is stamped ``0001``, then upgraded like any other.

``schema_version`` itself stays (revision 0001 creates it too): it is what a pre-migration
farmtel checks, so the first revision that changes the schema sets it to 2 and such a farmtel
refuses the upgraded database instead of running on it.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, select

from storage.metadata import SchemaVersion, make_engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
"""Alembic's script folder: env.py, script.py.mako, versions/."""
FIRST_REVISION = "0001"
"""The schema of the last farmtel without migrations (``schema_version`` = 1)."""
LEGACY_VERSION = 1
"""What ``schema_version`` holds in a database created before migrations."""


class SchemaNotCurrent(RuntimeError):
    """The metadata database is not at this farmtel's head revision; the message says what to do."""


class SchemaBehind(SchemaNotCurrent):
    """The database is empty, pre-migration or at an older revision: ``farmtel db upgrade``."""


class SchemaTooNew(SchemaNotCurrent):
    """The database is at a revision this farmtel does not know (a newer farmtel upgraded it)."""


class ForeignDatabase(SchemaNotCurrent):
    """The database has tables but no farmtel schema version at all."""


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database stands against this farmtel's migrations."""

    current: tuple[str, ...]
    """Revisions stamped in ``alembic_version`` (empty: none)."""
    head: str
    """This farmtel's newest revision."""
    legacy: bool
    """Created before migrations: ``schema_version`` 1 and no ``alembic_version``."""
    unknown: tuple[str, ...]
    """Stamped revisions this farmtel does not know."""

    @property
    def at_head(self) -> bool:
        return self.current == (self.head,)

    def describe(self) -> str:
        """E.g. ``0001 (head)``, ``0001 (head is 0002)``, ``none (empty database; head is 0001)``."""
        if self.legacy:
            return f"none (created before migrations, schema_version 1; head is {self.head})"
        if not self.current:
            return f"none (empty database; head is {self.head})"
        state = "head" if self.at_head else f"head is {self.head}"
        if self.unknown:
            state = f"unknown to this farmtel, whose head is {self.head}"
        return f"{', '.join(self.current)} ({state})"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for ``farmtel/migrations``; ``connection`` is what env.py uses."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _script() -> ScriptDirectory:
    """The revisions, read once per process (``autogenerate_revision`` reads them again)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """This farmtel's newest revision (the chain has exactly one head)."""
    head = _script().get_current_head()
    assert head is not None, "farmtel/migrations/versions holds no revision"
    return head


def _status(connection: Connection) -> SchemaStatus:
    script = _script()
    head = script.get_current_head()
    assert head is not None
    tables = set(inspect(connection).get_table_names())
    current = tuple(MigrationContext.configure(connection).get_current_heads())
    legacy = False
    if not current and SchemaVersion.__tablename__ in tables:
        version = connection.execute(select(SchemaVersion.version)).scalar()
        if version != LEGACY_VERSION:
            raise ForeignDatabase(f"the metadata database has schema_version {version} and no "
                                  "Alembic revision; this farmtel cannot tell its schema")
        legacy = True
    elif not current and tables - {"alembic_version"}:
        raise ForeignDatabase("the metadata database has tables but no farmtel schema version "
                              f"({', '.join(sorted(tables)[:5])}, ...): is it farmtel's database?")
    known = {rev.revision for rev in script.walk_revisions()}
    return SchemaStatus(current, head, legacy, tuple(r for r in current if r not in known))


def schema_status(engine: Engine) -> SchemaStatus:
    """Where ``engine``'s database stands; raises ``ForeignDatabase`` for a non-farmtel one."""
    with engine.connect() as connection:
        return _status(connection)


def _refuse_unknown(status: SchemaStatus) -> None:
    if status.unknown:
        raise SchemaTooNew(
            f"the metadata database is at revision {', '.join(status.unknown)}, which this "
            f"farmtel does not know (its newest is {status.head}): a newer farmtel upgraded it. "
            "Run that newer farmtel, or restore a backup taken before the upgrade; farmtel never "
            "downgrades a database on its own.")


def require_head(engine: Engine) -> SchemaStatus:
    """Check that the database is at head; raise ``SchemaBehind``/``SchemaTooNew`` otherwise."""
    status = schema_status(engine)
    _refuse_unknown(status)
    if not status.at_head:
        raise SchemaBehind(
            f"the metadata database is not at this farmtel's schema (its revision: "
            f"{status.describe()}): run `farmtel db upgrade` first, with the same "
            "FARMTEL_DATABASE_URL (back the database up before).")
    return status


def upgrade_schema(engine: Engine, revision: str = "head") -> SchemaStatus:
    """Upgrade the database to ``revision``: empty ones from scratch, pre-migration ones after
    stamping them ``0001``. Refuses (``SchemaTooNew``) a database newer than this farmtel."""
    with engine.begin() as connection:
        status = _status(connection)
        _refuse_unknown(status)
        config = alembic_config(connection)
        if status.legacy:
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, revision)
        after = _status(connection)
    if after != status:
        log.info("metadata database upgraded: %s -> %s", status.describe(), after.describe())
    return after


def downgrade_schema(engine: Engine, revision: str) -> SchemaStatus:
    """Downgrade the database to ``revision`` (``base``: no table left). For developers."""
    with engine.begin() as connection:
        _refuse_unknown(_status(connection))
        command.downgrade(alembic_config(connection), revision)
        return _status(connection)


def history() -> Iterator[str]:
    """One line per revision, newest first: ``0002 <- 0001: message``."""
    for rev in _script().walk_revisions():
        down = rev.down_revision or "base"
        yield f"{rev.revision} <- {down}: {rev.doc}"


def autogenerate_revision(message: str) -> Path:
    """Write ``versions/NNNN_<slug>.py``: the models' changes since head, found by comparing them
    with a scratch SQLite database upgraded to head. Review it before committing."""
    head = head_revision()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        try:
            upgrade_schema(engine)
            with engine.begin() as connection:
                script = command.revision(alembic_config(connection), message, autogenerate=True,
                                          rev_id=f"{int(head) + 1:04d}")
        finally:
            engine.dispose()
    _script.cache_clear()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)
