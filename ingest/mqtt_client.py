"""A paho-mqtt ``Client`` that reads the socket in bulk and acknowledges in bulk.

Stock paho 2.x reads every packet with three or more ``recv`` calls (one byte of command, the
length byte by byte, then the body) and handles one packet per ``select`` wake-up; each
``ack`` queues its own 4-byte PUBACK, wakes the network thread through a socket pair and is
sent with its own ``send``. At thousands of messages per second that costs more CPU than the
rest of ingest. This subclass changes only the byte plumbing:

* ``_sock_recv`` serves reads from a buffer refilled by one ``recv`` of up to 256 KiB, and
  ``loop_read`` keeps parsing while buffered bytes remain (the socket is not readable for
  bytes already buffered, so ``select`` alone would stall them);
* ``ack_many`` queues the PUBACKs of a whole batch as one write;
* without topic-filtered callbacks (``message_callback_add``), ``on_message`` is called
  straight away instead of after a walk of the (empty) filter tree for every message.

Protocol handling (packet parsing, sessions, keep-alive, reconnects, TLS) stays paho's. The
overridden methods are private paho API; ``pyproject.toml`` pins paho-mqtt to the 2.x series
they were written against, and ``tests/unit/ingest/test_mqtt_client.py`` checks them.
"""

from __future__ import annotations

import ssl
import struct
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

PUBACK = 0x40
RECV_CHUNK_BYTES = 256 * 1024


class BulkClient(mqtt.Client):
    """paho ``Client`` with buffered reads and batched PUBACKs (see module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rx = bytearray()
        self._rx_pos = 0
        self._rx_sock: object | None = None
        self._has_filtered_callbacks = False

    def message_callback_add(self, sub: str, callback: Any) -> None:
        """As paho's; also turns the ``on_message`` shortcut off."""
        self._has_filtered_callbacks = True
        super().message_callback_add(sub, callback)

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        on_message = self.on_message
        if self._has_filtered_callbacks or on_message is None:
            super()._handle_on_message(message)
            return
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise

    def _sock_recv(self, bufsize: int) -> bytes:
        sock = self._sock
        if sock is None:
            raise ConnectionError("self._sock is None")
        if sock is not self._rx_sock:  # a new connection: bytes of the old one are void
            self._rx_sock, self._rx, self._rx_pos = sock, bytearray(), 0
        available = len(self._rx) - self._rx_pos
        if available == 0:
            try:
                chunk = sock.recv(max(bufsize, RECV_CHUNK_BYTES))
            except ssl.SSLWantReadError as err:
                raise BlockingIOError() from err
            except ssl.SSLWantWriteError as err:
                self._call_socket_register_write()
                raise BlockingIOError() from err
            except AttributeError as err:
                raise ConnectionError() from err
            if not chunk:
                return b""  # paho treats an empty read as the connection lost
            self._rx, self._rx_pos = bytearray(chunk), 0
            available = len(chunk)
        take = min(bufsize, available)
        start = self._rx_pos
        self._rx_pos = start + take
        out = bytes(self._rx[start:start + take])
        if self._rx_pos == len(self._rx):
            self._rx, self._rx_pos = bytearray(), 0
        return out

    def buffered_bytes(self) -> int:
        """Bytes received from the socket and not yet parsed."""
        return len(self._rx) - self._rx_pos

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Parse packets until the socket would block and the buffer is empty.

        This ends: QoS 1 deliveries stop at the broker's in-flight limit until acknowledged,
        and acknowledgements are written only after this returns.
        """
        while True:
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: Iterable[int]) -> int:
        """Queue one write carrying the PUBACK of every QoS 1 ``mid``; returns how many."""
        packed = [struct.pack("!BBH", PUBACK, 2, mid) for mid in mids]
        if not packed:
            return 0
        if self._sock is None:
            return 0
        self._packet_queue(PUBACK, b"".join(packed), 0, 0)
        return len(packed)
