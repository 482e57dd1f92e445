"""Readiness: does each dependency of this process answer now?

Required: the metadata database (``SELECT 1``) and the telemetry store (``ping``); without
either the API cannot answer, so it is ``unavailable`` (HTTP 503). Optional, only where this
process runs an ingest worker (``farmtel up``): the MQTT broker connection and the on-disk
spool; a disconnected broker or a full spool makes it ``degraded`` (HTTP 200: reads still
work). Details name the error class and its first line, never a URL's credentials.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text

from api.services import ApiServices

Status = Literal["ok", "down", "full"]


@dataclass(frozen=True, slots=True)
class Check:
    """One dependency: ``ok``, ``down`` or (the spool) ``full``, and what was seen."""

    name: str
    status: Status
    required: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Readiness:
    """Every check of this process."""

    checks: list[Check]

    @property
    def ready(self) -> bool:
        """Every required dependency answers."""
        return all(c.status == "ok" for c in self.checks if c.required)

    @property
    def status(self) -> Literal["ok", "degraded", "unavailable"]:
        """``unavailable`` (a required check failed), ``degraded`` (an optional one) or ``ok``."""
        if not self.ready:
            return "unavailable"
        return "ok" if all(c.status == "ok" for c in self.checks) else "degraded"


def readiness(services: ApiServices) -> Readiness:
    """Check the metadata database, the store and, when in-process, the broker and the spool."""
    checks = [_timed("metadata", lambda: _select_one(services)),
              _timed("store", services.store.ping)]
    connected = services.broker_connected()
    if connected is not None:
        checks.append(Check("broker", "ok" if connected else "down", False,
                            "connected" if connected else "disconnected, reconnecting"))
    spool = services.spool()
    if spool is not None:
        checks.append(Check("spool", "full" if spool.full else "ok", False,
                            f"{spool.size_bytes} bytes"
                            + (", full: ingest holds acknowledgements" if spool.full else "")))
    return Readiness(checks)


def _select_one(services: ApiServices) -> None:
    with services.sessions() as session:
        session.execute(text("SELECT 1"))


def _timed(name: str, probe: Callable[[], object]) -> Check:
    """A required check: ``probe`` returning is ``ok``, raising is ``down``."""
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # any failure means "not ready"; the caller gets its kind
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return Check(name, "down", True, f"{type(exc).__name__}: {first_line}"[:300])
    return Check(name, "ok", True, f"answered in {(time.perf_counter() - started) * 1000:.1f} ms")
