"""BulkClient: paho's protocol handling over buffered reads and batched PUBACKs.

The client is driven over a real socket pair: bytes written on one end are what a broker would
send, so paho's own parser runs on them.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.mqtt_client import BulkClient


def publish_packet(topic: str, payload: bytes, mid: int) -> bytes:
    """A QoS 1 PUBLISH as a broker sends it (MQTT 3.1.1)."""
    t = topic.encode()
    body = struct.pack("!H", len(t)) + t + struct.pack("!H", mid) + payload
    assert len(body) < 128  # one-byte remaining length keeps the helper simple
    return bytes([0x32, len(body)]) + body


@pytest.fixture
def wired() -> Iterator[tuple[BulkClient, socket.socket, list[tuple[str, bytes, int]]]]:
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    client = BulkClient(CallbackAPIVersion.VERSION2, client_id="t", manual_ack=True)
    received: list[tuple[str, bytes, int]] = []
    client.on_message = lambda _c, _u, m: received.append((m.topic, bytes(m.payload), m.mid))
    client._sock = ours  # what connect() would have set
    yield client, broker, received
    client._sock = None
    ours.close()
    broker.close()


def test_private_paho_api_it_relies_on_is_there() -> None:
    for name in ("_sock_recv", "_packet_read", "_packet_queue", "_handle_on_message",
                 "_loop_rc_handle", "_call_socket_register_write", "_in_callback_mutex"):
        assert hasattr(mqtt.Client(CallbackAPIVersion.VERSION2), name), name


def test_one_read_yields_every_buffered_packet(wired) -> None:
    client, broker, received = wired
    packets = [publish_packet(f"farmtel/f/d{i}/telemetry", b'{"n":%d}' % i, i + 1)
               for i in range(50)]
    broker.sendall(b"".join(packets))
    assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS
    assert received == [(f"farmtel/f/d{i}/telemetry", b'{"n":%d}' % i, i + 1)
                        for i in range(50)]
    assert client.buffered_bytes() == 0


def test_a_packet_split_across_reads_is_completed_later(wired) -> None:
    client, broker, received = wired
    packet = publish_packet("farmtel/f/d/telemetry", b"x" * 40, 7)
    broker.sendall(packet[:10])
    assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS
    assert received == []
    broker.sendall(packet[10:] + publish_packet("farmtel/f/d/telemetry", b"y", 8))
    client.loop_read()
    assert [m[2] for m in received] == [7, 8]


def test_bytes_of_an_old_connection_are_dropped(wired) -> None:
    client, broker, received = wired
    packet = publish_packet("farmtel/f/d/telemetry", b"z" * 20, 3)
    broker.sendall(packet + packet[:5])
    client.loop_read()
    assert len(received) == 1 and client.buffered_bytes() == 0  # the 5 bytes: paho holds them
    fresh, fresh_broker = socket.socketpair()
    fresh.setblocking(False)
    try:
        client._sock = fresh
        client._in_packet = {"command": 0, "have_remaining": 0, "remaining_count": [],
                             "remaining_mult": 1, "remaining_length": 0, "packet": bytearray(b""),
                             "to_process": 0, "pos": 0}  # as paho resets it on reconnect
        fresh_broker.sendall(publish_packet("farmtel/f/d/telemetry", b"new", 4))
        client.loop_read()
        assert received[-1] == ("farmtel/f/d/telemetry", b"new", 4)
    finally:
        client._sock = None
        fresh.close()
        fresh_broker.close()


def test_ack_many_sends_the_pubacks_in_one_write(wired, monkeypatch) -> None:
    client, broker, _ = wired
    writes: list[bytes] = []
    send = client._sock_send

    def spy(buf):
        writes.append(bytes(buf))
        return send(buf)

    monkeypatch.setattr(client, "_sock_send", spy)
    assert client.ack_many([1, 2, 65535]) == 3
    assert client.ack_many([]) == 0
    client.loop_write()  # without a network thread paho has written already; a no-op then
    expected = b"\x40\x02\x00\x01" b"\x40\x02\x00\x02" b"\x40\x02\xff\xff"
    assert writes == [expected]
    assert broker.recv(100) == expected


def test_filtered_callbacks_still_get_their_messages(wired) -> None:
    client, broker, received = wired
    filtered: list[str] = []
    client.message_callback_add("farmtel/+/+/gateway", lambda _c, _u, m: filtered.append(m.topic))
    broker.sendall(publish_packet("farmtel/f/g/gateway", b"{}", 1)
                   + publish_packet("farmtel/f/d/telemetry", b"{}", 2))
    client.loop_read()
    assert filtered == ["farmtel/f/g/gateway"]
    assert [m[0] for m in received] == ["farmtel/f/d/telemetry"]
