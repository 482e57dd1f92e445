"""The decode side of ingest, free of MQTT: decode -> dedupe -> batch.

``submit`` decodes one message into the pending batch, ``due`` says when to seal it and
``take_batch`` seals it with the acknowledgement tokens and dead letters waiting on it.

Fairness: a large message (``LARGE_MESSAGE_BYTES`` or more, e.g. a 250 KiB flood of refused
records that takes ~10-100 ms to decode) is not decoded when submitted but queued; each
``take_batch`` decodes about ``LARGE_BYTES_PER_BATCH`` of them first. So small messages of
every other device, submitted meanwhile, are decoded and sealed without waiting for a whole
flood to be decoded. A topic with queued messages queues its later ones too (order per topic
is kept). A
:class:`~ingest.sink.Sink` then takes the batch (the store, or the alert engine); only when
it has may the tokens be acknowledged. The ingest worker runs the sink on its own thread, so
decoding the next batch overlaps writing the last one.
"""

from __future__ import annotations

import time
from collections import Counter, deque
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

LARGE_MESSAGE_BYTES = 64 * 1024
"""Messages at least this large are decoded at batch time, a bounded amount per batch [bytes]."""
LARGE_BYTES_PER_BATCH = 128 * 1024
"""Large messages decoded per ``take_batch``, about (at least one) [bytes of payload]."""


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
        self._large: deque[tuple[str, bytes, Token, float]] = deque()  # ..., arrived [s]
        self._large_topics: Counter[str] = Counter()

    @property
    def pending_readings(self) -> int:
        """Readings waiting in the current batch."""
        return len(self._readings)

    @property
    def pending_messages(self) -> int:
        """Messages whose acknowledgement waits on the current batch (or on being decoded)."""
        return len(self._tokens) + len(self._large)

    def submit(self, topic: str, payload: bytes, token: Token) -> None:
        """Decode one message into the pending batch; its token waits for a sink to take it.

        A refused message (or part of one) becomes one dead letter, whatever number of
        records it carried (each refusal counted by reason). A large message (or one on a
        topic with large ones queued) is queued and decoded by a later ``take_batch``.
        """
        if len(payload) >= LARGE_MESSAGE_BYTES or self._large_topics[topic]:
            self._large.append((topic, payload, token, self._monotonic()))
            self._large_topics[topic] += 1
            return
        self.submit_checked(topic, payload, token)

    def _decode_large(self, budget_bytes: float) -> None:
        """Decode queued messages, oldest first: at least one, until ``budget_bytes``."""
        spent = 0
        while self._large and (spent == 0 or spent < budget_bytes):
            topic, payload, token, arrived = self._large.popleft()
            self._large_topics[topic] -= 1
            if not self._large_topics[topic]:
                del self._large_topics[topic]
            self.submit_checked(topic, payload, token)
            self._oldest = arrived if self._oldest is None else min(self._oldest, arrived)
            spent += max(1, len(payload))

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

    def _waiting_since(self) -> float | None:
        """Monotonic arrival of the oldest message not yet sealed [s]."""
        if not self._large:
            return self._oldest
        queued = self._large[0][3]
        return queued if self._oldest is None else min(self._oldest, queued)

    def due(self) -> bool:
        """True when the batch is full or its oldest message waited a flush interval."""
        if len(self._readings) >= self._batch_max:
            return True
        oldest = self._waiting_since()
        return oldest is not None and self._monotonic() - oldest >= self._flush_interval_s

    def seconds_until_due(self) -> float:
        """How long the caller may wait for more messages before flushing [s]."""
        oldest = self._waiting_since()
        if oldest is None:
            return self._flush_interval_s
        return max(0.0, self._flush_interval_s - (self._monotonic() - oldest))

    def take_batch(self) -> Batch[Token] | None:
        """Seal the pending messages into a batch (decode side), after decoding about
        ``LARGE_BYTES_PER_BATCH`` of queued large messages; ``None`` if there are none."""
        if self._large and len(self._readings) < self._batch_max:
            self._decode_large(LARGE_BYTES_PER_BATCH)
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
        self._decode_large(float("inf"))
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
