"""Alembic environment of the metadata database (SQLite or PostgreSQL).

``farmtel.migrate`` runs it programmatically (no alembic.ini): it passes an open connection in
``config.attributes["connection"]``; the target schema is ``Base.metadata`` with every table of
``farmtel.schema.TABLES``. SQLite alters tables in batch mode (copy and move).

Adding a schema change (a new table also goes into ``farmtel.schema.TABLES``):

1. Change the models.
2. ``farmtel db revision -m "what changes"``: autogenerates ``versions/NNNN_what_changes.py``
   (revision id ``NNNN`` = the next number, ``down_revision`` = the current head) by comparing
   the models with a scratch SQLite database upgraded to the current head.
3. Review it: autogenerate misses renames (it drops and adds), server defaults and data
   moves; write those by hand. Never call ``create_all`` in a revision.
4. ``tests/integration/test_migrations.py`` checks, on SQLite and PostgreSQL, that the chain
   produces exactly the models' schema and that a released database upgrades with its data.

The first revision after ``0001`` also runs ``UPDATE schema_version SET version = 2``: a farmtel
from before migrations checks that row only, and so refuses the changed schema.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from farmtel.schema import TABLES
from storage.metadata import Base


def _run(connection: Connection) -> None:
    """Run the migrations ``farmtel.migrate`` asked for on ``connection``."""
    assert TABLES  # every table is imported, hence registered on Base.metadata
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("farmtel's migrations run online only: farmtel db upgrade")
_run(context.config.attributes["connection"])
