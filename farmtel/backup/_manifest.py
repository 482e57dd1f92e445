"""The backup's ``manifest.json``: what a backup holds, and the check that it is complete.

Written last (to a temporary name, then renamed), so a backup interrupted half-way has no
manifest and ``farmtel restore`` refuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from storage.errors import InvalidInput

MANIFEST = "manifest.json"
FORMAT = 1
"""Version of the manifest's layout (not of farmtel's schema)."""
_CHUNK = 1 << 20


class BadBackup(InvalidInput):
    """The folder is not a complete, intact farmtel backup."""


@dataclass(frozen=True)
class FileEntry:
    """One file of the backup: its name in the folder, size [bytes] and SHA-256 (hex)."""

    name: str
    bytes: int
    sha256: str


@dataclass
class Manifest:
    """What a backup holds.

    ``schema_kind`` is ``alembic`` (``schema_revision`` an Alembic revision id) or
    ``schema_version`` (the pre-Alembic integer, as text); ``metadata_kind`` is the metadata
    database's dialect (``sqlite`` or ``postgresql``), ``store_kind`` the telemetry store URL's
    scheme (``sqlite``, ``influxdb``, ``influxdb2``); ``telemetry_file`` is None when the
    telemetry is not in the backup (InfluxDB, or ``--no-telemetry``).
    """

    farmtel_version: str
    created_at: str
    schema_kind: str
    schema_revision: str
    metadata_kind: str
    metadata_file: str
    store_kind: str
    telemetry_file: str | None
    seconds: float = 0.0
    files: list[FileEntry] = field(default_factory=list)
    format: int = FORMAT

    @property
    def total_bytes(self) -> int:
        """Size of every file of the backup [bytes]."""
        return sum(f.bytes for f in self.files)


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's content (hex)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def entry_for(path: Path) -> FileEntry:
    """The manifest entry of a file written into the backup folder."""
    return FileEntry(path.name, path.stat().st_size, sha256_of(path))


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write ``manifest.json`` durably (temporary name, fsync, rename, fsync of the folder)."""
    tmp = folder / f".{MANIFEST}.tmp"
    with tmp.open("w") as fh:
        json.dump(asdict(manifest), fh, indent=1, ensure_ascii=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(folder / MANIFEST)
    fsync_path(folder)


def fsync_path(path: Path) -> None:
    """Make a file's content, or a folder's entries (new and renamed files), durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_verified(folder: Path) -> Manifest:
    """The manifest of the backup in ``folder``, after checking that every file it lists is
    there with its size and SHA-256; ``BadBackup`` otherwise."""
    path = folder / MANIFEST
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise BadBackup(f"{folder} has no {MANIFEST}: not a farmtel backup, or an incomplete "
                        "one") from exc
    except (OSError, ValueError) as exc:
        raise BadBackup(f"unreadable {path}: {exc}") from exc
    if raw.get("format") != FORMAT:
        raise BadBackup(f"{path}: manifest format {raw.get('format')!r}, this farmtel reads "
                        f"{FORMAT}")
    try:
        files = [FileEntry(**f) for f in raw.pop("files")]
        manifest = Manifest(**raw, files=files)
    except (KeyError, TypeError) as exc:
        raise BadBackup(f"{path}: malformed manifest ({exc})") from exc
    listed = {f.name for f in files}
    for name in (manifest.metadata_file, manifest.telemetry_file):
        if name is not None and name not in listed:
            raise BadBackup(f"{path}: {name} is not among the listed files")
    for f in files:
        file = folder / f.name
        if Path(f.name).name != f.name or not file.is_file():
            raise BadBackup(f"{folder}: {f.name} is missing")
        if file.stat().st_size != f.bytes or sha256_of(file) != f.sha256:
            raise BadBackup(f"{file}: size or SHA-256 differs from the manifest (damaged copy)")
    return manifest
