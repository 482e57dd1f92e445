"""Notifiers: webhook delivery against a real local HTTP server, MQTT topic and payload."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from analytics.alerts import Transition, TransitionKind
from analytics.alerts.notify import FanoutNotifier, MqttAlertPublisher, WebhookNotifier
from analytics.alerts.rules import Severity, SubjectType
from tests.unit.analytics.alerts.helpers import T0


def transition(subject_id: str = "dev-1", **kw: object) -> Transition:
    params: dict[str, object] = {
        "kind": TransitionKind.OPENED, "rule_id": "barn.nh3_high",
        "subject_type": SubjectType.DEVICE, "subject_id": subject_id,
        "severity": Severity.WARNING, "ts_ms": T0, "value": 31.0, "threshold": 25.0,
        "title_zh": "畜舍 site-1 氨气浓度高（31 ppm），请通风",
        "title_en": "Barn site-1: ammonia high (31 ppm), ventilate",
        "device_id": subject_id, "site_id": "site-1", "farm_id": "farm-1",
        "county_id": "shuocheng", "alert_id": 7,
    }
    params.update(kw)
    return Transition(**params)  # type: ignore[arg-type]


class Hook:
    """A local webhook receiver: HTTP 500 for the first ``fail_first`` requests, then
    ``status``; each request takes ``delay_s``."""

    def __init__(self, fail_first: int = 0, delay_s: float = 0.0, status: int = 204) -> None:
        self.fail_first = fail_first
        self.status = status
        self.delay_s = delay_s
        self.requests: list[tuple[int, bytes, str]] = []  # (status sent, body, content type)
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(hook.delay_s)
                with hook.lock:
                    status = 500 if len(hook.requests) < hook.fail_first else hook.status
                    hook.requests.append((status, body, self.headers["Content-Type"]))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    with Hook(fail_first=1) as h:
        yield h


def test_webhook_retries_after_500_then_delivers(hook: Hook) -> None:
    notifier = WebhookNotifier([hook.url], backoff_s=0.05, max_attempts=4)
    t = transition()
    started = time.monotonic()
    notifier.notify([t])
    assert time.monotonic() - started < 0.05  # the caller is not blocked
    assert notifier.flush(5.0)
    assert [status for status, _, _ in hook.requests] == [500, 204]
    _, body, ctype = hook.requests[1]
    assert ctype == "application/json"
    payload = json.loads(body)
    assert payload == json.loads(json.dumps(t.to_dict()))
    assert payload["title_zh"].startswith("畜舍") and payload["alert_id"] == 7
    assert payload["ts"] == "2026-05-01T00:00:00.000Z" and payload["kind"] == "opened"
    stats = notifier.stats
    assert (stats.enqueued, stats.delivered, stats.retries, stats.dropped) == (1, 1, 1, 0)
    notifier.close()


def test_webhook_keeps_order_per_url(hook: Hook) -> None:
    notifier = WebhookNotifier([hook.url], backoff_s=0.02)
    notifier.notify([transition(f"d{i}") for i in range(5)])
    assert notifier.flush(5.0)
    delivered = [json.loads(b)["subject_id"] for s, b, _ in hook.requests if s == 204]
    assert delivered == [f"d{i}" for i in range(5)]
    notifier.close()


def free_dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/alerts"  # nothing listens there any more


def test_webhook_gives_up_after_max_attempts_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    notifier = WebhookNotifier([free_dead_url()], backoff_s=0.01, max_attempts=3, timeout_s=1)
    with caplog.at_level(logging.WARNING, logger="analytics.alerts.notify"):
        notifier.notify([transition()])
        assert notifier.flush(5.0)
    stats = notifier.stats
    assert (stats.delivered, stats.retries, stats.dropped_failed) == (0, 2, 1)
    assert "after 3 attempts" in caplog.text
    notifier.close()


def test_webhook_drops_when_queue_is_full_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Hook(delay_s=0.3) as slow:
        notifier = WebhookNotifier([slow.url], queue_size=2)
        with caplog.at_level(logging.WARNING, logger="analytics.alerts.notify"):
            started = time.monotonic()
            for i in range(10):
                notifier.notify([transition(f"d{i}")])
            assert time.monotonic() - started < 0.2  # never blocks, even when full
        stats = notifier.stats
        assert stats.dropped_queue_full >= 6
        assert stats.enqueued + stats.dropped_queue_full == 10
        assert "queue full" in caplog.text
        notifier.close(timeout_s=5.0)
        assert notifier.stats.delivered == stats.enqueued


def test_webhook_non_retryable_status_is_not_retried() -> None:
    with Hook(status=400) as h:
        notifier = WebhookNotifier([h.url], backoff_s=0.01)
        notifier.notify([transition()])
        assert notifier.flush(5.0)
        assert len(h.requests) == 1
        assert (notifier.stats.dropped_failed, notifier.stats.retries) == (1, 0)
        notifier.close()


def test_webhook_after_close_counts_drops() -> None:
    notifier = WebhookNotifier([free_dead_url()])
    notifier.close()
    notifier.notify([transition()])
    assert notifier.stats.dropped_closed == 1


def test_mqtt_publisher_topic_and_payload() -> None:
    sent: list[tuple[str, bytes]] = []
    publisher = MqttAlertPublisher(lambda topic, payload: sent.append((topic, payload)))
    publisher.notify([transition(), transition(site_id="")])
    assert [topic for topic, _ in sent] == ["farmtel/alerts/farm-1/site-1"]
    assert json.loads(sent[0][1].decode())["rule_id"] == "barn.nh3_high"
    assert "畜舍" in sent[0][1].decode()  # UTF-8, not escaped
    assert (publisher.published, publisher.skipped, publisher.failed) == (1, 1, 0)


def test_mqtt_publish_errors_are_counted_not_raised() -> None:
    def broken(topic: str, payload: bytes) -> None:
        raise OSError("broker gone")

    publisher = MqttAlertPublisher(broken)
    fanout = FanoutNotifier([publisher])
    fanout.notify([transition()])
    fanout.close()
    assert publisher.failed == 1
