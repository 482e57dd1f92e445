"""The store sink: the ingest worker's durable output (telemetry store, spool, dead letters).

A batch counts as written once every reading it carried is durable: written to the store, or
appended to the on-disk spool while the store is unavailable. A batch the store refuses as
such is retried reading by reading, and the refused readings are dead-lettered. Readings the
store refuses one by one while writing the rest (a value conflicting with the one that stands,
a type conflict: ``storage.telemetry.WriteResult``) are dead-lettered with their reason, and
identical repeats are counted as duplicates (``duplicate_readings``), so ``readings_stored``
is exactly what the store holds anew. When the
spool is full too, ``write`` returns False, the batch is kept, and the broker holds the rest
(backpressure). ``housekeep`` replays the spool into the store, oldest first.

After each durable batch an optional ``on_durable`` listener receives its readings (the
alert engine uses it to evaluate threshold rules within seconds of arrival).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from ingest.deadletters import (
    DeadLetterStore,
    PendingDeadLetter,
    RateLimitedLog,
    dead_letter,
    replay_message,
)
from ingest.metrics import IngestMetrics
from ingest.pipeline import Batch
from ingest.rejections import Reason, Rejection
from ingest.spool import Spool, SpoolFull
from storage.telemetry import (
    Reading,
    Refusal,
    Refused,
    StoreRejected,
    StoreUnavailable,
    TelemetryStore,
    WriteResult,
)

log = logging.getLogger(__name__)


class SpooledStoreSink:
    """Writes batches to ``store``, or to ``spool`` while the store is unavailable."""

    def __init__(
        self,
        store: TelemetryStore,
        spool: Spool,
        dead_letters: DeadLetterStore,
        metrics: IngestMetrics,
        *,
        on_durable: Callable[[list[Reading]], None] | None = None,
    ) -> None:
        self._store = store
        self._spool = spool
        self._dead_letters = dead_letters
        self.metrics = metrics
        self._on_durable = on_durable
        self._log = RateLimitedLog()
        self._observe_spool()

    def write(self, batch: Batch[Any]) -> bool:
        """Write a batch to the store or the spool; then its messages may be acknowledged.

        False when neither took it (spool full): ``batch.readings`` then holds what is still
        to be written; call again later with the same batch.
        """
        if batch.readings and not self._persist(batch):
            return False
        if batch.readings and self._on_durable is not None:
            try:  # listeners must be quick (enqueue); they never block acknowledgement
                self._on_durable(batch.readings)
            except Exception:
                log.exception("on_durable listener failed")
        self._write_dead_letters(batch.dead)
        return True

    def _persist(self, batch: Batch[Any]) -> bool:
        """Write the batch to the store, or spool it; False (batch kept) when neither works.

        A batch the store refuses as such is retried reading by reading (bad ones are
        dead-lettered). If the store goes away meanwhile, only the readings not yet written
        are spooled, and only they are kept for the next try, so nothing is counted twice.
        """
        m = self.metrics
        readings = batch.readings
        if len(self._spool) == 0:
            try:
                result = self._store.write(readings)
            except StoreUnavailable as exc:
                m.store_failures += 1
                log.warning("store unavailable, spooling %d readings: %s", len(readings), exc)
            except StoreRejected as exc:
                readings = self._write_one_by_one(readings, exc, batch.dead)
                if not readings:
                    self._spool_has_room()
                    return True
            else:
                m.batches_written += 1
                self._count(result, batch.dead)
                self._spool_has_room()
                return True
        try:
            self._spool.append(readings)
        except SpoolFull as exc:
            if not m.spool_full:
                log.error("ALERT spool_full: spool full, holding messages unacknowledged (the "
                          "broker keeps them): %s", exc)
            m.spool_full = True
            batch.readings = readings
            return False
        self._spool_has_room()
        m.batches_spooled += 1
        self._observe_spool()
        return True

    def _spool_has_room(self) -> None:
        if self.metrics.spool_full:
            log.warning("spool has room again (%d bytes): acknowledging again",
                        self._spool.size_bytes)
        self.metrics.spool_full = False

    def _observe_spool(self) -> None:
        m = self.metrics
        m.spool_bytes = self._spool.size_bytes
        m.spool_peak_bytes = max(m.spool_peak_bytes, m.spool_bytes)
        m.spool_batches = len(self._spool)

    def _write_one_by_one(self, readings: list[Reading], exc: StoreRejected,
                          dead: list[PendingDeadLetter]) -> list[Reading]:
        """After a refused batch: store each reading alone, dead-letter the refused ones.

        Returns the readings not written because the store became unavailable meanwhile.
        """
        m = self.metrics
        if len(readings) == 1:
            self._dead_letter_refused(readings[0], exc, dead)
            return []
        for i, r in enumerate(readings):
            try:
                result = self._store.write([r])
            except StoreRejected as one_exc:
                self._dead_letter_refused(r, one_exc, dead)
            except StoreUnavailable:
                m.store_failures += 1
                return readings[i:]
            else:
                self._count(result, dead)
        return []

    def _count(self, result: WriteResult, dead: list[PendingDeadLetter]) -> None:
        """Count what the store did with a batch, exactly; its refusals become dead letters,
        one per device and reason (the reason counts stay per reading): a conflicting value
        carries the value that stands and the refused one, a type conflict the readings whole
        (replayable once the store's type is fixed)."""
        m = self.metrics
        m.readings_stored += result.stored
        m.duplicate_readings += result.duplicates
        if not result.refused:
            return
        m.readings_refused_by_store += len(result.refused)
        groups: dict[tuple[str, Refused], list[Refusal]] = {}
        for refusal in result.refused:
            groups.setdefault((refusal.reading.device_id, refusal.why), []).append(refusal)
        for (_, why), refusals in groups.items():
            readings = [f.reading for f in refusals]
            topic, payload = replay_message(readings)
            if why is Refused.CONFLICTING_VALUE:
                payload = orjson.dumps([
                    {"device_id": f.reading.device_id, "quantity": f.reading.quantity,
                     "ts_ms": f.reading.ts_ms, "seq": f.reading.seq,
                     "stored_value": f.stored_value, "refused_value": f.reading.value}
                    for f in refusals])
            rejections = [Rejection(Reason(why.value), f.detail[:400], topic,
                                    f.reading.device_id, f.reading.quantity) for f in refusals]
            dead_letter(rejections, payload, m.rejected, self._log, dead, topic=topic)

    def _dead_letter_refused(self, reading: Reading, exc: StoreRejected,
                             dead: list[PendingDeadLetter]) -> None:
        topic, payload = replay_message([reading])  # kept whole: replayable once fixed
        rej = Rejection(Reason.STORE_REJECTED, str(exc)[:400], topic, reading.device_id,
                        reading.quantity)
        dead_letter([rej], payload, self.metrics.rejected, self._log, dead)
        self.metrics.readings_refused_by_store += 1

    def _write_dead_letters(self, dead: list[PendingDeadLetter]) -> None:
        if not dead:
            return
        try:
            self._dead_letters.write(dead)
        except Exception:  # counts stay exact in metrics; the sample rows are best effort
            log.exception("could not write %d dead letters", len(dead))
        dead.clear()

    def replay_spool(self, max_batches: int = 100) -> int:
        """Move spooled batches into the store, oldest first; returns how many moved."""
        moved = 0
        m = self.metrics
        while moved < max_batches:
            item = self._spool.peek()
            if item is None:
                break
            path, readings = item
            dead: list[PendingDeadLetter] = []
            try:
                result = self._store.write(readings)
            except StoreUnavailable:
                break
            except StoreRejected as exc:
                left = self._write_one_by_one(readings, exc, dead)
                self._write_dead_letters(dead)
                if left:  # the store went away halfway: keep only the rest, in place
                    self._spool.replace(path, left)
                    break
            else:
                self._count(result, dead)
                self._write_dead_letters(dead)
            self._spool.remove(path)
            m.batches_replayed += 1
            moved += 1
        self._observe_spool()
        if moved:
            log.info("replayed %d spooled batches (%d bytes left)", moved, m.spool_bytes)
        return moved

    def housekeep(self) -> None:
        """Replay the spool into the store (when the store is back)."""
        self.replay_spool()

    def close(self) -> None:
        """Nothing to release (the store and the spool belong to the caller)."""
