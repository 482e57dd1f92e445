"""The one QoS 1 MQTT publisher (paho-mqtt 2.x, MQTT 3.1.1): never silently loses a message.

farmtel's publishers (the simulated fleets, the alert notifier) use it, with the device
contract's payload encoders below.

* Every ``publish()`` return code is checked. A message counts as delivered only on the
  broker's PUBACK, never on the return code: for QoS 1, paho keeps a message it accepted until
  then, re-sending it after reconnects, so ``MQTT_ERR_NO_CONN`` means "not sent: kept and
  retried on reconnect" and the message keeps its place in the in-flight window; a message
  paho refused (queue full / message-id clash) is retried and finally raises
  :class:`PublishError`.
* At most ``max_inflight`` messages are unacknowledged: a semaphore is taken before each
  publish and given back in ``on_publish`` (PUBACK), so a slow or absent broker blocks the
  producer (``publish_timeout``) instead of growing memory without bound.
* The network loop thread reconnects automatically with back-off.
* :meth:`ReliablePublisher.flush` waits for every acknowledgement and raises
  :class:`FlushTimeout` if some are still missing; :meth:`ReliablePublisher.close` flushes.

No client or thread exists until :meth:`ReliablePublisher.connect` (or ``with``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import orjson
from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessageInfo
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devices.contract import gateway_topic, record, telemetry_topic

__all__ = [
    "FlushTimeout",
    "PublishError",
    "ReliablePublisher",
    "encode_gateway_batch",
    "encode_record",
]

log = logging.getLogger(__name__)

QOS = 1
_MAX_MID = 65_535  # MQTT packet identifiers are 16 bit
_RETRYABLE = frozenset({MQTTErrorCode.MQTT_ERR_QUEUE_SIZE})
_KEPT_UNTIL_PUBACK = frozenset(  # sent, or (NO_CONN) kept and sent on reconnect
    {MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN})


class PublishError(RuntimeError):
    """A message could not be handed to the MQTT client, or the broker rejected it."""


class FlushTimeout(TimeoutError):
    """Acknowledgements still missing when the flush timeout expired."""

    def __init__(self, missing: int, timeout: float) -> None:
        super().__init__(f"{missing} message(s) still unacknowledged after {timeout:.1f} s")
        self.missing = missing


def encode_record(
    ts_ms: int,
    seq: int,
    readings: Mapping[str, float | Mapping[str, Any]],
    device_id: str | None = None,
) -> bytes:
    """One contract record as UTF-8 JSON bytes (orjson)."""
    return orjson.dumps(record(ts_ms, seq, readings, device_id))


def encode_gateway_batch(records: list[dict[str, Any]]) -> bytes:
    """A gateway / backlog payload ``{"records": [...]}`` as UTF-8 JSON bytes."""
    return orjson.dumps({"records": records})


class ReliablePublisher:
    """QoS 1 publisher with a bounded in-flight window (see module docstring).

    ``max_inflight`` [messages] bounds unacknowledged messages; ``publish_timeout`` [s]
    bounds how long ``publish`` waits for window space (``None``: forever);
    ``connect_timeout`` [s] bounds the first connection; reconnect back-off is
    ``reconnect_min_s``..``reconnect_max_s`` [s].
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        max_inflight: int = 1000,
        keepalive_s: int = 30,
        connect_timeout: float = 10.0,
        publish_timeout: float | None = 60.0,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        retries: int = 5,
    ) -> None:
        if not 1 <= max_inflight <= _MAX_MID // 2:
            raise ValueError(f"max_inflight must be within 1..{_MAX_MID // 2}")
        self.host = host
        self.port = port
        self.client_id = client_id or f"farmtel-sim-{uuid.uuid4().hex[:12]}"
        self.max_inflight = max_inflight
        self._username = username
        self._password = password
        self._keepalive = keepalive_s
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self._reconnect = (reconnect_min_s, reconnect_max_s)
        self._retries = retries
        self._window = threading.BoundedSemaphore(max_inflight)
        self._lock = threading.Lock()
        self._all_acked = threading.Condition(self._lock)
        self._connected = threading.Event()
        self._connect_error: str | None = None
        self._client: Client | None = None
        self._published = 0
        self._acked = 0
        self._rejected = 0
        self._disconnects = 0

    # ------------------------------------------------------------------ counters

    @property
    def published(self) -> int:
        """Messages accepted by the client (queued or sent)."""
        return self._published

    @property
    def acked(self) -> int:
        """Messages acknowledged by the broker (PUBACK)."""
        return self._acked

    @property
    def rejected(self) -> int:
        """Messages the broker answered with a failure reason code (MQTT 5 only)."""
        return self._rejected

    @property
    def in_flight(self) -> int:
        """Messages published but not yet acknowledged."""
        with self._lock:
            return self._published - self._acked - self._rejected

    @property
    def disconnects(self) -> int:
        """Connection losses seen since :meth:`connect`."""
        return self._disconnects

    @property
    def is_connected(self) -> bool:
        """Whether the client is currently connected."""
        return self._connected.is_set()

    # ------------------------------------------------------------------ lifecycle

    def connect(self, *, wait: bool = True) -> None:
        """Create the client, start its network thread and wait for the first CONNACK.

        Raises ``ConnectionError`` if the broker refuses or does not answer in time. With
        ``wait=False`` it returns at once and connects in the background (a long-running
        service that must not fail when the broker starts after it); messages published
        meanwhile wait in the in-flight window.
        """
        if self._client is not None:
            raise RuntimeError("already connected")
        client = Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv311,
            clean_session=True,
        )
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        client.max_inflight_messages_set(self.max_inflight)
        client.max_queued_messages_set(0)  # unbounded in paho; our semaphore bounds it
        client.reconnect_delay_set(*self._reconnect)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._connect_error = None
        client.connect_async(self.host, self.port, keepalive=self._keepalive)
        self._client = client
        client.loop_start()
        if not wait:
            return
        deadline = time.monotonic() + self._connect_timeout
        while not self._connected.wait(0.05):
            if self._connect_error is not None or time.monotonic() > deadline:
                reason = self._connect_error or "timed out"
                self._stop_client()
                raise ConnectionError(f"MQTT connect to {self.host}:{self.port} failed: {reason}")

    def close(self, flush_timeout: float | None = 30.0) -> None:
        """Wait for outstanding acks (raising :class:`FlushTimeout` if they do not come),
        then disconnect and stop the network thread."""
        if self._client is None:
            return
        try:
            if flush_timeout is not None:
                self.flush(flush_timeout)
        finally:
            self._stop_client()

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:  # already failing: do not mask the error, but never hang on a dead broker
            self.close(flush_timeout=None)

    def _stop_client(self) -> None:
        client = self._client
        self._client = None
        if client is None:
            return
        client.disconnect()
        client.loop_stop()
        self._connected.clear()

    # ------------------------------------------------------------------ publishing

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish ``payload`` at QoS 1 on ``topic``; returns the MQTT message id.

        Blocks while ``max_inflight`` messages are unacknowledged. Raises
        :class:`PublishError` (window timeout, refused after retries) or ``ValueError``
        (bad topic/payload); a message for which this returns is delivered or reported.
        """
        client = self._client
        if client is None:
            raise PublishError("not connected: call connect() first")
        if not self._window.acquire(timeout=self._publish_timeout):
            raise PublishError(
                f"in-flight window ({self.max_inflight}) still full after "
                f"{self._publish_timeout} s: broker not acknowledging"
            )
        with self._lock:
            self._published += 1
        attempt = 0
        while True:
            try:
                info: MQTTMessageInfo = client.publish(topic, payload, qos=QOS)
            except BaseException:
                self._unpublish()
                raise
            rc = info.rc
            if rc in _KEPT_UNTIL_PUBACK:
                return info.mid
            if rc in _RETRYABLE and attempt < self._retries:
                attempt += 1
                time.sleep(0.01 * 2**attempt)
                continue
            if rc not in _RETRYABLE:
                # accepted into paho's outgoing store despite a send error: it is re-sent
                # on reconnect and acknowledged like any other
                log.warning("publish of mid %s returned %s; kept for re-send", info.mid, rc)
                return info.mid
            self._unpublish()
            raise PublishError(f"MQTT client refused message on {topic!r}: {rc.name}")

    def publish_record(
        self,
        farm_id: str,
        device_id: str,
        ts_ms: int,
        seq: int,
        readings: Mapping[str, float | Mapping[str, Any]],
    ) -> int:
        """Publish one device record on its telemetry topic."""
        return self.publish(
            telemetry_topic(farm_id, device_id), encode_record(ts_ms, seq, readings)
        )

    def publish_gateway(self, farm_id: str, gateway_id: str, records: list[dict[str, Any]]) -> int:
        """Publish child records (each with ``device_id``) on a gateway topic."""
        return self.publish(gateway_topic(farm_id, gateway_id), encode_gateway_batch(records))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait up to ``timeout`` [s] until every published message is acknowledged.

        Raises :class:`FlushTimeout` if some are still unacknowledged, and
        :class:`PublishError` if the broker rejected any.
        """
        deadline = time.monotonic() + timeout
        with self._all_acked:
            while self._published - self._acked - self._rejected > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FlushTimeout(self._published - self._acked - self._rejected, timeout)
                self._all_acked.wait(remaining)
            if self._rejected:
                raise PublishError(f"broker rejected {self._rejected} message(s)")

    def _unpublish(self) -> None:
        with self._lock:
            self._published -= 1
            self._all_acked.notify_all()
        self._window.release()

    # ------------------------------------------------------------------ callbacks

    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._connect_error = str(reason_code)
            log.error("MQTT connect refused: %s", reason_code)
            return
        self._connected.set()

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected and self._client is not None:
            self._disconnects += 1
            log.warning("MQTT connection lost (%s); reconnecting", reason_code)

    def _on_publish(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        with self._lock:
            if reason_code.is_failure:
                self._rejected += 1
                log.error("broker rejected mid %s: %s", mid, reason_code)
            else:
                self._acked += 1
            self._all_acked.notify_all()
        self._window.release()
