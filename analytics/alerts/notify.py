"""Delivering alert transitions to people's systems: webhooks and MQTT.

Every notifier takes the transitions returned by ``AlertRepository.apply`` (so they carry
``alert_id``) and never blocks or raises into the caller: failures are counted and logged.
Payload: ``Transition.to_dict()`` as UTF-8 JSON. ``deliveries()`` gives each notifier's counts
by (channel, outcome) for ``/metrics``.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar

import httpx

from analytics.alerts.transitions import Transition
from devices.contract import alert_topic

__all__ = [
    "Attempt",
    "DeliveryStats",
    "FanoutNotifier",
    "MqttAlertPublisher",
    "Notifier",
    "RetryOutcome",
    "RetryPolicy",
    "WebhookNotifier",
    "drain",
    "retryable_status",
    "serve_queue",
    "transition_payload",
    "wait_done",
]

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class Notifier(Protocol):
    """Something that tells the outside world about alert transitions, without blocking."""

    def notify(self, transitions: Sequence[Transition]) -> None:
        """Hand over transitions; returns at once and never raises for delivery problems."""
        ...

    def close(self) -> None:
        """Stop, delivering what can be delivered within the notifier's own time limit."""
        ...

    def deliveries(self) -> Mapping[tuple[str, str], int]:
        """Counts so far by (channel, outcome), e.g. ``("webhook", "delivered")``; they only grow."""
        ...


def transition_payload(t: Transition) -> bytes:
    """The JSON body of one transition (UTF-8, Chinese titles unescaped)."""
    return json.dumps(t.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at a delivery: did it succeed, may it be retried, and the provider's answer
    (e.g. ``HTTP 500``, ``errcode 45009: api freq out of limit``)."""

    ok: bool
    retryable: bool
    answer: str


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    """How a delivery ended: the last attempt, how many were made, aborted by ``close``."""

    last: Attempt
    attempts: int
    aborted: bool = False

    @property
    def delivered(self) -> bool:
        """The last attempt succeeded."""
        return self.last.ok


def retryable_status(status: int) -> bool:
    """HTTP statuses worth another try: 408, 429 and 5xx."""
    return status >= 500 or status in (408, 429)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff: ``backoff_s`` · 2^(n−1) [s] after the n-th
    failed attempt, capped at ``backoff_max_s``, ±20 % jitter, at most ``max_attempts`` tries.
    The one retry loop of every notifier and channel (webhooks, e-mail, robots, SMS)."""

    max_attempts: int = 6
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0

    def delay_s(self, attempt: int) -> float:
        """The pause after the ``attempt``-th failure [s], before jitter."""
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1)))

    def run(self, attempt: Callable[[], Attempt], abort: threading.Event,
            on_retry: Callable[[Attempt], None] | None = None) -> RetryOutcome:
        """Call ``attempt`` until it succeeds, answers non-retryable, the attempts are used
        up, or ``abort`` is set (checked before each try and during each pause)."""
        last = Attempt(False, True, "not tried")
        for n in range(1, self.max_attempts + 1):
            if abort.is_set():
                return RetryOutcome(last, n - 1, aborted=True)
            last = attempt()
            if last.ok or not last.retryable or n == self.max_attempts:
                return RetryOutcome(last, n)
            if on_retry is not None:
                on_retry(last)
            if abort.wait(self.delay_s(n) * random.uniform(0.8, 1.2)):
                return RetryOutcome(last, n, aborted=True)
        return RetryOutcome(last, self.max_attempts)


def serve_queue(q: queue.Queue[_T], closing: threading.Event,
                handle: Callable[[_T], object]) -> None:
    """A worker's loop: ``handle`` each item in order (marking it done), until ``closing``
    is set and the queue is empty."""
    while True:
        try:
            item = q.get(timeout=0.05)
        except queue.Empty:
            if closing.is_set():
                return
            continue
        try:
            handle(item)
        finally:
            q.task_done()


def wait_done(queues: Sequence[queue.Queue[Any]], timeout_s: float) -> bool:
    """Wait until no queue has unfinished items; False after ``timeout_s`` [s]."""
    deadline = time.monotonic() + timeout_s
    while any(q.unfinished_tasks for q in queues):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def drain(q: queue.Queue[Any]) -> int:
    """Empty a queue without processing it (marking each item done); how many were left."""
    left = 0
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return left
        q.task_done()
        left += 1


@dataclass(slots=True)
class DeliveryStats:
    """Counters of a :class:`WebhookNotifier` (one per transition and URL)."""

    enqueued: int = 0
    delivered: int = 0
    retries: int = 0
    dropped_queue_full: int = 0  # the URL's queue was full: not even tried
    dropped_failed: int = 0  # all attempts failed, or a non-retryable HTTP status
    dropped_closed: int = 0  # still queued or retrying when the notifier closed

    @property
    def dropped(self) -> int:
        """Every dropped delivery."""
        return self.dropped_queue_full + self.dropped_failed + self.dropped_closed


class _Channel:
    """One URL: its bounded queue and worker thread (a dead URL does not delay the others)."""

    __slots__ = ("queue", "thread", "url")

    def __init__(self, url: str, queue_size: int) -> None:
        self.url = url
        self.queue: queue.Queue[bytes] = queue.Queue(maxsize=queue_size)
        self.thread: threading.Thread | None = None


class WebhookNotifier:
    """POSTs each transition as JSON to every URL, from background threads.

    ``notify`` only enqueues (bounded queue per URL; when full, the delivery is dropped,
    counted and logged). A worker per URL posts in order and retries connection errors,
    timeouts, HTTP 408/429 and 5xx with exponential backoff (``backoff_s`` · 2^(n−1), capped
    at ``backoff_max_s``, ±20 % jitter) up to ``max_attempts``; other 4xx are not retried.
    Threads start on the first ``notify`` (daemon threads: they never hold the process).

    :param urls: webhook URLs.
    :param queue_size: pending deliveries per URL before dropping.
    :param timeout_s: per-request timeout [s].
    :param headers: extra request headers (e.g. a shared-secret header).
    :param transport: an ``httpx`` transport (tests, proxies).
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        queue_size: int = 1000,
        max_attempts: int = 6,
        backoff_s: float = 1.0,
        backoff_max_s: float = 60.0,
        timeout_s: float = 5.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if queue_size < 1 or max_attempts < 1:
            raise ValueError("queue_size and max_attempts must be >= 1")
        self._channels = [_Channel(u, queue_size) for u in dict.fromkeys(urls)]
        self._policy = RetryPolicy(max_attempts, backoff_s, backoff_max_s)
        self._timeout_s = timeout_s
        self._headers = {"content-type": "application/json", **(headers or {})}
        self._transport = transport
        self._lock = threading.Lock()
        self._stats = DeliveryStats()
        self._started = False
        self._closing = threading.Event()  # no new work; workers exit when their queue is empty
        self._abort = threading.Event()  # stop retrying now
        self._last_drop_log = float("-inf")

    @property
    def stats(self) -> DeliveryStats:
        """A snapshot of the counters."""
        with self._lock:
            return DeliveryStats(**asdict(self._stats))

    def deliveries(self) -> dict[tuple[str, str], int]:
        """Webhook outcomes: delivered, failed, dropped_queue_full, dropped_closed, and
        retried (attempts, not notifications)."""
        s = self.stats
        return {("webhook", "delivered"): s.delivered, ("webhook", "failed"): s.dropped_failed,
                ("webhook", "dropped_queue_full"): s.dropped_queue_full,
                ("webhook", "dropped_closed"): s.dropped_closed, ("webhook", "retried"): s.retries}

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self._stats, name, getattr(self._stats, name) + n)

    def _dropped(self, name: str, url: str, reason: str, n: int = 1) -> None:
        """Count a drop; log it (at most one line per 5 s for the flood case, with totals)."""
        self._count(name, n)
        now = time.monotonic()
        if name == "dropped_failed" or now - self._last_drop_log >= 5.0:
            self._last_drop_log = now
            log.warning("webhook %s: dropped %d alert notification(s) (%s); totals %s",
                        url, n, reason, self.stats)

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            for ch in self._channels:
                ch.thread = threading.Thread(target=self._worker, args=(ch,), daemon=True,
                                             name=f"alert-webhook-{ch.url}")
                ch.thread.start()

    def notify(self, transitions: Sequence[Transition]) -> None:
        """Enqueue every transition for every URL; never blocks."""
        if not transitions or not self._channels:
            return
        if self._closing.is_set():
            for ch in self._channels:
                self._dropped("dropped_closed", ch.url, "notifier closed", len(transitions))
            return
        self._start()
        bodies = [transition_payload(t) for t in transitions]
        for ch in self._channels:
            for body in bodies:
                try:
                    ch.queue.put_nowait(body)
                except queue.Full:
                    self._dropped("dropped_queue_full", ch.url, "queue full")
                else:
                    self._count("enqueued")

    def _worker(self, ch: _Channel) -> None:
        with httpx.Client(timeout=self._timeout_s, headers=self._headers,
                          transport=self._transport) as client:
            def deliver(body: bytes) -> None:
                try:
                    self._deliver(client, ch.url, body)
                except Exception:  # never let the worker die
                    log.exception("webhook %s: unexpected error", ch.url)
                    self._count("dropped_failed")

            serve_queue(ch.queue, self._closing, deliver)

    def _deliver(self, client: httpx.Client, url: str, body: bytes) -> None:
        def attempt() -> Attempt:
            try:
                status = client.post(url, content=body).status_code
            except httpx.HTTPError as exc:
                return Attempt(False, True, f"{type(exc).__name__}: {exc}")
            return Attempt(200 <= status < 300, retryable_status(status), f"HTTP {status}")

        outcome = self._policy.run(attempt, self._abort,
                                   on_retry=lambda _a: self._count("retries"))
        if outcome.delivered:
            self._count("delivered")
        elif outcome.aborted:
            self._dropped("dropped_closed", url, "notifier closed")
        elif outcome.last.retryable:
            self._dropped("dropped_failed", url,
                          f"{outcome.last.answer} after {outcome.attempts} attempts")
        else:
            self._dropped("dropped_failed", url, f"{outcome.last.answer}, not retried")

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued delivery is done (delivered or dropped); False on timeout."""
        return wait_done([ch.queue for ch in self._channels], timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop accepting; deliver what is queued within ``timeout_s`` [s], drop the rest."""
        self._closing.set()
        deadline = time.monotonic() + timeout_s
        for ch in self._channels:
            if ch.thread is not None:
                ch.thread.join(max(0.0, deadline - time.monotonic()))
        self._abort.set()
        for ch in self._channels:
            if ch.thread is not None:
                ch.thread.join(1.0)
            left = drain(ch.queue)
            if left:
                self._dropped("dropped_closed", ch.url, "notifier closed", left)


class MqttAlertPublisher:
    """Publishes each transition on ``farmtel/alerts/{farm_id}/{site_id}``.

    :param publish: ``(topic, payload) -> None``, e.g. a paho client's ``publish`` at QoS 1;
        it must not block for long (paho queues internally). Its exceptions are caught,
        counted in ``failed`` and logged.
    """

    def __init__(self, publish: Callable[[str, bytes], None]) -> None:
        self._publish = publish
        self.published = 0
        self.failed = 0
        self.skipped = 0  # transitions without farm or site: no topic to publish on

    def notify(self, transitions: Sequence[Transition]) -> None:
        """Publish every transition (in order)."""
        for t in transitions:
            if not t.farm_id or not t.site_id:
                self.skipped += 1
                log.warning("alert %s/%s has no farm/site: not published on MQTT",
                            t.rule_id, t.subject_id)
                continue
            try:
                self._publish(alert_topic(t.farm_id, t.site_id), transition_payload(t))
            except Exception:
                self.failed += 1
                log.exception("MQTT publish of alert %s/%s failed", t.rule_id, t.subject_id)
            else:
                self.published += 1

    def deliveries(self) -> dict[tuple[str, str], int]:
        """MQTT outcomes: published (handed to the client), failed, skipped (no topic)."""
        return {("mqtt", "published"): self.published, ("mqtt", "failed"): self.failed,
                ("mqtt", "skipped"): self.skipped}

    def close(self) -> None:
        """Nothing to release (the MQTT client belongs to the caller)."""


class FanoutNotifier:
    """Hands every batch to several notifiers; one failing does not stop the others."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self._notifiers = tuple(notifiers)

    def notify(self, transitions: Sequence[Transition]) -> None:
        """Notify each notifier in turn."""
        for n in self._notifiers:
            try:
                n.notify(transitions)
            except Exception:
                log.exception("notifier %r failed", n)

    def deliveries(self) -> dict[tuple[str, str], int]:
        """The counts of every notifier, added up."""
        total: Counter[tuple[str, str]] = Counter()
        for n in self._notifiers:
            total.update(n.deliveries())
        return dict(total)

    def close(self) -> None:
        """Close each notifier."""
        for n in self._notifiers:
            try:
                n.close()
            except Exception:
                log.exception("closing notifier %r failed", n)
