"""The ingest worker: a decode thread feeding the pipeline and a writer thread feeding a sink.

One consumer loop for every output (Telegraf's ``mqtt_consumer``: parse, hand off, release on
delivery): ``farmtel ingest`` runs it with the store sink, ``farmtel alerts`` with the alert
sink. Messages are acknowledged only after the sink took their batch.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingest.metrics import IngestMetrics
from ingest.mqtt_source import AckToken, Message, MqttSource
from ingest.pipeline import Batch, IngestPipeline
from ingest.sink import Sink

log = logging.getLogger(__name__)

_DRAIN_MAX = 2000
MAX_BATCHES_IN_FLIGHT = 1  # sealed batches queued for the writer (plus the one it writes)


@dataclass(frozen=True, slots=True)
class QueueDepths:
    """What waits inside a worker: messages received but not yet decoded (``inbox``),
    decoded into the open batch (``batching``), and sealed batches not yet durable."""

    inbox: int
    batching: int
    batches_in_flight: int


class IngestWorker:
    """Decodes on one thread and writes on another; ``stop`` flushes and acks before disconnecting.

    The decode thread drains the MQTT queue through the pipeline and seals batches; the writer
    thread hands each batch to the sink, acknowledges its messages once the sink took it, and
    does the housekeeping (the sink's, e.g. spool replay; then registry refresh, stats). At
    most ``MAX_BATCHES_IN_FLIGHT`` sealed batches wait for the writer; when it is stuck (spool
    full and store down) the decode thread stops too, acknowledgements stop, and the broker
    holds the rest.
    """

    def __init__(
        self,
        source: MqttSource,
        inbox: queue.SimpleQueue[Message],
        pipeline: IngestPipeline[AckToken],
        sink: Sink,
        *,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_interval_s: float = 1.0,
        retry_interval_s: float = 1.0,
        identity: str | None = None,
        on_start: Callable[[], object] | None = None,
        on_stop: Callable[[], object] | None = None,
    ) -> None:
        """``identity`` names the worker (MQTT client id, spool, counters row); ``on_start``
        runs once connected threads are up, ``on_stop`` after the worker stopped."""
        self.identity = identity
        self._on_start = on_start
        self._on_stop = on_stop
        self._source = source
        self._inbox = inbox
        self._pipeline = pipeline
        self._sink = sink
        self._housekeeping = housekeeping
        self._housekeeping_interval_s = housekeeping_interval_s
        self._retry_interval_s = retry_interval_s
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._handoff: queue.Queue[Batch[AckToken] | None] = queue.Queue(MAX_BATCHES_IN_FLIGHT)
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def connected(self) -> bool:
        """Whether the MQTT connection is up."""
        return self._source.connected.is_set()

    @property
    def connections(self) -> int:
        """Accepted MQTT connections so far (more than one after a reconnect)."""
        return self._source.connections

    @property
    def metrics(self) -> dict[str, Any]:
        """Current counters."""
        return self._pipeline.metrics.snapshot()

    @property
    def counters(self) -> IngestMetrics:
        """The live counters (with the batch latency histogram); ``metrics`` is a JSON-ready copy."""
        return self._pipeline.metrics

    @property
    def queue_depths(self) -> QueueDepths:
        """What waits inside the worker now."""
        return QueueDepths(inbox=self._inbox.qsize(), batching=self._pipeline.pending_messages,
                           batches_in_flight=self._in_flight)

    def start(self) -> None:
        """Start the decode and writer threads, then connect to the broker."""
        self._threads = [
            threading.Thread(target=self._decode_loop, name="ingest-decode", daemon=True),
            threading.Thread(target=self._writer_loop, name="ingest-writer", daemon=True),
        ]
        for t in self._threads:
            t.start()
        self._source.start()
        if self._on_start is not None:
            self._on_start()

    def wait_idle(self, quiet_s: float = 0.5, timeout_s: float = 15.0) -> bool:
        """Wait until nothing has arrived for ``quiet_s`` and all is acknowledged [s].

        Used before a clean shutdown so messages the broker still holds for us get stored.
        """
        deadline = time.monotonic() + timeout_s
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            m = self._pipeline.metrics
            if m.messages_received != seen:
                seen, quiet_since = m.messages_received, time.monotonic()
            elif (time.monotonic() - quiet_since >= quiet_s and self._inbox.empty()
                  and self._pipeline.pending_messages == 0 and self._in_flight == 0):
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Flush everything received so far, acknowledge it, disconnect, close the sink.

        If that takes longer than ``timeout_s`` (store down and spool full), the rest is
        abandoned unacknowledged: the broker redelivers it to the next worker. Returns True
        when nothing was abandoned.
        """
        self._stopping.set()
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            log.error("ingest could not make everything durable in %.0f s; leaving the rest "
                      "unacknowledged with the broker", timeout_s)
            self._abandon.set()
            for t in self._threads:
                t.join(5.0)
        self._source.stop()
        self._sink.close()
        if self._on_stop is not None:
            self._on_stop()
        return not self._abandon.is_set()

    # -- decode side --

    def _decode_loop(self) -> None:
        pipeline = self._pipeline
        while not self._abandon.is_set():
            stopping = self._stopping.is_set()
            self._drain(block=not stopping)
            if stopping or pipeline.due():
                batch = pipeline.take_batch()
                if batch is not None:
                    self._hand_off(batch)
            if stopping and self._inbox.empty() and pipeline.pending_messages == 0:
                self._hand_off(None)  # the writer finishes what it has, then exits
                return

    def _hand_off(self, batch: Batch[AckToken] | None) -> None:
        if batch is not None:
            with self._in_flight_lock:
                self._in_flight += 1
        while not self._abandon.is_set():
            try:
                self._handoff.put(batch, timeout=0.2)
                return
            except queue.Full:
                continue

    def _drain(self, *, block: bool) -> None:
        pipeline = self._pipeline
        timeout = pipeline.seconds_until_due() if block else 0.0
        try:
            topic, payload, token = self._inbox.get(timeout=max(timeout, 0.001)) if block \
                else self._inbox.get_nowait()
        except queue.Empty:
            return
        submit = pipeline.submit
        self._safe_submit(submit, topic, payload, token)
        for _ in range(_DRAIN_MAX):
            if pipeline.due():
                return
            try:
                topic, payload, token = self._inbox.get_nowait()
            except queue.Empty:
                return
            self._safe_submit(submit, topic, payload, token)

    @staticmethod
    def _safe_submit(submit: Callable[[str, bytes, AckToken], None], topic: str, payload: bytes,
                     token: AckToken) -> None:
        try:
            submit(topic, payload, token)
        except Exception:  # a bug must not stop ingest; the message stays unacked
            log.exception("failed to decode a message on %s", topic)

    # -- durable side --

    def _writer_loop(self) -> None:
        last_housekeeping = 0.0
        while not self._abandon.is_set():
            try:
                batch = self._handoff.get(timeout=self._housekeeping_interval_s)
            except queue.Empty:
                batch = None
                finished = False
            else:
                finished = batch is None
            if batch is not None:
                self._make_durable_and_ack(batch)
            now = time.monotonic()
            if finished or now - last_housekeeping >= self._housekeeping_interval_s:
                last_housekeeping = now
                self._housekeep()
            if finished:
                return

    def _make_durable_and_ack(self, batch: Batch[AckToken]) -> None:
        """Retry until the sink took the batch (e.g. the store or the spool), then ack it."""
        while not self._abandon.is_set():
            try:
                durable = self._sink.write(batch)
            except Exception:
                log.exception("writing a batch failed; will retry")
                durable = False
            if durable:
                m = self._pipeline.metrics
                if batch.started is not None:
                    m.observe_batch_latency((time.monotonic() - batch.started) * 1000)
                m.messages_acked += self._source.ack(batch.tokens)
                with self._in_flight_lock:
                    self._in_flight -= 1
                return
            time.sleep(self._retry_interval_s)
            self._housekeep()  # the store may be back: replaying the spool makes room

    def _housekeep(self) -> None:
        try:
            self._sink.housekeep()
            if self._housekeeping is not None:
                self._housekeeping()
        except Exception:
            log.exception("ingest housekeeping failed")
