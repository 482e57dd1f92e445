"""The shared publisher while the broker is away: a message is never counted as delivered on
``MQTT_ERR_NO_CONN``, it keeps its place in the bounded in-flight window, and a full window
fails the publish instead of growing without bound (the alert notifier relies on this)."""

from __future__ import annotations

import pytest

from devices.mqtt_publisher import FlushTimeout, PublishError, ReliablePublisher
from tests.servers import free_port


def offline_publisher(max_inflight: int) -> ReliablePublisher:
    pub = ReliablePublisher("127.0.0.1", free_port(), max_inflight=max_inflight,
                            publish_timeout=0.2, reconnect_min_s=1, reconnect_max_s=1)
    pub.connect(wait=False)
    return pub


def test_no_conn_is_kept_in_flight_not_delivered() -> None:
    pub = offline_publisher(max_inflight=2)
    try:
        pub.publish("farmtel/alerts/f/s", b"{}")
        assert (pub.published, pub.acked, pub.in_flight) == (1, 0, 1)
        with pytest.raises(FlushTimeout):
            pub.flush(timeout=0.2)
    finally:
        pub.close(flush_timeout=None)


def test_full_window_fails_the_publish() -> None:
    pub = offline_publisher(max_inflight=2)
    try:
        pub.publish("farmtel/alerts/f/s", b"1")
        pub.publish("farmtel/alerts/f/s", b"2")
        with pytest.raises(PublishError):
            pub.publish("farmtel/alerts/f/s", b"3")
        assert pub.in_flight == 2
    finally:
        pub.close(flush_timeout=None)
