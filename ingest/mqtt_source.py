"""paho-mqtt subscriber: QoS 1, persistent session, manual acknowledgements.

Callbacks only enqueue; they never block on I/O and never raise. A message with the RETAIN
flag (a retained replay on subscribing, not new input) is acknowledged and dropped. Library
types stop here: the queue carries ``(topic, payload, AckToken)``. After a reconnect the broker
redelivers every unacknowledged message, so tokens of an older connection are never
acknowledged (their packet ids may have been reused).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.mqtt_client import BulkClient

log = logging.getLogger(__name__)


class AckToken(NamedTuple):
    """What it takes to acknowledge one message on the connection that received it."""

    generation: int
    mid: int
    qos: int


@dataclass(frozen=True, slots=True)
class MqttSourceConfig:
    """Connection settings of the ingest subscriber."""

    host: str
    port: int
    client_id: str
    topics: tuple[str, ...]
    username: str | None = None
    password: str | None = None
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    receive_maximum: int = 10_000
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    unsubscribe: bool = False
    """Unsubscribe from ``topics`` on connecting instead (adopting an orphaned session: its
    queued messages still arrive, new ones go to the other members of the shared group)."""


Message = tuple[str, bytes, AckToken]


class MqttSource:
    """Subscribes and feeds a queue; ``ack`` releases messages once they are durable."""

    def __init__(self, config: MqttSourceConfig, out: queue.SimpleQueue[Message]) -> None:
        self._config = config
        self._out = out
        self._generation = 0
        self.retained_ignored = 0
        """Retained replays released without being processed (see ``_on_message``)."""
        self._lock = threading.Lock()
        self.connected = threading.Event()
        v5 = config.protocol == mqtt.MQTTv5
        self._client = BulkClient(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=config.protocol,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if config.username is not None:
            self._client.username_pw_set(config.username, config.password)
        if config.tls_ca_file is not None:
            self._client.tls_set(
                ca_certs=str(config.tls_ca_file),
                certfile=str(config.tls_cert_file) if config.tls_cert_file else None,
                keyfile=str(config.tls_key_file) if config.tls_key_file else None,
            )
        self._client.max_inflight_messages_set(1000)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    @property
    def connections(self) -> int:
        """How many times the broker accepted our connection (reconnects included)."""
        return self._generation

    def start(self) -> None:
        """Connect (asynchronously, retrying) and start the network thread."""
        props: Properties | None = None
        kwargs: dict[str, Any] = {}
        if self._config.protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self._config.session_expiry_s
            props.ReceiveMaximum = self._config.receive_maximum
            kwargs = {"clean_start": False, "properties": props}
        self._client.connect_async(self._config.host, self._config.port,
                                   self._config.keepalive_s, **kwargs)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and join the network thread; unacknowledged messages stay with the broker."""
        self._client.disconnect()
        self._client.loop_stop()

    def ack(self, tokens: list[AckToken]) -> int:
        """Acknowledge messages of the current connection (one write); returns how many."""
        with self._lock:
            generation = self._generation
        return self._client.ack_many(
            [t.mid for t in tokens if t.generation == generation and t.qos == 1])

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any,
                    reason: ReasonCode, _props: Properties | None) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            return
        with self._lock:
            self._generation += 1
        if self._config.unsubscribe:
            client.unsubscribe(list(self._config.topics))
        else:
            client.subscribe([(t, 1) for t in self._config.topics])
        log.info("MQTT connected to %s:%d as %s, %s %s", self._config.host, self._config.port,
                 self._config.client_id,
                 "unsubscribed from" if self._config.unsubscribe else "subscribed to",
                 ", ".join(self._config.topics))
        self.connected.set()

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any,
                       reason: ReasonCode, _props: Properties | None) -> None:
        self.connected.clear()
        log.warning("MQTT disconnected: %s (reconnecting)", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.retain:
            # RETAIN 1 only marks a replay on (re)subscribing (MQTT 3.1.1 §3.3.1.3; live and
            # queued messages arrive with 0): its data was input when first published, so it
            # is released at once and neither decoded nor counted.
            self.retained_ignored += 1
            if msg.qos == 1:
                self._client.ack_many([msg.mid])
            return
        self._out.put((msg.topic, bytes(msg.payload), AckToken(self._generation, msg.mid, msg.qos)))
