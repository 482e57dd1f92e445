"""``farmtel alerts``: streaming alert rules as their own MQTT consumer, apart from ingest.

Ingest workers scale out on a shared subscription that deals messages round-robin, so one
device's readings land on different workers, while streaming rules (durations, rates, stuck
sensors, baselines) need every reading of a device in one engine. This feed subscribes on its
own (its own session, or its own shared group on a broker that routes by topic hash, such as
EMQX ``hash_topic``), decodes with the same validation as ingest and hands the accepted
readings to the alert service; ingest then only stores (``FARMTEL_INGEST_ALERTS=false``).

Delivery into the engine is at least once: messages are acknowledged once their readings are
queued for evaluation. Rejections are counted here but not dead-lettered (ingest does that).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.decode import MessageDecoder
from ingest.dedupe import RecentKeys
from ingest.mqtt_source import AckToken, Message, MqttSource
from storage.telemetry import Reading

log = logging.getLogger(__name__)


@dataclass(slots=True)
class AlertFeedMetrics:
    """Counters of the feed (one writer: its thread)."""

    messages: int = 0
    readings: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    acked: int = 0
    errors: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


class AlertFeed:
    """Decodes telemetry from ``source`` and passes accepted readings to ``submit`` in batches.

    :param submit: the alert service's ``submit_readings`` (must only enqueue).
    :param batch_max_readings: readings per hand-over.
    :param flush_interval_s: longest a reading waits before it is handed over [s].
    :param housekeeping: called about every ``housekeeping_interval_s`` [s] (registry refresh).
    """

    def __init__(
        self,
        source: MqttSource,
        inbox: queue.SimpleQueue[Message],
        decoder: MessageDecoder,
        submit: Callable[[list[Reading]], None],
        *,
        dedupe_capacity: int = 500_000,
        batch_max_readings: int = 5000,
        flush_interval_s: float = 0.2,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_interval_s: float = 1.0,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._source = source
        self._inbox = inbox
        self._decoder = decoder
        self._submit = submit
        self._seen = RecentKeys(dedupe_capacity)
        self._batch_max = batch_max_readings
        self._flush_interval_s = flush_interval_s
        self._clock_ms = clock_ms
        self._housekeeping = housekeeping
        self._housekeeping_interval_s = housekeeping_interval_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._readings: list[Reading] = []
        self._tokens: list[AckToken] = []
        self.metrics = AlertFeedMetrics()

    @property
    def connected(self) -> bool:
        """Whether the MQTT connection is up."""
        return self._source.connected.is_set()

    def start(self) -> None:
        """Start the feed thread, then connect."""
        self._thread = threading.Thread(target=self._run, name="alert-feed", daemon=True)
        self._thread.start()
        self._source.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Hand over what was received, acknowledge it, disconnect."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._source.stop()

    def _run(self) -> None:
        oldest: float | None = None
        last_housekeeping = time.monotonic()
        while True:
            stopping = self._stopping.is_set()
            if (self._housekeeping is not None
                    and time.monotonic() - last_housekeeping >= self._housekeeping_interval_s):
                last_housekeeping = time.monotonic()
                try:
                    self._housekeeping()
                except Exception:
                    log.exception("alert feed housekeeping failed")
            wait = self._flush_interval_s if oldest is None else max(
                0.0, self._flush_interval_s - (time.monotonic() - oldest))
            try:
                message = self._inbox.get(timeout=max(wait, 0.001)) if not stopping \
                    else self._inbox.get_nowait()
            except queue.Empty:
                message = None
            if message is not None:
                if oldest is None:
                    oldest = time.monotonic()
                self._take(*message)
            due = oldest is not None and (
                len(self._readings) >= self._batch_max or stopping
                or time.monotonic() - oldest >= self._flush_interval_s)
            if due:
                self._hand_over()
                oldest = None
            if stopping and message is None:
                return

    def _take(self, topic: str, payload: bytes, token: AckToken) -> None:
        m = self.metrics
        m.messages += 1
        self._tokens.append(token)
        try:
            decoded = self._decoder.decode(topic, payload, self._clock_ms())
        except Exception:  # a decoder bug must not stop alerting; the message is acked
            m.errors += 1
            log.exception("alert feed could not decode a message on %s", topic)
            return
        for rej in decoded.rejections:
            m.rejected += 1
            m.by_reason[rej.reason.value] = m.by_reason.get(rej.reason.value, 0) + 1
        fresh, duplicates = self._seen.fresh(decoded.readings)
        m.duplicates += duplicates
        self._readings += fresh

    def _hand_over(self) -> None:
        m = self.metrics
        if self._readings:
            try:
                self._submit(self._readings)
            except Exception:  # keep the tokens: the broker redelivers after a restart
                m.errors += 1
                log.exception("alert service refused %d readings", len(self._readings))
                return
            m.readings += len(self._readings)
            m.batches += 1
        m.acked += self._source.ack(self._tokens)
        self._readings, self._tokens = [], []
