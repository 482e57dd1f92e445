"""What Mosquitto does with a shared subscription when a member leaves (README "Replicas").

Three measurements on a real Mosquitto (the Debian package), MQTT 3.1.1 as ingest uses it,
``N`` QoS 1 messages each, two members ``a`` and ``b`` of ``$share/g/t/#``:

1. non-persistent sessions: ``b`` takes its share without acknowledging, then its socket
   drops; how many of ``b``'s unacknowledged messages does ``a`` get (redelivery)?
2. persistent sessions, ``b`` offline: how many of the messages published meanwhile reach
   ``a``, and how many wait in ``b``'s offline session?
3. ``b`` comes back on its persistent session and unsubscribes at once: does it still get the
   messages queued for it (what ingest's adoption of an orphaned session relies on)?

Run: ``python -m bench.shared_sessions`` (prints counts; about 10 s).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.servers import MosquittoServer

N = 400
TOPIC = "t/x"
SHARE = "$share/g/t/#"


class Member:
    """A shared-subscription member that counts what it receives (and acks only if asked)."""

    def __init__(self, port: int, client_id: str, *, clean: bool, ack: bool) -> None:
        self.received: set[bytes] = set()
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean, manual_ack=True)
        self.client.max_inflight_messages_set(1000)
        self.ack = ack
        self.client.on_message = self._on_message
        self.port = port

    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.received.add(bytes(msg.payload))
        if self.ack:
            client.ack(msg.mid, msg.qos)

    def connect(self, subscribe: bool = True, unsubscribe: bool = False) -> None:
        done = threading.Event()

        def on_connect(client: mqtt.Client, *_: object) -> None:
            if subscribe:
                client.subscribe(SHARE, qos=1)
            if unsubscribe:
                client.unsubscribe(SHARE)
            done.set()

        self.client.on_connect = on_connect
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        done.wait(10)

    def drop(self) -> None:
        """Close the socket without DISCONNECT (a crash or a SIGKILL)."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish(port: int, first: int, count: int) -> set[bytes]:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{first}")
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    payloads = {str(i).encode() for i in range(first, first + count)}
    infos = [pub.publish(TOPIC, p, qos=1) for p in sorted(payloads)]
    for info in infos:
        info.wait_for_publish(10)
    pub.disconnect()
    pub.loop_stop()
    return payloads


def settle(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll until ``predicate`` holds, then give late deliveries 1 s more."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    time.sleep(1.0)


def non_persistent(port: int) -> str:
    a = Member(port, "np-a", clean=True, ack=True)
    b = Member(port, "np-b", clean=True, ack=False)
    a.connect()
    b.connect()
    sent = publish(port, 0, N)
    settle(lambda: len(a.received) + len(b.received) >= N)
    held_by_b = set(b.received)
    b.drop()
    settle(lambda: len(held_by_b & a.received) == len(held_by_b))
    redelivered = len(held_by_b & a.received)
    a.close()
    lost = len(sent - a.received)
    return (f"1. non-persistent: b held {len(held_by_b)} unacknowledged, {redelivered} redelivered "
            f"to a after b dropped; {lost}/{N} never acknowledged by anyone")


def persistent(port: int) -> str:
    a = Member(port, "p-a", clean=False, ack=True)
    b = Member(port, "p-b", clean=False, ack=True)
    a.connect()
    b.connect()
    b.close()  # b offline, session kept
    sent = publish(port, 1000, N)
    settle(lambda: len(a.received) >= N)
    to_a = len(sent & a.received)
    b2 = Member(port, "p-b", clean=False, ack=True)
    b2.connect(subscribe=False, unsubscribe=True)
    settle(lambda: len(a.received) + len(b2.received) >= N)
    after_unsub = len(sent & b2.received)
    extra = publish(port, 5000, N)
    settle(lambda: len(extra & a.received) >= N)
    b2.close()
    a.close()
    return (f"2. persistent, b offline: {to_a}/{N} reached a, {N - to_a} queued for b's session\n"
            f"3. b back and unsubscribed at once: got {after_unsub} of its {N - to_a} queued; "
            f"afterwards a got {len(extra & a.received)}/{N} new, b {len(extra & b2.received)}")


def main() -> None:
    with MosquittoServer() as server:
        print(f"mosquitto {server.executable}, {N} QoS 1 messages per case, MQTT 3.1.1")
        print(non_persistent(server.port))
        print(persistent(server.port))


if __name__ == "__main__":
    main()
