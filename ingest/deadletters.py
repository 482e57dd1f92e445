"""Dead letters: every refused message, with its reasons, kept in the metadata DB.

One dead letter per refused message (not per refused record or reading), so refusing a
message costs one row whatever it carries: the row holds the refusals' counts by reason, the
first refusal's detail and a payload excerpt of at most ``payload_bytes``. A refusal is
attributed to the device the decoder found, else to the device the topic names
(``claimed_by_topic``).

Storage is bounded (newest ``keep`` rows, none older than a maximum age); the exact counts
live in the metrics, so pruning never changes what the API reports as rejected.

Messages refused for a cause that may be fixed later (``rejections.REPLAYABLE``: a clock, a
device registered late, a store refusal) also keep their **full** payload in the replay area
(table ``dead_letter_replay``), bounded by ``replay_keep`` messages and ``replay_max_bytes``
bytes: the oldest are evicted first, and counted (``replay_evicted``). ``ingest.replay`` feeds
them through the live decode path again.

Logging is rate-limited per reason.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    CursorResult,
    DateTime,
    Delete,
    Integer,
    LargeBinary,
    String,
    delete,
    false,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from devices.contract import parse_topic, record, telemetry_topic
from devices.registry import utcnow
from ingest.metrics import IngestMetrics
from ingest.rejections import REPLAYABLE, Rejection
from storage.clock import DAY_MS
from storage.metadata import Base
from storage.telemetry import Reading

log = logging.getLogger(__name__)

DETAIL_CHARS = 512
TOPIC_CHARS = 256


class DeadLetter(Base):
    """A refused message: its main reason, every refusal counted by reason, an excerpt."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                  index=True)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(String(DETAIL_CHARS))
    topic: Mapped[str] = mapped_column(String(TOPIC_CHARS))
    device_id: Mapped[str | None] = mapped_column(String(128), default=None)
    quantity: Mapped[str | None] = mapped_column(String(64), default=None)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    farm_id: Mapped[str | None] = mapped_column(String(64), default=None)
    claimed_by_topic: Mapped[bool] = mapped_column(Boolean, default=False,
                                                   server_default=false())
    refused: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    counts: Mapped[dict[str, int] | None] = mapped_column(JSON, default=None)
    reasons: Mapped[str] = mapped_column(String(512), default="", server_default="")
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class DeadLetterReplay(Base):
    """The full payload of a message refused for a cause that may be fixed later."""

    __tablename__ = "dead_letter_replay"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dead_letter_id: Mapped[int | None] = mapped_column(Integer, default=None)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    reasons: Mapped[str] = mapped_column(String(512))
    device_id: Mapped[str | None] = mapped_column(String(128), default=None, index=True)
    topic: Mapped[str] = mapped_column(String(TOPIC_CHARS))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)


def reasons_key(reasons: Iterable[str]) -> str:
    """The ``reasons`` column: every reason of a message between commas (``,a,b,``), so
    ``LIKE '%,a,%'`` finds the messages that had reason ``a`` among others."""
    return "," + ",".join(sorted(reasons)) + ","


@dataclass(frozen=True, slots=True)
class PendingDeadLetter:
    """A refused message (its main rejection) with its raw payload, waiting to be written.

    ``counts``: every refusal of the message by reason (``None``: just ``rejection``);
    ``farm_id`` and ``claimed_by_topic`` say where the device id came from.
    """

    rejection: Rejection
    payload: bytes
    received_at: datetime
    counts: Mapping[str, int] | None = None
    farm_id: str | None = None
    claimed_by_topic: bool = False

    @property
    def by_reason(self) -> Mapping[str, int]:
        """Refusals of this message by reason."""
        return self.counts or {self.rejection.reason.value: 1}

    @property
    def replayable(self) -> bool:
        """Whether a refusal of this message may be fixed later (and the payload is whole)."""
        return bool(self.payload) and any(r in REPLAYABLE for r in self.by_reason)


class RateLimitedLog:
    """At most ``per_second`` log lines per reason; the rest are summarised."""

    def __init__(self, per_second: int = 5) -> None:
        self._per_second = per_second
        self._window = 0
        self._seen: dict[str, int] = {}

    def rejection(self, rej: Rejection, refused: int = 1) -> None:
        """Log one refused message unless its reason is over budget this second."""
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
            more = f" ({refused} refusals)" if refused > 1 else ""
            log.warning("dead letter %s: %s (topic %s)%s", rej.reason.value, rej.detail,
                        rej.topic, more)


def _summary(rejections: Sequence[Rejection], by_reason: Counter[str], topic: str
             ) -> tuple[Rejection, str | None, bool]:
    """The main rejection of a message (its most frequent reason, first seen on a tie, with
    the first such refusal's detail), its farm, and whether its device id is the topic's."""
    main_reason = by_reason.most_common(1)[0][0]
    first = next(r for r in rejections if r.reason.value == main_reason)
    devices = {r.device_id for r in rejections if r.device_id}
    parsed = parse_topic(topic)
    if len(devices) == 1:
        device_id, from_topic = next(iter(devices)), False
    elif parsed is not None:
        device_id, from_topic = parsed.sender_id, not devices
    else:
        device_id, from_topic = None, False
    total = len(rejections)
    detail = first.detail
    if total > 1:
        detail += "; " + ", ".join(f"{n} {r}" for r, n in by_reason.most_common())
    return (Rejection(first.reason, detail, topic or first.topic, device_id, first.quantity),
            parsed.farm_id if parsed is not None else None, from_topic)


def dead_letter(rejections: Sequence[Rejection], payload: bytes, counts: Counter[str],
                logger: RateLimitedLog, out: list[PendingDeadLetter], *,
                topic: str = "") -> None:
    """Count every rejection of one message by reason (exactly), and queue **one** dead
    letter of ``payload`` for them in ``out`` (logged once, rate-limited)."""
    if not rejections:
        return
    by_reason: Counter[str] = Counter(r.reason.value for r in rejections)
    counts.update(by_reason)
    main, farm_id, from_topic = _summary(rejections, by_reason, topic or rejections[0].topic)
    logger.rejection(main, len(rejections))
    out.append(PendingDeadLetter(main, payload, datetime.now(UTC), dict(by_reason), farm_id,
                                 from_topic))


def replay_message(readings: Sequence[Reading]) -> tuple[str, bytes]:
    """The telemetry message (topic, payload) that carries ``readings`` of one device again,
    for readings refused after decoding (by the store): so they can be replayed through the
    live decode path like any refused message. Values are in canonical units already."""
    records: dict[tuple[int, int], dict[str, float]] = {}
    for r in readings:
        records.setdefault((r.ts_ms, r.seq), {})[r.quantity] = r.value
    first = readings[0]
    topic = telemetry_topic(first.farm_id or "", first.device_id)
    return topic, orjson.dumps({"records": [record(ts, seq, values)
                                            for (ts, seq), values in records.items()]})


def _text(value: str, limit: int) -> str:
    """Untrusted text for a column: NUL (legal in JSON strings, refused by PostgreSQL) written
    as ``\\x00``, cut to ``limit`` characters."""
    return value.replace("\x00", "\\x00")[:limit]


@dataclass(frozen=True, slots=True)
class ReplayArea:
    """What the replay area holds now [messages, bytes] and its bounds."""

    messages: int
    bytes: int
    max_messages: int
    max_bytes: int


class DeadLetterStore:
    """Writes dead letters in batches and keeps only the newest ``keep``, none older than
    ``max_age_s`` [s] (``None``: no age limit); full payloads of replayable messages go to the
    replay area, at most ``replay_keep`` messages and ``replay_max_bytes`` bytes.

    A flood cannot fill the disk: at most ``keep`` rows of one batch are inserted (the newest),
    and each write prunes by count and age. The exact counts are the metrics, not these rows.
    """

    def __init__(self, sessions: sessionmaker[Any], *, keep: int = 10_000,
                 payload_bytes: int = 1024, max_age_s: float | None = 30 * DAY_MS / 1000,
                 replay_keep: int = 10_000, replay_max_bytes: int = 64 * 1024 * 1024,
                 metrics: IngestMetrics | None = None) -> None:
        self._sessions = sessions
        self._keep = max(0, keep)
        self._payload_bytes = payload_bytes
        self._max_age = timedelta(seconds=max_age_s) if max_age_s is not None else None
        self._replay_keep = max(0, replay_keep)
        self._replay_max_bytes = max(0, replay_max_bytes)
        self.metrics = metrics or IngestMetrics()

    def write(self, pending: Sequence[PendingDeadLetter]) -> None:
        """Insert a batch and prune beyond the bounds."""
        if not pending:
            return
        with self._sessions() as session, session.begin():
            rows = self._insert_rows(session, pending)
            self._insert_replay(session, pending, rows)

    def _insert_rows(self, session: Session, pending: Sequence[PendingDeadLetter]
                     ) -> dict[int, DeadLetter]:
        """The newest ``keep`` of ``pending`` as rows (by their index in ``pending``)."""
        if self._keep == 0:
            return {}
        first = max(0, len(pending) - self._keep)
        rows = {i: self._row(pending[i]) for i in range(first, len(pending))}
        session.add_all(rows.values())
        session.flush()
        newest = session.scalar(select(func.max(DeadLetter.id))) or 0
        if newest > self._keep:
            session.execute(delete(DeadLetter).where(DeadLetter.id <= newest - self._keep))
        if self._max_age is not None:
            cutoff = pending[-1].received_at - self._max_age
            session.execute(delete(DeadLetter).where(DeadLetter.received_at < cutoff))
        return rows

    def _row(self, p: PendingDeadLetter) -> DeadLetter:
        rej = p.rejection
        by_reason = p.by_reason
        return DeadLetter(
            received_at=p.received_at,
            reason=rej.reason.value,
            detail=_text(rej.detail, DETAIL_CHARS),
            topic=_text(rej.topic, TOPIC_CHARS),
            device_id=(rej.device_id or None) and _text(rej.device_id, 128),
            quantity=rej.quantity and _text(rej.quantity, 64),
            payload=p.payload[: self._payload_bytes],
            farm_id=p.farm_id and _text(p.farm_id, 64),
            claimed_by_topic=p.claimed_by_topic,
            refused=sum(by_reason.values()),
            counts=dict(by_reason),
            reasons=reasons_key(by_reason),
        )

    def _insert_replay(self, session: Session, pending: Sequence[PendingDeadLetter],
                       rows: Mapping[int, DeadLetter]) -> None:
        """Keep the whole payload of each replayable message, then evict beyond the bounds."""
        added = 0
        for i, p in enumerate(pending):
            if not p.replayable or len(p.payload) > self._replay_max_bytes \
                    or len(p.rejection.topic) > TOPIC_CHARS or self._replay_keep == 0:
                continue
            row = rows.get(i)
            session.add(DeadLetterReplay(
                dead_letter_id=row.id if row is not None else None,
                received_at=p.received_at, reason=p.rejection.reason.value,
                reasons=reasons_key(p.by_reason),
                device_id=(p.rejection.device_id or None) and _text(p.rejection.device_id, 128),
                topic=p.rejection.topic, payload=p.payload, size=len(p.payload)))
            added += 1
        if added or self._max_age is not None:
            session.flush()
            self.metrics.replay_evicted += self._evict(session, pending[-1].received_at)

    def _evict(self, session: Session, now: datetime) -> int:
        """Delete the oldest replay entries beyond count, bytes and age; how many went."""
        evicted = 0
        if self._max_age is not None:
            evicted += _deleted(session, delete(DeadLetterReplay).where(
                DeadLetterReplay.received_at < now - self._max_age))
        count, total = session.execute(select(func.count(), func.coalesce(
            func.sum(DeadLetterReplay.size), 0))).one()
        if count <= self._replay_keep and total <= self._replay_max_bytes:
            return evicted
        cutoff = None
        for rid, size in session.execute(select(DeadLetterReplay.id, DeadLetterReplay.size)
                                         .order_by(DeadLetterReplay.id)):
            if count <= self._replay_keep and total <= self._replay_max_bytes:
                break
            cutoff, count, total = rid, count - 1, total - size
        if cutoff is not None:
            evicted += _deleted(session, delete(DeadLetterReplay).where(
                DeadLetterReplay.id <= cutoff))
        return evicted


def _deleted(session: Session, statement: Delete) -> int:
    """Run a DELETE; how many rows it removed."""
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount or 0


def replay_area(sessions: sessionmaker[Any], max_messages: int, max_bytes: int) -> ReplayArea:
    """What the replay area holds now, with its bounds."""
    with sessions() as session:
        count, total = session.execute(select(func.count(), func.coalesce(
            func.sum(DeadLetterReplay.size), 0))).one()
    return ReplayArea(int(count), int(total), max_messages, max_bytes)
