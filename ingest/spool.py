"""A durable on-disk spool for batches the store could not take.

One file per batch, named by a growing sequence number, written to a temp name, fsync'd and
renamed (so a crash leaves either the whole file or nothing), then the folder is fsync'd.
Replay goes oldest first. Total size is bounded: ``append`` raises ``SpoolFull`` past it,
and the caller then stops acknowledging so the broker keeps the messages.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import orjson

from storage.telemetry import Reading

_SUFFIX = ".batch"


class SpoolFull(Exception):
    """The spool reached its size bound."""


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
    """Batches waiting for the store, oldest first."""

    def __init__(self, directory: Path, *, max_bytes: int = 512 * 1024 * 1024) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        for tmp in self._dir.glob("*.tmp"):  # never renamed: never acknowledged
            tmp.unlink()
        files = self._files()
        self._next = int(files[-1].stem) + 1 if files else 0
        self._bytes = sum(f.stat().st_size for f in files)

    def _files(self) -> list[Path]:
        return sorted(self._dir.glob(f"*{_SUFFIX}"))

    @property
    def size_bytes(self) -> int:
        """Bytes currently spooled."""
        return self._bytes

    @property
    def max_bytes(self) -> int:
        """The size bound [bytes]."""
        return self._max_bytes

    def __len__(self) -> int:
        return len(self._files())

    def append(self, readings: Sequence[Reading]) -> None:
        """Persist one batch durably; raises ``SpoolFull`` if it would pass the bound."""
        data = _encode(readings)
        with self._lock:
            if self._bytes + len(data) > self._max_bytes:
                raise SpoolFull(f"spool at {self._bytes} of {self._max_bytes} bytes")
            final = self._dir / f"{self._next:016d}{_SUFFIX}"
            tmp = final.with_suffix(".tmp")
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.rename(final)
            dir_fd = os.open(self._dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
            self._next += 1
            self._bytes += len(data)

    def peek(self) -> tuple[Path, list[Reading]] | None:
        """The oldest batch and its file, or ``None`` when empty."""
        files = self._files()
        if not files:
            return None
        return files[0], _decode(files[0].read_bytes())

    def remove(self, path: Path) -> None:
        """Forget a batch once the store has it."""
        with self._lock:
            size = path.stat().st_size
            path.unlink()
            self._bytes -= size
