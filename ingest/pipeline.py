"""The decode side of ingest, free of MQTT: decode -> dedupe -> batch.

``submit`` decodes one message into the pending batch, ``due`` says when to seal it and
``take_batch`` seals it with the acknowledgement tokens and dead letters waiting on it. A
:class:`~ingest.sink.Sink` then takes the batch (the store, or the alert engine); only when
it has may the tokens be acknowledged. The ingest worker runs the sink on its own thread, so
decoding the next batch overlaps writing the last one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from ingest.deadletters import PendingDeadLetter, RateLimitedLog, dead_letter
from ingest.decode import MessageDecoder
from ingest.dedupe import RecentKeys
from ingest.metrics import IngestMetrics
from ingest.rejections import Rejection
from storage.clock import now_ms
from storage.telemetry import Reading

if TYPE_CHECKING:
    from ingest.sink import Sink

Token = TypeVar("Token")


@dataclass(slots=True)
class Batch(Generic[Token]):
    """Sealed readings and the tokens (and dead letters) that wait on them being durable."""

    readings: list[Reading]
    tokens: list[Token]
    dead: list[PendingDeadLetter] = field(default_factory=list)
    started: float | None = None  # monotonic time of the oldest message [s]


class IngestPipeline(Generic[Token]):
    """Decodes messages, drops recent duplicates and accumulates them into batches."""

    def __init__(
        self,
        decoder: MessageDecoder,
        *,
        metrics: IngestMetrics | None = None,
        batch_max_readings: int = 5000,
        flush_interval_ms: int = 200,
        dedupe_capacity: int = 500_000,
        clock_ms: Callable[[], int] = now_ms,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._decoder = decoder
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
        self._log = RateLimitedLog()

    @property
    def pending_readings(self) -> int:
        """Readings waiting in the current batch."""
        return len(self._readings)

    @property
    def pending_messages(self) -> int:
        """Messages whose acknowledgement waits on the current batch."""
        return len(self._tokens)

    def submit(self, topic: str, payload: bytes, token: Token) -> None:
        """Decode one message into the pending batch; its token waits for a sink to take it.

        A refused message (or part of one) becomes one dead letter, whatever number of
        records it carried (each refusal counted by reason).
        """
        self.submit_checked(topic, payload, token)

    def submit_checked(self, topic: str, payload: bytes, token: Token) -> list[Rejection]:
        """``submit``, returning the message's refusals (empty when all was accepted)."""
        received = self._clock_ms()
        decoded = self._decoder.decode(topic, payload, received)
        m = self.metrics
        m.messages_received += 1
        m.records_received += decoded.records
        if decoded.rejections:
            dead_letter(decoded.rejections, payload, m.rejected, self._log, self._dead,
                        topic=topic)
        if decoded.readings:
            fresh, duplicates = self._seen.fresh(decoded.readings)
            m.duplicate_records += duplicates
            m.readings_decoded += len(fresh)
            self._readings.extend(fresh)
        self._tokens.append(token)
        if self._oldest is None:
            self._oldest = self._monotonic()
        return decoded.rejections

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

    def flush(self, sink: Sink) -> list[Token]:
        """Seal the pending messages and write them to ``sink`` in one call (tests, tools).

        Returns the tokens that may now be acknowledged; when the sink does not take the batch
        (spool full) nothing is released and the messages stay pending.
        """
        batch = self.take_batch()
        if batch is None:
            return []
        if sink.write(batch):
            return batch.tokens
        self._readings = batch.readings + self._readings
        self._tokens = batch.tokens + self._tokens
        self._dead = batch.dead + self._dead
        self._oldest = batch.started
        return []
