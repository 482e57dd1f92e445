"""A durable on-disk spool for batches the store could not take.

One file per batch, named by a growing sequence number, written to a temp name, fsync'd and
renamed (so a crash leaves either the whole file or nothing), then the folder is fsync'd.
Replay goes oldest first. Total size is bounded: ``append`` raises ``SpoolFull`` past it,
and the caller then stops acknowledging so the broker keeps the messages. A write the disk
refuses (``ENOSPC``, ``EDQUOT``, ``EIO``, a read-only file system, ...) is the same
condition: the partial file is removed and ``append`` raises ``SpoolFull`` (``disk_error``
set), so the caller applies the same backpressure instead of failing on every retry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import orjson

from storage.telemetry import Reading

_SUFFIX = ".batch"
log = logging.getLogger(__name__)


class SpoolFull(Exception):
    """The spool cannot take the batch: its size bound, or the disk refused the write."""

    def __init__(self, message: str, *, disk_error: OSError | None = None) -> None:
        super().__init__(message)
        self.disk_error = disk_error


def _encode(readings: Sequence[Reading]) -> bytes:
    return orjson.dumps(
        [[r.device_id, r.quantity, r.value, r.ts_ms, r.seq, int(r.quality), r.device_type,
          r.site_id, r.farm_id, r.county] for r in readings]
    )


def _decode(data: bytes) -> list[Reading]:
    return [
        Reading(d, q, float(v), int(t), int(s), int(f), dt, site, farm, county)
        for d, q, v, t, s, f, dt, site, farm, county in orjson.loads(data)
    ]


class Spool:
    """Batches waiting for the store, oldest first.

    One process owns a spool directory (ingest workers use one per client id), so the list of
    batch files is kept in memory: ``len``, ``peek`` and ``append`` never list the directory.
    """

    def __init__(self, directory: Path, *, max_bytes: int = 512 * 1024 * 1024) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        for tmp in self._dir.glob("*.tmp"):  # never renamed: never acknowledged
            tmp.unlink()
        self._files: deque[Path] = deque(sorted(self._dir.glob(f"*{_SUFFIX}")))
        self._next = int(self._files[-1].stem) + 1 if self._files else 0
        self._bytes = sum(f.stat().st_size for f in self._files)
        self._peak_bytes = self._bytes

    @property
    def size_bytes(self) -> int:
        """Bytes currently spooled."""
        return self._bytes

    @property
    def peak_bytes(self) -> int:
        """The largest ``size_bytes`` seen since this object was created."""
        return self._peak_bytes

    @property
    def max_bytes(self) -> int:
        """The size bound [bytes]."""
        return self._max_bytes

    def __len__(self) -> int:
        return len(self._files)

    def append(self, readings: Sequence[Reading]) -> None:
        """Persist one batch durably; raises ``SpoolFull`` if it would pass the bound."""
        data = _encode(readings)
        with self._lock:
            if self._bytes + len(data) > self._max_bytes:
                raise SpoolFull(f"spool at {self._bytes} of {self._max_bytes} bytes")
            final = self._dir / f"{self._next:016d}{_SUFFIX}"
            try:
                _write_durably(final, data)
            except OSError as exc:
                raise SpoolFull(f"spool write refused by the disk ({exc.strerror or exc}) at "
                                f"{self._bytes} bytes in {self._dir}", disk_error=exc) from exc
            self._files.append(final)
            self._next += 1
            self._bytes += len(data)
            self._peak_bytes = max(self._peak_bytes, self._bytes)

    def peek(self) -> tuple[Path, list[Reading]] | None:
        """The oldest batch and its file, or ``None`` when empty.

        A file that cannot be decoded (disk corruption) is renamed to ``*.corrupt`` and
        skipped with an error in the log, so that one bad file cannot wedge replay.
        """
        while self._files:
            path = self._files[0]
            try:
                return path, _decode(path.read_bytes())
            except (OSError, ValueError, TypeError) as exc:
                log.error("spool file %s is unreadable, moved aside: %s", path, exc)
                with self._lock:
                    self._forget(path)
                    path.rename(path.with_suffix(".corrupt"))
        return None

    def replace(self, path: Path, readings: Sequence[Reading]) -> None:
        """Durably replace a spooled batch by what is left of it (same place in the order)."""
        data = _encode(readings)
        with self._lock:
            old = path.stat().st_size
            _write_durably(path, data)
            self._bytes += len(data) - old

    def remove(self, path: Path) -> None:
        """Forget a batch once the store has it."""
        with self._lock:
            self._forget(path)
            path.unlink()

    def _forget(self, path: Path) -> None:
        self._bytes -= path.stat().st_size
        if self._files and self._files[0] == path:
            self._files.popleft()
        else:
            self._files.remove(path)


def _write_durably(final: Path, data: bytes) -> None:
    """Write to a temp name, fsync, rename over ``final``, fsync the folder.

    On an error the temp file is removed (``final`` is untouched) and the error raised.
    """
    tmp = final.with_suffix(".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.rename(final)
    except OSError:
        with contextlib.suppress(OSError):  # a read-only file system refuses this too
            tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
