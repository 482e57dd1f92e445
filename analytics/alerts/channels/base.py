"""Running a channel in the background: a bounded queue, one worker thread, the shared
:class:`~analytics.alerts.notify.RetryPolicy`, and a :class:`SendResult` per send."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from analytics.alerts.channels.message import AlertMessage, alert_message
from analytics.alerts.notify import (
    Attempt,
    RetryPolicy,
    drain,
    retryable_status,
    serve_queue,
    wait_done,
)
from analytics.alerts.transitions import Transition
from storage.clock import now_ms

__all__ = ["Channel", "ChannelNotifier", "RobotChannel", "SendResult", "post_json"]

log = logging.getLogger(__name__)


class Channel(Protocol):
    """One way to reach people; makes single attempts, the notifier retries."""

    name: str
    """``email``, ``wecom``, ``dingtalk``, ``sms``: the channel of the delivery counts."""

    @property
    def recipient(self) -> str:
        """Where it delivers, for the delivery log (addresses, never secrets)."""
        ...

    def attempt(self, t: Transition) -> Attempt:
        """Send ``t`` once; never raises for delivery problems."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one notification on one channel (a row of a future delivery log).

    ``answer`` is the provider's last answer (e.g. ``250 OK``, ``errcode 0: ok``,
    ``Code OK``, ``HTTP 500``); ``at_ms`` when it ended (UTC epoch ms).
    """

    channel: str
    recipient: str
    alert_id: int | None
    rule_id: str
    delivered: bool
    attempts: int
    answer: str
    at_ms: int


def post_json(client: httpx.Client, url: str, payload: Mapping[str, Any], *,
              retry_codes: frozenset[int] = frozenset()) -> Attempt:
    """POST ``payload`` as UTF-8 JSON to a robot that answers ``{"errcode": n, "errmsg"}``:
    success is errcode 0; ``retry_codes`` (rate limits), network errors, 408/429/5xx retry."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    try:
        r = client.post(url, content=body,
                        headers={"content-type": "application/json; charset=utf-8"})
    except httpx.HTTPError as exc:
        return Attempt(False, True, f"{type(exc).__name__}: {exc}")
    if r.status_code != 200:
        return Attempt(False, retryable_status(r.status_code), f"HTTP {r.status_code}")
    try:
        answer = r.json()
        code = int(answer["errcode"])
    except (ValueError, KeyError, TypeError):
        return Attempt(False, False, f"HTTP 200, not a robot answer: {r.text[:200]}")
    return Attempt(code == 0, code in retry_codes, f"errcode {code}: {answer.get('errmsg', '')}")


class RobotChannel:
    """What the group robots (WeCom, DingTalk) share: an HTTP client, the alert text, and a
    recipient that never shows the robot's key or token."""

    name: str = "robot"

    def __init__(self, *, timeout_s: float, page_base_url: str,
                 unit_of: Callable[[Transition], str],
                 transport: httpx.BaseTransport | None) -> None:
        self._client = httpx.Client(timeout=timeout_s, transport=transport)
        self._page_base_url, self._unit_of = page_base_url, unit_of

    @property
    def recipient(self) -> str:
        """``{name} robot`` (its key or token is a secret)."""
        return f"{self.name} robot"

    def message(self, t: Transition) -> AlertMessage:
        """The alert's text."""
        return alert_message(t, page_base_url=self._page_base_url, unit_of=self._unit_of)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


class ChannelNotifier:
    """A :class:`~analytics.alerts.notify.Notifier` for one channel.

    ``notify`` only enqueues (bounded; a full queue fails the send at once, never blocks);
    one daemon worker sends in order, retrying as ``policy`` says. Every send ends in a
    :class:`SendResult`, passed to ``on_result`` (from the worker thread) and kept in
    :meth:`results`.

    :param channel: what sends.
    :param policy: retries and backoff.
    :param queue_size: pending notifications before failing new ones.
    :param on_result: called with each result (e.g. a delivery log); its errors are logged.
    :param keep_results: results kept for :meth:`results` (the newest).
    """

    def __init__(self, channel: Channel, *, policy: RetryPolicy | None = None,
                 queue_size: int = 1000, on_result: Callable[[SendResult], None] | None = None,
                 keep_results: int = 1000) -> None:
        self.channel = channel
        self._policy = policy or RetryPolicy()
        self._queue: queue.Queue[Transition] = queue.Queue(maxsize=queue_size)
        self._on_result = on_result
        self._keep = keep_results
        self._results: list[SendResult] = []
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._abort = threading.Event()

    def notify(self, transitions: Sequence[Transition]) -> None:
        """Enqueue each transition; never blocks, never raises for delivery problems."""
        for t in transitions:
            if self._closing.is_set():
                self._record(t, Attempt(False, False, "notifier closed"), 0, "dropped_closed")
                continue
            self._start()
            try:
                self._queue.put_nowait(t)
            except queue.Full:
                self._record(t, Attempt(False, False, "queue full"), 0, "dropped_queue_full")

    def send(self, t: Transition) -> SendResult:
        """Send now in the caller's thread, with retries (e.g. a "send me a test" button)."""
        return self._deliver(t)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._worker, daemon=True,
                                                name=f"alert-{self.channel.name}")
                self._thread.start()

    def _worker(self) -> None:
        serve_queue(self._queue, self._closing, self._deliver)

    def _attempt(self, t: Transition) -> Attempt:
        try:
            return self.channel.attempt(t)
        except Exception as exc:  # a channel bug must not kill the worker
            log.exception("%s channel: unexpected error", self.channel.name)
            return Attempt(False, False, f"{type(exc).__name__}: {exc}")

    def _deliver(self, t: Transition) -> SendResult:
        def retried(a: Attempt) -> None:
            log.info("%s %s: %s, retrying", self.channel.name, self.channel.recipient, a.answer)
            with self._lock:
                self._counts[(self.channel.name, "retried")] += 1

        out = self._policy.run(lambda: self._attempt(t), self._abort, on_retry=retried)
        outcome = ("delivered" if out.delivered else
                   "dropped_closed" if out.aborted else "failed")
        return self._record(t, out.last, out.attempts, outcome)

    def _record(self, t: Transition, last: Attempt, attempts: int, outcome: str) -> SendResult:
        result = SendResult(self.channel.name, self.channel.recipient, t.alert_id, t.rule_id,
                            outcome == "delivered", attempts, last.answer, now_ms())
        if not result.delivered:
            log.warning("%s %s: alert %s not delivered (%s) after %d attempt(s)",
                        result.channel, result.recipient, t.alert_id, last.answer, attempts)
        with self._lock:
            self._counts[(self.channel.name, outcome)] += 1
            self._results.append(result)
            del self._results[:-self._keep]
        if self._on_result is not None:
            try:
                self._on_result(result)
            except Exception:
                log.exception("%s: on_result failed", self.channel.name)
        return result

    def results(self) -> list[SendResult]:
        """The kept results, oldest first."""
        with self._lock:
            return list(self._results)

    def deliveries(self) -> dict[tuple[str, str], int]:
        """Counts by (channel, outcome): delivered, failed, dropped_queue_full,
        dropped_closed, and retried (attempts)."""
        with self._lock:
            return dict(self._counts)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued notification has a result; False on timeout."""
        return wait_done([self._queue], timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop accepting; send what is queued within ``timeout_s`` [s], drop the rest."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._abort.set()
        if self._thread is not None:
            self._thread.join(1.0)
        left = drain(self._queue)
        if left:
            with self._lock:
                self._counts[(self.channel.name, "dropped_closed")] += left
        self.channel.close()
