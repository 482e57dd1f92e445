"""The ``farmtel backup`` and ``farmtel restore`` commands: arguments and handlers.

Import-light (the work is imported when a command runs), like the rest of ``farmtel.cli``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from farmtel.settings import Settings


def add_backup_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``backup`` and ``restore`` on the ``farmtel`` subcommand parsers."""
    bk = sub.add_parser("backup", help=cmd_backup.__doc__)
    bk.add_argument("dir", type=Path, help="a new or empty folder")
    bk.add_argument("--telemetry", action=argparse.BooleanOptionalAction, default=True,
                    help="also copy the SQLite telemetry store (default: yes)")
    rs = sub.add_parser("restore", help=cmd_restore.__doc__)
    rs.add_argument("dir", type=Path, help="a folder written by `farmtel backup`")
    rs.add_argument("--telemetry", action=argparse.BooleanOptionalAction, default=True,
                    help="also put back the SQLite telemetry store if the backup has it")
    rs.add_argument("--force", action="store_true",
                    help="replace databases that hold data (never one in use)")


def cmd_backup(settings: Settings, args: argparse.Namespace) -> None:
    """Back up the metadata DB and the SQLite telemetry store into DIR (safe while farmtel
    runs; InfluxDB: see README)."""
    from farmtel.backup.operations import backup
    from storage.errors import DomainError

    try:
        manifest = backup(settings, args.dir, telemetry=args.telemetry)
    except (DomainError, FileNotFoundError, RuntimeError) as exc:
        raise SystemExit(f"farmtel backup: {exc}") from exc
    files = ", ".join(f"{f.name} {f.bytes / 1e6:.1f} MB" for f in manifest.files)
    telemetry = "" if manifest.telemetry_file else " (telemetry not included)"
    print(f"farmtel backup: {args.dir}: {files}{telemetry}; schema {manifest.schema_kind} "
          f"{manifest.schema_revision}; {manifest.seconds:.1f} s", flush=True)


def cmd_restore(settings: Settings, args: argparse.Namespace) -> None:
    """Restore a backup from DIR (farmtel stopped; --force to replace existing data)."""
    from farmtel.backup.operations import restore
    from storage.errors import DomainError

    try:
        done = restore(settings, args.dir, force=args.force, telemetry=args.telemetry)
    except (DomainError, RuntimeError) as exc:
        raise SystemExit(f"farmtel restore: {exc}") from exc
    m = done.manifest
    telemetry = "metadata and telemetry" if done.telemetry_restored else "metadata"
    print(f"farmtel restore: {telemetry} of {m.created_at} (farmtel {m.farmtel_version}, schema "
          f"{m.schema_kind} {m.schema_revision}) restored in {done.seconds:.1f} s; start farmtel",
          flush=True)
