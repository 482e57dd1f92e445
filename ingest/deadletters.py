"""Dead letters: every refused message or reading, with its reason, kept in the metadata DB.

Storage is bounded (newest ``keep`` rows, none older than a maximum age); the exact counts
live in the metrics, so pruning never changes what the API reports as rejected.
Logging is rate-limited per reason.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Integer, LargeBinary, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from devices.registry import utcnow
from ingest.rejections import Rejection
from storage.clock import DAY_MS
from storage.metadata import Base

log = logging.getLogger(__name__)


class DeadLetter(Base):
    """A refused message or reading."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                  index=True)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(String(512))
    topic: Mapped[str] = mapped_column(String(256))
    device_id: Mapped[str | None] = mapped_column(String(128), default=None)
    quantity: Mapped[str | None] = mapped_column(String(64), default=None)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True, slots=True)
class PendingDeadLetter:
    """A rejection with the raw payload excerpt it came from."""

    rejection: Rejection
    payload: bytes
    received_at: datetime


class RateLimitedLog:
    """At most ``per_second`` log lines per reason; the rest are summarised."""

    def __init__(self, per_second: int = 5) -> None:
        self._per_second = per_second
        self._window = 0
        self._seen: dict[str, int] = {}

    def rejection(self, rej: Rejection) -> None:
        """Log one rejection unless its reason is over budget this second."""
        now = int(time.monotonic())
        if now != self._window:
            suppressed = {k: v - self._per_second for k, v in self._seen.items()
                          if v > self._per_second}
            if suppressed:
                log.warning("dead letters not logged in the last second: %s", suppressed)
            self._window, self._seen = now, {}
        n = self._seen.get(rej.reason, 0) + 1
        self._seen[rej.reason] = n
        if n <= self._per_second:
            log.warning("dead letter %s: %s (topic %s)", rej.reason.value, rej.detail, rej.topic)


def dead_letter(rejections: Iterable[Rejection], payload: bytes, counts: Counter[str],
                logger: RateLimitedLog, out: list[PendingDeadLetter]) -> None:
    """Count and log each rejection, and queue it in ``out`` as a dead letter of ``payload``."""
    at = datetime.now(UTC)
    for rej in rejections:
        counts[rej.reason.value] += 1
        logger.rejection(rej)
        out.append(PendingDeadLetter(rej, payload, at))


def _text(value: str, limit: int) -> str:
    """Untrusted text for a column: NUL (legal in JSON strings, refused by PostgreSQL) written
    as ``\\x00``, cut to ``limit`` characters."""
    return value.replace("\x00", "\\x00")[:limit]


class DeadLetterStore:
    """Writes dead letters in batches and keeps only the newest ``keep``, none older than
    ``max_age_s`` [s] (``None``: no age limit).

    A flood cannot fill the disk: at most ``keep`` rows of one batch are inserted (the newest),
    and each write prunes by count and age. The exact counts are the metrics, not these rows.
    """

    def __init__(self, sessions: sessionmaker[Any], *, keep: int = 10_000,
                 payload_bytes: int = 1024, max_age_s: float | None = 30 * DAY_MS / 1000) -> None:
        self._sessions = sessions
        self._keep = max(0, keep)
        self._payload_bytes = payload_bytes
        self._max_age = timedelta(seconds=max_age_s) if max_age_s is not None else None

    def write(self, pending: Sequence[PendingDeadLetter]) -> None:
        """Insert a batch and prune beyond the bounds."""
        if not pending or self._keep == 0:
            return
        pending = pending[-self._keep:]
        with self._sessions() as session, session.begin():
            session.add_all(
                DeadLetter(
                    received_at=p.received_at,
                    reason=p.rejection.reason.value,
                    detail=_text(p.rejection.detail, 512),
                    topic=_text(p.rejection.topic, 256),
                    device_id=(p.rejection.device_id or None) and _text(p.rejection.device_id, 128),
                    quantity=p.rejection.quantity and _text(p.rejection.quantity, 64),
                    payload=p.payload[: self._payload_bytes],
                )
                for p in pending
            )
            session.flush()
            newest = session.scalar(select(func.max(DeadLetter.id))) or 0
            if newest > self._keep:
                session.execute(delete(DeadLetter).where(DeadLetter.id <= newest - self._keep))
            if self._max_age is not None:
                cutoff = pending[-1].received_at - self._max_age
                session.execute(delete(DeadLetter).where(DeadLetter.received_at < cutoff))
