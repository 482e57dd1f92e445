"""A PostgreSQL metadata database: ``pg_dump -Fc`` / ``pg_restore``, in use, empty.

The client tools must match the server's major version; Debian installs each version's tools
under ``/usr/lib/postgresql/<major>/bin``, preferred here over the ``pg_dump`` on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import Engine, inspect, make_url, text

from storage.errors import Conflict

_DEBIAN_BIN = "/usr/lib/postgresql/{major}/bin/{tool}"


class ToolMissing(Conflict):
    """``pg_dump`` or ``pg_restore`` of the server's version is not installed."""


def dump(engine: Engine, url: str, target: Path) -> None:
    """``pg_dump -Fc`` of the database into ``target`` (one consistent snapshot: pg_dump reads
    in one repeatable-read transaction while farmtel keeps writing)."""
    _run(engine, url, "pg_dump", ["--format=custom", f"--file={target}"])


def restore(engine: Engine, url: str, dump_file: Path) -> None:
    """``pg_restore --clean --if-exists`` of ``dump_file`` into the database, in one
    transaction (all or nothing); objects owned by the connecting role."""
    _run(engine, url, "pg_restore", ["--clean", "--if-exists", "--no-owner", "--no-privileges",
                                     "--single-transaction", "--exit-on-error", str(dump_file)])


def in_use(engine: Engine) -> bool:
    """True when another session is connected to the database (e.g. a running farmtel)."""
    with engine.connect() as conn:
        others = conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"))  # not autovacuum workers
    return bool(others)


def holds_rows(engine: Engine) -> bool:
    """True when any table of the database's search path has a row."""
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            quoted = conn.dialect.identifier_preparer.quote(table)
            if conn.execute(text(f"SELECT 1 FROM {quoted} LIMIT 1")).first():  # noqa: S608
                return True
    return False


def _run(engine: Engine, url: str, tool: str, args: list[str]) -> None:
    """Run ``tool`` on the database of ``url`` (password through ``PGPASSWORD``, not argv)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    conninfo = parsed.set(drivername="postgresql", password=None).render_as_string(
        hide_password=False)
    done = subprocess.run([_tool(engine, tool), f"--dbname={conninfo}", *args], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} failed (exit {done.returncode}): {done.stderr.strip()}")


def _tool(engine: Engine, tool: str) -> str:
    """The path of ``tool`` for the server's major version."""
    with engine.connect() as conn:
        major = int(conn.scalar(text("SHOW server_version_num")) or 0) // 10_000
    candidate = _DEBIAN_BIN.format(major=major, tool=tool)
    if os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(tool)
    if found is None:
        raise ToolMissing(f"{tool} not found (PostgreSQL {major} client tools: apt-get install "
                          f"postgresql-client-{major})")
    return found
