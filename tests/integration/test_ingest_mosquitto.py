"""Ingest against a real Mosquitto into both real stores: exactly once, rejections by reason."""

from __future__ import annotations

import orjson
import pytest

from devices.contract import gateway_topic, record, telemetry_topic
from storage.clock import now_ms
from storage.telemetry import TelemetryStore
from tests.helpers import publish_all, publisher, settings_for, small_registry, start_ingest, wait_for

pytestmark = pytest.mark.integration

DEVICES = {"sm-1": "soil_moisture", "sm-2": "soil_moisture", "gw-1": "gateway",
           "col-1": "livestock_collar", "col-2": "livestock_collar"}


def all_rows(store: TelemetryStore) -> set[tuple[str, str, int]]:
    from storage.telemetry import RangeQuery

    rows = set()
    for did, q in [("sm-1", "vwc_pct"), ("sm-2", "vwc_pct"), ("col-1", "body_temp_c"),
                   ("col-2", "body_temp_c")]:
        for p in store.query(RangeQuery(quantity=q, start_ms=0, end_ms=now_ms() + 10**7,
                                        device_id=did)):
            rows.add((p.device_id, p.quantity, p.ts_ms))
    return rows


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_published_readings_are_stored_exactly_once(tmp_path, mosquitto_server, store_url,
                                                    protocol):
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
                            store_url=store_url, mqtt_protocol=protocol,
                            mqtt_client_id=f"ingest-{tmp_path.name}")
    meta = small_registry(settings, DEVICES)
    store, worker = start_ingest(settings, meta)
    pub = publisher(mosquitto_server.port, f"pub-{tmp_path.name}")
    try:
        wait_for(lambda: worker.connected, 10, "ingest connected")
        t0 = now_ms() - 600_000
        expected: set[tuple[str, str, int]] = set()
        messages: list[tuple[str, bytes]] = []
        for i in range(400):  # direct soil probes, each record resent once (duplicates)
            did = f"sm-{i % 2 + 1}"
            ts = t0 + i * 1000
            payload = orjson.dumps(record(ts, i, {"vwc_pct": 20 + i % 10, "battery_v": 3.7}))
            messages += [(telemetry_topic("farm-a", did), payload)] * 2
            expected.add((did, "vwc_pct", ts))
        for i in range(100):  # collars behind the gateway, 2 records a message
            recs = [record(t0 + i * 1000, i, {"body_temp_c": 38.6}, device_id="col-1"),
                    record(t0 + i * 1000, i, {"body_temp_c": 38.7}, device_id="col-2")]
            messages.append((gateway_topic("farm-a", "gw-1"), orjson.dumps({"records": recs})))
            expected |= {("col-1", "body_temp_c", t0 + i * 1000),
                         ("col-2", "body_temp_c", t0 + i * 1000)}
        bad = [(telemetry_topic("farm-a", "sm-1"), b"{oops"),
               (telemetry_topic("farm-a", "nobody"), orjson.dumps(record(t0, 1, {"vwc_pct": 1}))),
               (telemetry_topic("farm-a", "sm-1"), orjson.dumps(record(t0, 1, {"vwc_pct": 250}))),
               (telemetry_topic("farm-a", "sm-1"), b"x" * (settings.max_payload_bytes + 1))]
        publish_all(pub, messages + bad)

        total = len(messages) + len(bad)
        wait_for(lambda: worker.metrics["messages_acked"] == total, 60, "all messages acked")
        stats = worker.metrics
        assert stats["rejected"] == {"malformed_json": 1, "unknown_device": 1,
                                     "out_of_range": 1, "oversized_payload": 1}
        assert stats["duplicate_records"] == 400
        assert all_rows(store) == expected
        assert stats["readings_stored"] == len(expected) + 400  # + battery_v of the probes
    finally:
        pub.loop_stop()
        pub.disconnect()
        worker.stop()
        store.close()
