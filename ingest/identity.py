"""Ingest worker identities: slots claimed with ``flock`` under the shared spool folder.

A worker's identity names its MQTT session (client id), its spool folder and its counters row.
It must not depend on the container's host name (a replacement container gets a new one, and
the old session and spool would be stranded), so replicas sharing one data volume claim
*slots*: slot 0 is the configured base id (``farmtel-ingest``), slot k the id ``<base>-<k>``.
A worker takes the lowest slot whose lock file ``<spool root>/<id>/.owner`` it can lock
(``flock(LOCK_EX | LOCK_NB)``); the kernel releases the lock when the process dies, however
it dies, so a replica that comes back (under any host name) takes the slot, session and
spool of the one that went away. Every other folder under the spool root whose lock can be
taken belongs to no live worker: an orphan, whose spool and broker session a live worker adopts
(``ingest.adoption``).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".owner"
MAX_SLOTS = 1000


class NoFreeSlot(RuntimeError):
    """Every slot up to ``MAX_SLOTS`` is held by a live worker."""


class Claim:
    """A held identity: its id (MQTT client id, spool folder name, counters row) and lock."""

    def __init__(self, client_id: str, directory: Path, fd: int) -> None:
        self.client_id = client_id
        self.directory = directory
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        """Whether the lock is still held by this object."""
        return self._fd is not None

    def release(self) -> None:
        """Release the lock (closing the file releases the ``flock``)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def slot_id(base: str, slot: int) -> str:
    """The identity of ``slot``: the base id for slot 0, ``<base>-<slot>`` after it."""
    return base if slot == 0 else f"{base}-{slot}"


def try_claim(root: Path, client_id: str) -> Claim | None:
    """Lock ``root/client_id`` (created if missing); ``None`` if a live process holds it."""
    directory = root / client_id
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return Claim(client_id, directory, fd)


def claim_slot(root: Path, base: str) -> Claim:
    """Claim the lowest free slot of ``base`` under ``root`` (the spool root)."""
    for slot in range(MAX_SLOTS):
        claim = try_claim(root, slot_id(base, slot))
        if claim is not None:
            return claim
    raise NoFreeSlot(f"all {MAX_SLOTS} ingest slots of {base!r} under {root} are held")


def orphans(root: Path, *, exclude: str) -> Iterator[Claim]:
    """Claims on every folder under ``root`` no live worker holds, ``exclude`` left out.

    Each is yielded locked; the caller releases it. Folders of earlier layouts (a client id
    with a host name in it) count too: their spools and sessions are adopted the same way.
    """
    if not root.is_dir():
        return
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        if directory.name == exclude:
            continue
        claim = try_claim(root, directory.name)
        if claim is not None:
            yield claim
