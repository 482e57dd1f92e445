"""Replay dead letters from the replay area once their cause is fixed.

Each kept message goes through the live input's path again: ``IngestPipeline`` (the same
``MessageDecoder`` validation, dedupe) and then the telemetry store, at the current time and
with the current registry. A message accepted now leaves the replay area and its dead letter
is marked ``replayed_at``; one refused again for a cause that may still be fixed (a
``REPLAYABLE`` reason) stays; one now refused wholly for another cause (the device was revoked
meanwhile, …) is reported as still refused and leaves the area (no replay can fix it).
Writes are idempotent on (device, quantity, timestamp), so replaying a message whose other
records were stored the first time stores nothing twice.

When the store is unavailable the ``StoreUnavailable`` propagates (the API answers 503) and
only the messages already written have left the area.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import sessionmaker

from ingest.deadletters import DeadLetter, DeadLetterReplay, ReplayArea, reasons_key, replay_area
from ingest.decode import DecodePolicy, DeviceLookup, MessageDecoder
from ingest.pipeline import IngestPipeline
from ingest.rejections import REPLAYABLE, Reason
from storage.clock import now_ms
from storage.telemetry import Reading, StoreRejected, TelemetryStore

BATCH_READINGS = 5000
"""Readings written to the store in one call during a replay, at most."""


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which kept messages to replay (every given condition holds); ``limit`` at most."""

    reason: Reason | None = None
    device_id: str | None = None
    since: datetime | None = None  # received at or after
    until: datetime | None = None  # received before
    limit: int = 10_000


@dataclass(slots=True)
class ReplayOutcome:
    """What a replay did [messages, readings]."""

    replayed: int = 0  # accepted now, gone from the replay area
    still_refused: int = 0  # refused again for a replayable cause, still kept
    readings_stored: int = 0
    still_refused_by_reason: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class _Accepted:
    """A kept message decoded without a replayable refusal, and its readings to store."""

    entry_id: int
    dead_letter_id: int | None
    readings: list[Reading]


def _query(f: ReplayFilter) -> Select[Any]:
    q = select(DeadLetterReplay).order_by(DeadLetterReplay.id).limit(f.limit)
    if f.reason is not None:
        q = q.where(DeadLetterReplay.reasons.contains(reasons_key([f.reason.value]),
                                                          autoescape=True))
    if f.device_id is not None:
        q = q.where(DeadLetterReplay.device_id == f.device_id)
    if f.since is not None:
        q = q.where(DeadLetterReplay.received_at >= f.since)
    if f.until is not None:
        q = q.where(DeadLetterReplay.received_at < f.until)
    return q


class DeadLetterReplayer:
    """Replays kept messages through a fresh pipeline over ``lookup`` into ``store``."""

    def __init__(self, sessions: sessionmaker[Any], store: TelemetryStore,
                 lookup: DeviceLookup, policy: DecodePolicy | None = None, *,
                 max_messages: int = 10_000, max_bytes: int = 64 * 1024 * 1024,
                 clock_ms: Callable[[], int] = now_ms) -> None:
        self._sessions = sessions
        self._bounds = (max_messages, max_bytes)
        self._store = store
        self._lookup = lookup
        self._policy = policy or DecodePolicy()
        self._clock_ms = clock_ms

    def area(self) -> ReplayArea:
        """What the replay area holds now, with its bounds."""
        return replay_area(self._sessions, *self._bounds)

    def replay(self, f: ReplayFilter) -> ReplayOutcome:
        """Replay the kept messages ``f`` selects, oldest first."""
        with self._sessions() as session:
            entries = [(e.id, e.dead_letter_id, e.topic, e.payload)
                       for e in session.scalars(_query(f))]
        pipeline: IngestPipeline[int] = IngestPipeline(
            MessageDecoder(self._lookup, self._policy), clock_ms=self._clock_ms,
            batch_max_readings=BATCH_READINGS)
        out = ReplayOutcome()
        pending: list[_Accepted] = []
        size = 0
        hopeless: list[int] = []
        for entry_id, dead_letter_id, topic, payload in entries:
            rejections = pipeline.submit_checked(topic, payload, entry_id)
            refused = [r.reason for r in rejections if r.reason in REPLAYABLE]
            batch = pipeline.take_batch()
            readings = batch.readings if batch is not None else []
            if refused or (rejections and not readings):
                out.still_refused += 1
                out.still_refused_by_reason.update(r.reason.value for r in rejections)
                if not refused:  # refused for a cause no replay fixes (e.g. revoked since)
                    hopeless.append(entry_id)
                continue
            pending.append(_Accepted(entry_id, dead_letter_id, readings))
            size += len(readings)
            if size >= BATCH_READINGS:
                self._write(pending, out)
                pending, size = [], 0
        self._write(pending, out)
        if hopeless:
            with self._sessions() as session, session.begin():
                session.execute(delete(DeadLetterReplay).where(
                    DeadLetterReplay.id.in_(hopeless)))
        return out

    def _store_batch(self, pending: list[_Accepted], out: ReplayOutcome) -> list[_Accepted]:
        """Write the readings of ``pending``; the messages that may leave the replay area."""
        readings = [r for a in pending for r in a.readings]
        if not readings:
            return pending
        result = self._store.write(readings)
        out.readings_stored += result.stored
        kept: set[int] = set()
        owner = {(r.device_id, r.quantity, r.ts_ms): a.entry_id for a in pending
                 for r in a.readings}
        for refusal in result.refused:
            out.still_refused_by_reason[refusal.why.value] += 1
            r = refusal.reading
            entry = owner.get((r.device_id, r.quantity, r.ts_ms))
            if entry is not None and Reason(refusal.why.value) in REPLAYABLE:
                kept.add(entry)
        out.still_refused += len(kept)
        return [a for a in pending if a.entry_id not in kept]

    def _write(self, pending: list[_Accepted], out: ReplayOutcome) -> None:
        """Store the accepted messages' readings, then let those messages go.

        A message with a reading the store refuses for a replayable cause (a field type)
        stays; a reading refused for good (a conflicting value: the first value stands) is
        counted in ``still_refused_by_reason`` and its message goes.
        """
        if not pending:
            return
        try:
            accepted = self._store_batch(pending, out)
        except StoreRejected:  # message by message: the refused ones stay
            accepted = []
            for a in pending:
                try:
                    accepted += self._store_batch([a], out)
                except StoreRejected:
                    out.still_refused += 1
                    out.still_refused_by_reason[Reason.STORE_REJECTED.value] += 1
        out.replayed += len(accepted)
        if not accepted:
            return
        with self._sessions() as session, session.begin():
            session.execute(delete(DeadLetterReplay).where(
                DeadLetterReplay.id.in_([a.entry_id for a in accepted])))
            ids = [a.dead_letter_id for a in accepted if a.dead_letter_id is not None]
            if ids:
                session.execute(update(DeadLetter).where(DeadLetter.id.in_(ids))
                                .values(replayed_at=datetime.now(UTC)))
