"""Broker restart: Mosquitto restarts mid-stream; ingest reconnects and resubscribes by itself,
QoS 1 messages queued in its persistent session are delivered, and nothing is lost.

Mosquitto writes its persistence file on autosave and on shutdown (SIGTERM); the test server
autosaves every second. Production needs ``persistence true`` (see README "Reliability").
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devices.directory import DeviceDirectory
from devices.mqtt_publisher import ReliablePublisher
from farmtel.runtime import build_ingest
from storage.factory import open_store
from tests.helpers import settings_for, small_registry, wait_for
from tests.integration._faults import PROBES, Stream, stored
from tests.servers import MosquittoServer

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
