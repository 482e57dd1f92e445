"""Broker faults: Mosquitto restarts mid-stream; ingest reconnects and resubscribes by itself,
QoS 1 messages queued in its persistent session are delivered, and nothing is lost. Ingest away
(both brokers: Mosquitto, and the embedded broker as ``farmtel up`` starts it): everything
published meanwhile is stored once it is back; deliveries it never acknowledged come again;
retained replays are not counted again. The queue bounds of both brokers, at the limit.

Mosquitto writes its persistence file on autosave and on shutdown (SIGTERM); the test server
autosaves every second. Production needs ``persistence true`` (see README "Reliability").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from devices.broker.embedded import EmbeddedBroker
from devices.broker.embedded_auth import RegistryBrokerAccess
from devices.broker.mosquitto import ServiceAccount
from devices.broker.prometheus import BrokerCollector
from devices.contract import telemetry_topic
from devices.directory import DeviceDirectory
from devices.mqtt_publisher import ReliablePublisher, encode_record
from farmtel.runtime import Metadata, build_ingest
from ingest.worker import IngestWorker
from storage.clock import now_ms
from storage.factory import open_store
from storage.telemetry import TelemetryStore
from tests.helpers import settings_for, small_registry, wait_for
from tests.integration._faults import FARM, PROBES, Stream, stored
from tests.servers import MosquittoServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.fixture
def mosquitto() -> Iterator[MosquittoServer]:
    """A Mosquitto of this test alone (it gets restarted)."""
    with MosquittoServer() as server:
        yield server


@pytest.fixture
def env(tmp_path, mosquitto):
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto.port,
                            mqtt_client_id=f"restart-{tmp_path.name}")
    meta = small_registry(settings, PROBES)
    store = open_store(settings.resolved_store_url)
    directory = DeviceDirectory(meta.sessions)
    directory.reload()
    workers = []

    def new_worker():
        worker = build_ingest(settings, meta, store, directory)
        worker.start()
        workers.append(worker)
        wait_for(lambda: worker.connected, 15, "ingest connected")
        return worker

    yield new_worker, store
    for w in workers:
        w.stop()
    store.close()


def test_broker_restart_mid_stream_loses_nothing(env, mosquitto, tmp_path):
    new_worker, store = env
    worker = new_worker()
    pub = ReliablePublisher("127.0.0.1", mosquitto.port, client_id=f"p-{tmp_path.name}",
                            reconnect_max_s=2)
    try:
        pub.connect()
        stream = Stream(pub, 3000, rate=600).start()
        stream.wait_published(1000)
        mosquitto.restart()  # SIGTERM (persistence written), same port and data
        stream.join()
        pub.flush(timeout=45)
        assert pub.disconnects >= 1
        wait_for(lambda: worker.connected and worker.connections >= 2, 20,
                 "ingest reconnected by itself")
        wait_for(lambda: len(stored(store)) >= len(stream.expected), 45, "all stored")
        assert stored(store) == sorted(stream.expected)
    finally:
        pub.close(flush_timeout=None)


def test_messages_queued_for_the_persistent_session_survive_a_restart(env, mosquitto, tmp_path):
    new_worker, store = env
    new_worker().stop()  # ingest's session (subscriptions, QoS 1) now exists, offline
    pub = ReliablePublisher("127.0.0.1", mosquitto.port, client_id=f"p-{tmp_path.name}")
    try:
        pub.connect()
        stream = Stream(pub, 500, rate=2000)
        stream.run()
        pub.flush(timeout=30)  # all 500 held by Mosquitto for the offline ingest session
    finally:
        pub.close(flush_timeout=None)
    mosquitto.restart()
    worker = new_worker()
    wait_for(lambda: worker.metrics["messages_acked"] == 500, 30, "queued messages delivered")
    assert stored(store) == sorted(stream.expected)


# --- ingest away, on both brokers (issue 14: 4, 13) ----------------------------------------

INGEST = ServiceAccount("farmtel-ingest", "ingest-secret-1", "ingest")
INGEST_ID = "farmtel-ingest"


@pytest.fixture(params=["mosquitto", "embedded"])
def away(request, tmp_path) -> Iterator[tuple[Callable[[], IngestWorker], TelemetryStore, int]]:
    """(start an ingest worker, the store, the broker port): Mosquitto, or the embedded broker
    wired as ``farmtel up`` wires it (anonymous demo mode; ingest logs in as its service)."""
    meta = small_registry(settings_for(tmp_path), PROBES)
    login: dict[str, Any] = {}
    if request.param == "mosquitto":
        server = MosquittoServer().start()
        port, stop = server.port, server.cleanup
    else:
        access = RegistryBrokerAccess(meta.sessions, [INGEST], allow_anonymous=True,
                                      reserved_client_ids=(INGEST_ID,))
        broker = EmbeddedBroker("127.0.0.1", free_port(), access=access)
        broker.start()
        port, stop = broker.port, broker.stop
        login = {"mqtt_username": INGEST.username, "mqtt_password": INGEST.password}
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=port,
                            mqtt_client_id=INGEST_ID, **login)
    yield from _ingest_env(settings, meta, port, stop)


def _ingest_env(settings: Any, meta: Metadata, port: int, stop: Callable[[], None],
                ) -> Iterator[tuple[Callable[[], IngestWorker], TelemetryStore, int]]:
    store = open_store(settings.resolved_store_url)
    directory = DeviceDirectory(meta.sessions)
    directory.reload()
    workers: list[IngestWorker] = []

    def new_worker() -> IngestWorker:
        worker = build_ingest(settings, meta, store, directory)
        worker.start()
        workers.append(worker)
        wait_for(lambda: worker.connected, 15, "ingest connected")
        return worker

    try:
        yield new_worker, store, port
    finally:
        for w in workers:
            w.stop()
        store.close()
        stop()


def test_everything_published_while_ingest_is_away_is_stored(away, tmp_path):
    new_worker, store, port = away
    new_worker().stop()  # ingest's persistent session now exists, offline
    pub = ReliablePublisher("127.0.0.1", port, client_id=f"p-{tmp_path.name}")
    try:
        pub.connect()
        stream = Stream(pub, 500, rate=2000)
        stream.run()
        pub.flush(timeout=30)  # all 500 acknowledged by the broker
    finally:
        pub.close(flush_timeout=None)
    worker = new_worker()
    wait_for(lambda: worker.metrics["messages_acked"] == 500, 30, "queued messages delivered")
    assert stored(store) == sorted(stream.expected)


class ManualAckSubscriber:
    """A persistent-session subscriber that never acknowledges (paho ``manual_ack``)."""

    def __init__(self, port: int, client_id: str) -> None:
        self.port = port
        self.payloads: list[bytes] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False, manual_ack=True)
        self.client.on_message = lambda _c, _u, m: self.payloads.append(bytes(m.payload))
        self.subacks: set[int] = set()
        self.client.on_subscribe = lambda _c, _u, mid, _codes, _p: self.subacks.add(mid)

    def connect(self) -> None:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        wait_for(self.client.is_connected, 10, "subscriber connected")

    def subscribe(self, topic_filter: str) -> None:
        _, mid = self.client.subscribe(topic_filter, qos=1)
        wait_for(lambda: mid in self.subacks, 10, "SUBACK")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_deliveries_never_acknowledged_come_again_at_the_next_connection(away, tmp_path):
    _, _, port = away
    sub = ManualAckSubscriber(port, f"holder-{tmp_path.name}")
    sub.connect()
    sub.subscribe(f"{FARM}-x/#")
    pub = ReliablePublisher("127.0.0.1", port, client_id=f"p-{tmp_path.name}")
    try:
        pub.connect()
        sent = [b"in flight %d" % i for i in range(50)]
        for p in sent:
            pub.publish(f"{FARM}-x/t", p)
        pub.flush(timeout=10)
        wait_for(lambda: len(sub.payloads) == 50, 10, "first deliveries")
        sub.close()  # none acknowledged
        sub.payloads.clear()
        sub.connect()
        wait_for(lambda: len(sub.payloads) >= 50, 15, "redelivered")
        assert sorted(sub.payloads) == sorted(sent)
    finally:
        pub.close(flush_timeout=None)
        sub.close()


def test_a_retained_message_is_not_counted_again_at_each_ingest_start(away, tmp_path):
    """One retained garbage publish, four ingest starts: counted once (the live delivery), never
    for the replays at the later subscriptions (Mosquitto here admits retained messages; the
    embedded broker never retains device data)."""
    new_worker, _, port = away
    garbage = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"g-{tmp_path.name}")
    garbage.connect("127.0.0.1", port)
    garbage.loop_start()
    counted = []
    try:
        for start in range(4):
            worker = new_worker()
            if start == 0:  # published once, retained, while the first ingest runs
                garbage.publish(telemetry_topic(FARM, "sm-1"), b"not json", qos=1,
                                retain=True).wait_for_publish(10)
            barrier = encode_record(now_ms() - 1000 * (start + 1), start, {"vwc_pct": 20.0})
            garbage.publish(telemetry_topic(FARM, "sm-2"), barrier, qos=1).wait_for_publish(10)
            wait_for(lambda w=worker: w.metrics["readings_stored"] == 1, 15,  # type: ignore[misc]
                     "barrier stored")
            counted.append(worker.metrics["rejected"].get("malformed_json", 0))
            worker.stop()
    finally:
        garbage.loop_stop()
        garbage.disconnect()
    assert counted == [1, 0, 0, 0]


@contextmanager
def bounded_broker(kind: str, max_messages: int, max_bytes: int,
                   tmp_path: Path) -> Iterator[tuple[int, Callable[[str], bool],
                                                     Callable[[], float | None]]]:
    """A broker whose offline queues hold at most ``max_messages`` / ``max_bytes`` payload bytes
    (0 = no bound): its port, whether it still holds a client id connected (Mosquitto handles
    a DISCONNECT before later packets: never), its count of dropped messages (None: Mosquitto
    keeps none).
    The embedded broker is wired as ``farmtel up`` wires it (anonymous demo mode)."""
    if kind == "mosquitto":
        with MosquittoServer(extra_config=f"max_queued_messages {max_messages}\n"
                                          f"max_queued_bytes {max_bytes}\n") as server:
            yield server.port, lambda _: False, lambda: None
        return
    meta = small_registry(settings_for(tmp_path), PROBES)
    access = RegistryBrokerAccess(meta.sessions, [INGEST], allow_anonymous=True,
                                  reserved_client_ids=(INGEST_ID,))
    broker = EmbeddedBroker("127.0.0.1", free_port(), access=access,
                            max_queued_messages=max_messages, max_queued_bytes=max_bytes)
    broker.start()
    try:
        registry = CollectorRegistry()
        registry.register(BrokerCollector(broker))
        yield broker.port, broker.is_connected, lambda: registry.get_sample_value(
            "farmtel_broker_queue_dropped_total")
    finally:
        broker.stop()
        meta.engine.dispose()


@pytest.mark.parametrize("kind", ["mosquitto", "embedded"])
@pytest.mark.parametrize(("max_messages", "max_bytes", "kept"), [
    (12, 0, 12),  # the count bound
    (1000, 1000, 10),  # 1000 B of 100 B payloads
], ids=["12 msgs", "1000 B"])
def test_queue_bounds_drop_the_newest_messages(kind, max_messages, max_bytes, kept, tmp_path):
    """The behaviour README states at the limit: for an offline session the broker queues until
    the first of ``max_queued_messages`` / ``max_queued_bytes`` (payload bytes) is reached and
    then drops each newer message, while still acknowledging it to its publisher: Mosquitto
    silently, the embedded broker counting (``farmtel_broker_queue_dropped_total`` of
    ``/metrics``) and logging."""
    with bounded_broker(kind, max_messages, max_bytes, tmp_path) as (port, connected, dropped):
        holder_id = f"offline-{tmp_path.name}"
        holder = ManualAckSubscriber(port, holder_id)
        holder.connect()
        holder.subscribe("q/#")
        holder.close()
        wait_for(lambda: not connected(holder_id), 10, "the subscriber offline")
        pub = ReliablePublisher("127.0.0.1", port, client_id=f"p-{tmp_path.name}")
        sent = [b"%03d" % i + b"x" * 97 for i in range(40)]
        try:
            pub.connect()
            for p in sent:
                pub.publish("q/t", p)
            pub.flush(timeout=10)  # every message acknowledged to the publisher
        finally:
            pub.close(flush_timeout=None)
        # the embedded broker routes after its PUBACK: every message routed (queued or dropped)
        wait_for(lambda: dropped() in (None, len(sent) - kept), 10, "the newest dropped")
        holder.connect()
        try:
            wait_for(lambda: len(holder.payloads) >= kept, 10, "queued messages")
            barrier = ReliablePublisher("127.0.0.1", port, client_id=f"b-{tmp_path.name}")
            barrier.connect()
            barrier.publish("q/t", b"barrier")
            barrier.close()
            wait_for(lambda: b"barrier" in holder.payloads, 10, "barrier")
            assert holder.payloads == [*sent[:kept], b"barrier"]
        finally:
            holder.close()

