"""Ingest crash: ``kill -9`` of a real ``farmtel ingest`` process mid-stream.

Messages it had not acknowledged stay with Mosquitto (persistent session, QoS 1) and are
redelivered to the restarted process; idempotent writes store each reading exactly once.
With SQLite, neither database is ever corrupt (``PRAGMA integrity_check``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from devices.mqtt_publisher import ReliablePublisher
from storage.factory import open_store
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry, wait_for
from tests.integration._faults import PROBES, Stream, count_stored, stored
from tests.servers import IngestProcess, ingest_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))


def test_kill_9_mid_stream_then_restart_stores_everything_once(tmp_path, mosquitto_server,
                                                                store_url):
    client_id = f"crash-{tmp_path.name}"
    settings = settings_for(tmp_path, store_url=store_url)
    small_registry(settings, PROBES)
    env = ingest_env(data_dir=settings.data_dir, store_url=store_url,
                     mqtt_port=mosquitto_server.port, client_id=client_id,
                     admin_token=ADMIN_TOKEN, flush_interval_ms="100", batch_max_readings="400")
    ingest = IngestProcess(env, tmp_path, tmp_path / "ingest.log")
    store = open_store(store_url)
    pub = ReliablePublisher("127.0.0.1", mosquitto_server.port, client_id=f"p-{client_id}")
    try:
        ingest.start()
        pub.connect()
        stream = Stream(pub, 4000, rate=800).start()
        total = 2 * stream.count
        wait_for(lambda: count_stored(store) >= total // 4, 30, "a quarter stored")
        ingest.kill()  # kill -9 mid-stream: batches were being received, written and acknowledged
        at_kill = count_stored(store)
        assert at_kill < total
        if store_url.startswith("sqlite"):
            assert integrity(Path(store_url.removeprefix("sqlite:///"))) == "ok"
            assert integrity(tmp_path / "data" / "farmtel.db") == "ok"
        ingest.start()
        stream.join()
        pub.flush(timeout=30)
        wait_for(lambda: count_stored(store) >= total, 45, "everything stored after restart")
        assert stored(store) == sorted(stream.expected)
        assert ingest.stop() == 0
        if store_url.startswith("sqlite"):
            assert integrity(Path(store_url.removeprefix("sqlite:///"))) == "ok"
    finally:
        pub.close(flush_timeout=None)
        ingest.stop()
        store.close()
