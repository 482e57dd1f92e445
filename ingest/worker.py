"""The ingest worker: one thread draining the MQTT queue through the pipeline, acking what is durable."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ingest.mqtt_source import AckToken, Message, MqttSource
from ingest.pipeline import IngestPipeline

log = logging.getLogger(__name__)

_DRAIN_MAX = 2000


class IngestWorker:
    """Runs the pipeline on its own thread; ``stop`` flushes and acks before disconnecting."""

    def __init__(
        self,
        source: MqttSource,
        inbox: queue.SimpleQueue[Message],
        pipeline: IngestPipeline[AckToken],
        *,
        housekeeping: Callable[[], None] | None = None,
        housekeeping_interval_s: float = 1.0,
        retry_interval_s: float = 1.0,
    ) -> None:
        self._source = source
        self._inbox = inbox
        self._pipeline = pipeline
        self._housekeeping = housekeeping
        self._housekeeping_interval_s = housekeeping_interval_s
        self._retry_interval_s = retry_interval_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

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

    def start(self) -> None:
        """Start the worker thread, then connect to the broker."""
        self._thread = threading.Thread(target=self._run, name="ingest-worker", daemon=True)
        self._thread.start()
        self._source.start()

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
                  and self._pipeline.pending_messages == 0):
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout_s: float = 30.0) -> None:
        """Flush everything received so far, acknowledge it, then disconnect."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._source.stop()

    def _run(self) -> None:
        last_housekeeping = 0.0
        blocked_until = 0.0
        while True:
            stopping = self._stopping.is_set()
            if time.monotonic() >= blocked_until:  # while blocked, the broker holds the rest
                self._drain(block=not stopping)
            now = time.monotonic()
            flush_now = (stopping or self._pipeline.due()) and now >= blocked_until
            if flush_now and not self._flush():
                blocked_until = now + self._retry_interval_s
            if now - last_housekeeping >= self._housekeeping_interval_s:
                last_housekeeping = now
                self._housekeep()
            if stopping and self._inbox.empty() and self._pipeline.pending_messages == 0:
                self._housekeep()
                return
            if now < blocked_until:
                time.sleep(min(0.05, blocked_until - now))

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

    def _flush(self) -> bool:
        try:
            tokens = self._pipeline.flush()
        except Exception:
            log.exception("flush failed; will retry")
            return False
        if not tokens and self._pipeline.pending_messages:
            return False
        if tokens:
            self._pipeline.metrics.messages_acked += self._source.ack(tokens)
        return True

    def _housekeep(self) -> None:
        try:
            self._pipeline.replay_spool()
            if self._housekeeping is not None:
                self._housekeeping()
        except Exception:
            log.exception("ingest housekeeping failed")
