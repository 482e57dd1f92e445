"""Store outage: InfluxDB stops mid-stream for longer than a batch interval, then comes back.

Every reading published before, during and after the outage is stored exactly once; during
the outage batches go to the fsync'd on-disk spool (acknowledged: durable), and when the
bounded spool is full, ingest stops acknowledging and says so (metric, ERROR log line).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from devices.contract import record
from devices.mqtt_publisher import ReliablePublisher
from farmtel.runtime import build_api
from ingest.worker import IngestWorker
from storage.telemetry import StoreUnavailable, TelemetryStore
from tests.fakes import MemoryStore
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry, start_ingest, wait_for
from tests.integration._faults import PROBES, Stream, stored
from tests.servers import InfluxServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.fixture
def influx() -> Iterator[InfluxServer]:
    """An InfluxDB of this test alone (it gets stopped and restarted)."""
    with InfluxServer() as server:
        yield server


def ingest_on_influx(tmp_path, mosquitto_server, influx, **overrides):
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
                            store_url=f"influxdb://127.0.0.1:{influx.port}/faults",
                            mqtt_client_id=f"faults-{tmp_path.name}", **overrides)
    meta = small_registry(settings, PROBES)
    store, worker = start_ingest(settings, meta)
    wait_for(lambda: worker.connected, 10, "ingest connected")
    return settings, meta, store, worker


def spool_files(settings) -> list:
    return sorted((settings.data_dir / "spool" / settings.mqtt_client_id).glob("*.batch"))


def settle(worker: IngestWorker, store: TelemetryStore, published: int) -> None:
    wait_for(lambda: worker.metrics["messages_acked"] == published, 45, "everything acked")
    wait_for(lambda: worker.metrics["spool_batches"] == 0, 30, "spool replayed")


def test_store_outage_spools_then_replays_exactly_once(tmp_path, mosquitto_server, influx):
    settings, _, store, worker = ingest_on_influx(tmp_path, mosquitto_server, influx)
    pub = ReliablePublisher("127.0.0.1", mosquitto_server.port, client_id=f"p-{tmp_path.name}")
    try:
        pub.connect()
        before = Stream(pub, 300, rate=600)
        before.run()
        wait_for(lambda: worker.metrics["readings_stored"] == len(before.expected), 20,
                 "stored before the outage")

        influx.stop()
        during = Stream(pub, 1200, rate=600, first=300, t0_ms=before.t0_ms).start()
        during.join()
        # the outage lasted > 2 s (20 flush intervals); everything received was made
        # durable on disk and acknowledged, although the store is down
        wait_for(lambda: worker.metrics["messages_acked"] == 1500, 20, "acked while down")
        m = worker.metrics
        assert m["store_failures"] >= 1 and m["batches_spooled"] >= 2
        assert m["spool_bytes"] > 0 and len(spool_files(settings)) == m["spool_batches"] > 0
        assert m["readings_stored"] == len(before.expected)  # nothing reached the store

        influx.start()
        after = Stream(pub, 300, rate=600, first=1500, t0_ms=before.t0_ms)
        after.run()
        pub.flush(timeout=30)
        settle(worker, store, 1800)
        expected = sorted(before.expected + during.expected + after.expected)
        assert stored(store) == expected
        assert spool_files(settings) == []
        m = worker.metrics
        assert m["batches_replayed"] == m["batches_spooled"] and m["spool_bytes"] == 0
        assert m["spool_peak_bytes"] > 0 and not m["spool_full"]
    finally:
        pub.close(flush_timeout=None)
        worker.stop()
        store.close()


def test_full_spool_stops_acknowledging_until_the_store_is_back(tmp_path, mosquitto_server,
                                                                influx, caplog):
    caplog.set_level(logging.WARNING, logger="ingest.pipeline")
    _, meta, store, worker = ingest_on_influx(tmp_path, mosquitto_server, influx,
                                                 spool_max_bytes=20_000)
    api = TestClient(build_api(meta, store, worker=worker))
    pub = ReliablePublisher("127.0.0.1", mosquitto_server.port, client_id=f"p-{tmp_path.name}")
    try:
        pub.connect()
        influx.stop()
        stream = Stream(pub, 800, rate=800)
        stream.run()
        pub.flush(timeout=30)  # the broker has every message
        wait_for(lambda: worker.metrics["spool_full"], 20, "spool full")
        m = worker.metrics
        assert m["messages_acked"] < 800  # the broker still holds the rest for ingest
        assert m["spool_bytes"] <= 20_000
        stats = api.get("/api/v1/ingest/stats",
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
        assert stats["spool_full"] is True
        assert any("ALERT spool_full" in r.getMessage() for r in caplog.records)

        influx.start()
        settle(worker, store, 800)
        assert stored(store) == sorted(stream.expected)
        m = worker.metrics
        assert not m["spool_full"] and m["spool_bytes"] == 0
        assert any("spool has room again" in r.getMessage() for r in caplog.records)
    finally:
        pub.close(flush_timeout=None)
        worker.stop()
        store.close()


# --- double faults inside one flush (fakes of our own protocols; no servers needed) ---------


class FlakyStore(MemoryStore):
    """Refuses batches holding ``battery_v``, and goes away after ``writes_left`` writes."""

    def __init__(self, writes_left: int) -> None:
        super().__init__()
        self.reject_quantity = "battery_v"
        self.writes_left = writes_left

    def write(self, readings):
        if self.writes_left <= 0:
            raise StoreUnavailable("gone")
        self.writes_left -= 1
        return super().write(readings)


def flaky_pipeline(tmp_path, store, spool_max_bytes: int = 1 << 20):
    from farmtel.migrate import upgrade_schema
    from ingest.deadletters import DeadLetterStore
    from ingest.decode import MessageDecoder
    from ingest.pipeline import IngestPipeline
    from ingest.spool import Spool
    from ingest.store_sink import SpooledStoreSink
    from storage.metadata import make_engine, make_session_factory
    from tests.unit.ingest._support import DEVICES, NOW_MS

    engine = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    upgrade_schema(engine)
    spool = Spool(tmp_path / "spool", max_bytes=spool_max_bytes)
    pipe: IngestPipeline[int] = IngestPipeline(MessageDecoder(DEVICES.get),
                                               clock_ms=lambda: NOW_MS)
    sink = SpooledStoreSink(store, spool, DeadLetterStore(make_session_factory(engine)),
                            pipe.metrics)
    for i in range(10):
        pipe.submit("farmtel/farm-a/sm-1/telemetry", orjson.dumps(record(
            NOW_MS - 60_000 + i, i, {"vwc_pct": 20.0, "battery_v": 3.6})), i)
    return pipe, sink, spool


def test_store_lost_while_retrying_a_refused_batch_spools_only_the_rest(tmp_path):
    store = FlakyStore(writes_left=6)  # the batch is refused, then 5 single writes succeed
    pipe, sink, spool = flaky_pipeline(tmp_path, store)
    assert pipe.flush(sink) == list(range(10))  # durable: 5 in the store, the rest spooled
    m = pipe.metrics
    assert m.readings_stored == 3 and m.rejected == {"store_rejected": 2}
    assert len(spool) == 1 and m.spool_batches == 1
    store.writes_left = 10**6
    sink.replay_spool()
    assert m.rejected == {"store_rejected": 10}  # each battery_v reading refused exactly once
    assert m.readings_stored == 10 == m.readings_accepted == len(store.rows)
    assert len(spool) == 0


def test_store_and_spool_lost_while_retrying_keeps_only_the_rest_pending(tmp_path):
    store = FlakyStore(writes_left=6)
    pipe, sink, _ = flaky_pipeline(tmp_path, store, spool_max_bytes=10)
    assert pipe.flush(sink) == []  # neither store nor spool: nothing acknowledged
    assert pipe.metrics.spool_full and pipe.pending_readings == 15
    assert pipe.flush(sink) == []  # retrying does not count anything twice
    assert pipe.metrics.rejected == {"store_rejected": 2} and pipe.metrics.readings_stored == 3
    store.writes_left = 10**6
    assert pipe.flush(sink) == list(range(10))
    m = pipe.metrics
    assert m.rejected == {"store_rejected": 10} and m.readings_stored == 10 == len(store.rows)
    assert not m.spool_full
