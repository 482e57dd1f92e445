"""The metadata schema's revision: as stored in a database, and whether this code knows it."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from farmtel.migrate import LEGACY_VERSION, alembic_config, schema_status
from storage.errors import Conflict

ALEMBIC = "alembic"
LEGACY = "schema_version"


class NewerSchema(Conflict):
    """The backup's schema is newer than this farmtel's code."""


def stored_revision(engine: Engine) -> tuple[str, str]:
    """(kind, revision) of the database: ``alembic`` and its revision(s), or ``schema_version``
    and ``1`` for a database from before migrations (``farmtel up`` upgrades both)."""
    status = schema_status(engine)
    if status.legacy:
        return LEGACY, str(LEGACY_VERSION)
    if not status.current:
        raise LookupError("the metadata database has no schema revision (an empty database)")
    return ALEMBIC, ",".join(status.current)


def check_not_newer(kind: str, revision: str) -> None:
    """``NewerSchema`` unless this code knows the revision (``farmtel up`` then upgrades it)."""
    if kind == LEGACY and revision == str(LEGACY_VERSION):
        return
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    if kind == ALEMBIC and set(revision.split(",")) <= known:
        return
    raise NewerSchema(f"the backup's schema ({kind} {revision}) is newer than this farmtel's "
                      f"(head {script.get_current_head()}): restore it with the farmtel release "
                      "that wrote it")
