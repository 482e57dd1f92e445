"""ReliablePublisher against a real Mosquitto: 20,000 QoS 1 messages, none lost."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices.contract import telemetry_topic
from devices.mqtt_publisher import ReliablePublisher, encode_record
from tests.servers import MosquittoServer

N_MESSAGES = 20_000
WINDOW = 500


@pytest.fixture
def mosquitto_port(mosquitto_server: MosquittoServer) -> int:
    """The shared test Mosquitto (tests/servers.py; queues up to 1M messages per client)."""
    return mosquitto_server.port


class _Subscriber:
    """A QoS 1 paho subscriber collecting payloads."""

    def __init__(self, port: int, topic_filter: str) -> None:
        self.payloads: list[bytes] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._filter = topic_filter
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id="farmtel-sim-test-sub",
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "subscription not acknowledged"

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe(self._filter, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.payloads.append(bytes(msg.payload))

    def wait_for(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.payloads) >= n:
                    return
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_publisher_delivers_every_message(mosquitto_port: int) -> None:
    sub = _Subscriber(mosquitto_port, "farmtel/farm-sim/+/telemetry")
    sent: list[bytes] = []
    max_in_flight = 0
    try:
        with ReliablePublisher("127.0.0.1", mosquitto_port, max_inflight=WINDOW) as pub:
            for i in range(N_MESSAGES):
                payload = encode_record(1_751_299_200_000 + i * 1000, i, {"vwc_pct": 20.0 + i % 7})
                pub.publish(telemetry_topic("farm-sim", f"sm-{i % 50}"), payload)
                sent.append(payload)
                max_in_flight = max(max_in_flight, pub.in_flight)
            pub.flush(60.0)
            assert pub.published == N_MESSAGES
            assert pub.acked == N_MESSAGES
            assert pub.in_flight == 0
            assert pub.rejected == 0
        sub.wait_for(N_MESSAGES, 60.0)
    finally:
        sub.close()
    assert max_in_flight <= WINDOW
    assert len(set(sent)) == N_MESSAGES
    assert len(sub.payloads) == N_MESSAGES
    assert set(sub.payloads) == set(sent)
