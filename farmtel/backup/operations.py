"""Backup and restore themselves (``farmtel.backup.commands`` is their command line)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, make_url

from farmtel import __version__
from farmtel.backup import _postgres, _sqlite
from farmtel.backup._manifest import (
    BadBackup,
    Manifest,
    entry_for,
    fsync_path,
    read_verified,
    write_manifest,
)
from farmtel.backup._schema import NewerSchema, check_not_newer, stored_revision
from farmtel.settings import Settings
from storage.errors import Conflict
from storage.metadata import make_engine

__all__ = ["BadBackup", "NewerSchema", "RestoreRefused", "Restored", "backup", "restore"]

log = logging.getLogger(__name__)

METADATA_SQLITE = "metadata.sqlite"
METADATA_PGDUMP = "metadata.pgdump"
TELEMETRY_SQLITE = "telemetry.sqlite"
INFLUX_NOTE = ("InfluxDB telemetry is not in farmtel's backup: back it up at the same moment "
               "with `influxd backup -portable` (1.x) or `influx backup` (2.x) and restore it "
               "after the metadata (README, 'Backup and restore')")


class RestoreRefused(Conflict):
    """Restoring now would lose data or corrupt a running farmtel."""


@dataclass(frozen=True)
class Restored:
    """What a restore put back, and how long it took [s]."""

    manifest: Manifest
    telemetry_restored: bool
    seconds: float


def backup(settings: Settings, folder: Path, *, telemetry: bool = True) -> Manifest:
    """Back up the metadata database and (``telemetry`` and a SQLite store) the telemetry
    store into the new or empty ``folder``; safe while farmtel runs. On failure, the files
    written so far are removed again."""
    if folder.exists() and any(folder.iterdir()):
        raise Conflict(f"{folder} is not empty: back up into a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _backup(settings, folder, telemetry=telemetry)
    except BaseException:
        for path in folder.iterdir():
            path.unlink()
        raise


def _backup(settings: Settings, folder: Path, *, telemetry: bool) -> Manifest:
    t0 = time.perf_counter()
    created = datetime.now(UTC).isoformat(timespec="seconds")
    meta_url = settings.resolved_database_url
    meta_kind = make_url(meta_url).get_backend_name()
    if meta_kind == "sqlite":
        meta_file = folder / METADATA_SQLITE
        _sqlite.snapshot(_sqlite_path(meta_url), meta_file)
        schema_kind, revision = _revision_of_file(meta_file)
    elif meta_kind == "postgresql":
        meta_file = folder / METADATA_PGDUMP
        engine = make_engine(meta_url)
        try:
            schema_kind, revision = stored_revision(engine)  # no migration while it runs
            _postgres.dump(engine, meta_url, meta_file)
        finally:
            engine.dispose()
    else:
        raise Conflict(f"cannot back up a {meta_kind} metadata database")
    store_url = settings.resolved_store_url
    store_kind = store_url.partition("://")[0]
    files = [meta_file]
    if store_kind == "sqlite" and telemetry:
        files.append(folder / TELEMETRY_SQLITE)
        _sqlite.snapshot(_sqlite_path(store_url), files[-1])
    elif store_kind != "sqlite":
        log.warning(INFLUX_NOTE)
    _warn_spooled(settings)
    fsync_path(folder)
    manifest = Manifest(
        farmtel_version=__version__, created_at=created, schema_kind=schema_kind,
        schema_revision=revision, metadata_kind=meta_kind, metadata_file=meta_file.name,
        store_kind=store_kind, telemetry_file=files[1].name if len(files) > 1 else None,
        files=[entry_for(f) for f in files])
    manifest.seconds = round(time.perf_counter() - t0, 3)
    write_manifest(folder, manifest)
    return manifest


def restore(settings: Settings, folder: Path, *, force: bool = False,
            telemetry: bool = True) -> Restored:
    """Put the backup in ``folder`` back into the configured databases (metadata first, then
    the SQLite telemetry store); farmtel must be stopped. ``force`` replaces databases that
    hold data; ``telemetry=False`` leaves the telemetry store alone."""
    t0 = time.perf_counter()
    manifest = read_verified(folder)
    check_not_newer(manifest.schema_kind, manifest.schema_revision)
    meta_url = settings.resolved_database_url
    meta_kind = make_url(meta_url).get_backend_name()
    if meta_kind != manifest.metadata_kind:
        raise RestoreRefused(f"the backup holds a {manifest.metadata_kind} metadata database, "
                             f"the configured one is {meta_kind}")
    store_url = settings.resolved_store_url
    put_telemetry = telemetry and manifest.telemetry_file is not None
    if put_telemetry and not store_url.startswith("sqlite://"):
        raise RestoreRefused("the backup holds a SQLite telemetry store, the configured store "
                             "is not SQLite (restore with --no-telemetry for the metadata only)")
    meta_file = folder / manifest.metadata_file
    if meta_kind == "sqlite":
        _check_sqlite_target(_sqlite_path(meta_url), "metadata database", force=force)
        if put_telemetry:
            _check_sqlite_target(_sqlite_path(store_url), "telemetry store", force=force)
        _sqlite.put_back(meta_file, _sqlite_path(meta_url))
    else:
        engine = make_engine(meta_url)
        try:
            _check_postgres_target(engine, force=force)
            if put_telemetry:
                _check_sqlite_target(_sqlite_path(store_url), "telemetry store", force=force)
            _postgres.restore(engine, meta_url, meta_file)
        finally:
            engine.dispose()
    if put_telemetry:
        assert manifest.telemetry_file is not None
        _sqlite.put_back(folder / manifest.telemetry_file, _sqlite_path(store_url))
    if not store_url.startswith("sqlite://"):
        log.warning(INFLUX_NOTE)
    return Restored(manifest, put_telemetry, round(time.perf_counter() - t0, 3))


def _check_postgres_target(engine: Engine, *, force: bool) -> None:
    """Refuse a PostgreSQL metadata database in use, or holding rows unless ``force``."""
    if _postgres.in_use(engine):
        raise RestoreRefused("other sessions are connected to the metadata database: stop "
                             "every farmtel process first")
    if _postgres.holds_rows(engine) and not force:
        raise RestoreRefused("the metadata database holds data: restore with --force to "
                             "replace it")


def _check_sqlite_target(path: Path, what: str, *, force: bool) -> None:
    if _sqlite.in_use(path):
        raise RestoreRefused(f"the {what} {path} is open in another process: stop every "
                             "farmtel process first")
    if _sqlite.holds_rows(path) and not force:
        raise RestoreRefused(f"the {what} {path} holds data: restore with --force to replace "
                             "it")


def _revision_of_file(path: Path) -> tuple[str, str]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        return stored_revision(engine)
    finally:
        engine.dispose()


def _sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///`` URL (SQLAlchemy's reading, as for the metadata DB)."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise Conflict(f"no SQLite file in {url!r}")
    return Path(database)


def _warn_spooled(settings: Settings) -> None:
    """Warn when this machine's ingest spool holds batches the store has not taken yet."""
    spooled = list((settings.data_dir / "spool").glob("*/*.batch"))
    if spooled:
        log.warning("%d spooled batches under %s are not in the store yet, nor in this backup "
                    "(ingest writes them once the store takes writes again)", len(spooled),
                    settings.data_dir / "spool")
