"""The ingest pipeline, free of MQTT: decode -> dedupe -> batch -> store (or spool) -> ack.

Two sides, usable from two threads: ``submit`` and ``take_batch`` (decode side) fill and seal
batches; ``make_durable`` and ``replay_spool`` (durable side) write them. ``flush`` does both
in one call. The ingest worker runs the durable side on its own thread, so decoding the next
batch overlaps writing the last one (the store's I/O releases the GIL).

After each durable batch an optional ``on_durable`` listener receives its readings (the
alert engine uses it to evaluate threshold rules within seconds of arrival).

A message's acknowledgement token is released only once every reading it carried is durable:
written to the store, or appended to the on-disk spool while the store is unavailable. When
the spool is full too, nothing is released, the pending batch is kept, and the broker holds
the rest (backpressure).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from ingest.deadletters import DeadLetterStore, PendingDeadLetter, RateLimitedLog
from ingest.decode import MessageDecoder
from ingest.dedupe import RecentKeys
from ingest.metrics import IngestMetrics
from ingest.rejections import Reason, Rejection
from ingest.spool import Spool, SpoolFull
from storage.telemetry import Reading, StoreRejected, StoreUnavailable, TelemetryStore

log = logging.getLogger(__name__)

Token = TypeVar("Token")


def now_ms() -> int:
    """Wall-clock UTC epoch milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class Batch(Generic[Token]):
    """Sealed readings and the tokens (and dead letters) that wait on them being durable."""

    readings: list[Reading]
    tokens: list[Token]
    dead: list[PendingDeadLetter] = field(default_factory=list)
    started: float | None = None  # monotonic time of the oldest message [s]


class IngestPipeline(Generic[Token]):
    """Accumulates messages into batches and makes them durable."""

    def __init__(
        self,
        decoder: MessageDecoder,
        store: TelemetryStore,
        spool: Spool,
        dead_letters: DeadLetterStore,
        *,
        metrics: IngestMetrics | None = None,
        batch_max_readings: int = 5000,
        flush_interval_ms: int = 200,
        dedupe_capacity: int = 500_000,
        clock_ms: Callable[[], int] = now_ms,
        monotonic: Callable[[], float] = time.monotonic,
        on_durable: Callable[[list[Reading]], None] | None = None,
    ) -> None:
        self._decoder = decoder
        self._store = store
        self._spool = spool
        self._dead_letters = dead_letters
        self.metrics = metrics or IngestMetrics()
        self._batch_max = batch_max_readings
        self._flush_interval_s = flush_interval_ms / 1000
        self._seen = RecentKeys(dedupe_capacity)
        self._clock_ms = clock_ms
        self._monotonic = monotonic
        self._readings: list[Reading] = []
        self._tokens: list[Token] = []
        self._dead: list[PendingDeadLetter] = []
        self._oldest: float | None = None
        self._log = RateLimitedLog()  # decode side
        self._store_log = RateLimitedLog()  # durable side
        self._on_durable = on_durable
        self._observe_spool()

    @property
    def pending_readings(self) -> int:
        """Readings waiting in the current batch."""
        return len(self._readings)

    @property
    def pending_messages(self) -> int:
        """Messages whose acknowledgement waits on the current batch."""
        return len(self._tokens)

    def submit(self, topic: str, payload: bytes, token: Token) -> None:
        """Decode one message into the pending batch; its token is released by ``flush``."""
        received = self._clock_ms()
        decoded = self._decoder.decode(topic, payload, received)
        m = self.metrics
        m.messages_received += 1
        m.records_received += decoded.records
        if decoded.rejections:
            self._reject(decoded.rejections, payload, self._dead)
        if decoded.readings:
            fresh, duplicates = self._seen.fresh(decoded.readings)
            m.duplicate_records += duplicates
            m.readings_decoded += len(fresh)
            self._readings.extend(fresh)
        self._tokens.append(token)
        if self._oldest is None:
            self._oldest = self._monotonic()

    def _reject(self, rejections: list[Rejection], payload: bytes,
                dead: list[PendingDeadLetter], logger: RateLimitedLog | None = None) -> None:
        at = datetime.now(UTC)
        logger = logger or self._log
        for rej in rejections:
            self.metrics.rejected[rej.reason.value] += 1
            logger.rejection(rej)
            dead.append(PendingDeadLetter(rej, payload, at))

    def due(self) -> bool:
        """True when the batch is full or its oldest message waited a flush interval."""
        if len(self._readings) >= self._batch_max:
            return True
        return self._oldest is not None and (
            self._monotonic() - self._oldest >= self._flush_interval_s
        )

    def seconds_until_due(self) -> float:
        """How long the caller may wait for more messages before flushing [s]."""
        if self._oldest is None:
            return self._flush_interval_s
        return max(0.0, self._flush_interval_s - (self._monotonic() - self._oldest))

    def take_batch(self) -> Batch[Token] | None:
        """Seal the pending messages into a batch (decode side); ``None`` if there are none."""
        if not self._tokens:
            return None
        batch = Batch(self._readings, self._tokens, self._dead, self._oldest)
        self._readings, self._tokens, self._dead, self._oldest = [], [], [], None
        return batch

    def make_durable(self, batch: Batch[Token]) -> bool:
        """Write a batch to the store or the spool (durable side); then its tokens may be acked.

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
        if batch.started is not None:
            self.metrics.observe_batch_latency((self._monotonic() - batch.started) * 1000)
        return True

    def flush(self) -> list[Token]:
        """Make the pending messages durable; returns the tokens that may now be acknowledged.

        When that fails (spool full) nothing is released and the messages stay pending.
        """
        batch = self.take_batch()
        if batch is None:
            return []
        if self.make_durable(batch):
            return batch.tokens
        self._readings = batch.readings + self._readings
        self._tokens = batch.tokens + self._tokens
        self._dead = batch.dead + self._dead
        self._oldest = batch.started
        return []

    def _persist(self, batch: Batch[Token]) -> bool:
        """Write the batch to the store, or spool it; False (batch kept) when neither works.

        A batch the store refuses as such is retried reading by reading (bad ones are
        dead-lettered). If the store goes away meanwhile, only the readings not yet written
        are spooled, and only they are kept for the next try, so nothing is counted twice.
        """
        m = self.metrics
        readings = batch.readings
        if len(self._spool) == 0:
            try:
                self._store.write(readings)
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
                m.readings_stored += len(readings)
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
                self._store.write([r])
            except StoreRejected as one_exc:
                self._dead_letter_refused(r, one_exc, dead)
            except StoreUnavailable:
                m.store_failures += 1
                return readings[i:]
            else:
                m.readings_stored += 1
        return []

    def _dead_letter_refused(self, reading: Reading, exc: StoreRejected,
                             dead: list[PendingDeadLetter]) -> None:
        rej = Rejection(Reason.STORE_REJECTED, str(exc)[:400], "", reading.device_id,
                        reading.quantity)
        self._reject([rej], b"", dead, self._store_log)
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
            try:
                self._store.write(readings)
            except StoreUnavailable:
                break
            except StoreRejected as exc:
                dead: list[PendingDeadLetter] = []
                left = self._write_one_by_one(readings, exc, dead)
                self._write_dead_letters(dead)
                if left:  # the store went away halfway: keep only the rest, in place
                    self._spool.replace(path, left)
                    break
            else:
                m.readings_stored += len(readings)
            self._spool.remove(path)
            m.batches_replayed += 1
            moved += 1
        self._observe_spool()
        if moved:
            log.info("replayed %d spooled batches (%d bytes left)", moved, m.spool_bytes)
        return moved
