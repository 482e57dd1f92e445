"""Issue 14 item 7 end to end: a production ingest worker on a real Mosquitto, into SQLite and a
real InfluxDB. Record A (seq 1: vwc 20, temp 10) and record B of the same device and instant
(seq 2: vwc 30): the first value stands, B's is a ``conflicting_value`` dead letter carrying
both values, an identical repeat is a duplicate, and the counters say exactly that."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from devices.contract import record, telemetry_topic
from ingest.deadletters import DeadLetter
from storage.clock import now_ms
from storage.telemetry import RangeQuery
from tests.helpers import publish_all, publisher, settings_for, small_registry, start_ingest, wait_for
from tests.servers import MosquittoServer

pytestmark = pytest.mark.integration

TOPIC = telemetry_topic("farm-a", "sm-1")


@pytest.mark.parametrize("batching", ["one-message", "two-batches"])
def test_a_conflicting_record_is_a_dead_letter_and_the_counters_are_exact(
    tmp_path: Path, mosquitto_server: MosquittoServer, store_url: str, batching: str
) -> None:
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
                            store_url=store_url, mqtt_client_id=f"ingest-{tmp_path.name}")
    meta = small_registry(settings, {"sm-1": "soil_moisture"})
    store, worker = start_ingest(settings, meta)
    pub = publisher(mosquitto_server.port, f"pub-{tmp_path.name}")
    try:
        wait_for(lambda: worker.connected, 10, "ingest connected")
        ts = now_ms() - 60_000
        a = record(ts, 1, {"vwc_pct": 20.0, "soil_temp_c": 10.0})
        b = record(ts, 2, {"vwc_pct": 30.0})
        c = record(ts, 3, {"vwc_pct": 20.0})  # identical to A's value: a duplicate
        if batching == "one-message":  # A, B and C in one batch, in this order
            publish_all(pub, [(TOPIC, orjson.dumps({"records": [a, b, c]}))])
            sent = 1
        else:  # A stored first, then B and C in later batches
            publish_all(pub, [(TOPIC, orjson.dumps(a))])
            wait_for(lambda: worker.metrics["readings_stored"] == 2, 30, "A stored")
            publish_all(pub, [(TOPIC, orjson.dumps(b)), (TOPIC, orjson.dumps(c))])
            sent = 3
        wait_for(lambda: worker.metrics["messages_acked"] == sent, 30, "all acked")

        stats = worker.metrics
        assert stats["readings_accepted"] == 3  # 4 decoded, 1 refused by the store
        assert (stats["readings_stored"], stats["duplicate_readings"]) == (2, 1)
        assert stats["rejected"] == {"conflicting_value": 1}
        points = store.query(RangeQuery("vwc_pct", ts, ts + 1, device_id="sm-1"))
        assert [p.value for p in points] == [20.0]
        (latest,) = store.latest(quantity="vwc_pct")
        assert (latest.value, latest.seq) == (20.0, 1)  # never B's value, never B's seq

        def dead_letters() -> list[DeadLetter]:
            with meta.sessions() as s:
                return list(s.scalars(select(DeadLetter)))

        wait_for(lambda: len(dead_letters()) == 1, 10, "the dead letter")
        (row,) = dead_letters()
        assert (row.reason, row.device_id, row.quantity) == ("conflicting_value", "sm-1",
                                                             "vwc_pct")
        assert orjson.loads(row.payload) == [{
            "device_id": "sm-1", "quantity": "vwc_pct", "ts_ms": ts, "seq": 2,
            "stored_value": 20.0, "refused_value": 30.0}]
    finally:
        pub.loop_stop()
        pub.disconnect()
        worker.stop()
        store.close()
