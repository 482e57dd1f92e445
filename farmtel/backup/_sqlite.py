"""SQLite files (metadata database and telemetry store): snapshot, put back, in use, empty.

A snapshot uses SQLite's online backup API in one step: it reads one consistent state of the
database (a read transaction; under WAL, writers go on meanwhile) into a new single file.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from farmtel.backup._manifest import fsync_path

_BUSY_TIMEOUT_S = 30.0
_SIDECARS = ("-wal", "-shm", "-journal")


def snapshot(source: Path, target: Path) -> None:
    """Copy the live database ``source`` into the new file ``target``: one consistent state,
    taken while other processes keep writing; ``target`` is left in rollback-journal mode (one
    self-contained file)."""
    if not source.is_file():
        raise FileNotFoundError(f"no SQLite database at {source} (is FARMTEL_DATA_DIR right?)")
    src = sqlite3.connect(source, timeout=_BUSY_TIMEOUT_S)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # pages=-1: the whole database in one step, one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    fsync_path(target)


def put_back(backup_file: Path, target: Path) -> None:
    """Replace the database at ``target`` (which nobody may have open) by ``backup_file``.

    The copy is written next to ``target`` and renamed over it, after the old database's WAL
    and shared-memory files are removed (SQLite would otherwise replay that WAL into the
    restored file).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.restoring")
    src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    fsync_path(tmp)
    for suffix in _SIDECARS:
        with contextlib.suppress(FileNotFoundError):
            target.with_name(target.name + suffix).unlink()
    tmp.replace(target)
    fsync_path(target.parent)


def in_use(path: Path) -> bool:
    """True when another process has the database open (e.g. a running farmtel).

    Every connection to a WAL database holds a shared lock while it is open; an exclusive
    lock is therefore granted only when nobody else has it open. Do not call it while this
    process has the file open through SQLite itself.
    """
    if not path.is_file():
        return False
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError:  # "database is locked"
        return True
    finally:
        conn.close()
    return False


def holds_rows(path: Path) -> bool:
    """True when the database at ``path`` exists and any of its tables has a row."""
    if not path.is_file():
        return False
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S)  # read only; exists (no new file)
    try:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return any(conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone()  # noqa: S608
                   for t in tables)
    finally:
        conn.close()
