"""Operations surface against real servers: a ``farmtel ingest`` process's ``/metrics`` port
counts exactly what was published (received, stored, rejected by reason, duplicates) and
shows its spool; the in-process composition of ``farmtel up`` serves the same metrics on the
API and reports broker and spool readiness; ``/api/v1/health`` follows InfluxDB going away
and coming back."""

from __future__ import annotations

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from analytics.alerts.prometheus import AlertCollector
from devices.contract import record, telemetry_topic
from farmtel.metrics import process_registry
from farmtel.runtime import build_alert_service, build_api
from ingest.prometheus import IngestCollector
from storage.clock import HOUR_MS, now_ms
from storage.factory import open_store
from tests.helpers import (
    ADMIN_TOKEN,
    MetricSamples,
    metric_samples,
    publish_all,
    publisher,
    settings_for,
    small_registry,
    start_ingest,
    wait_for,
)
from tests.servers import InfluxServer, IngestProcess, free_port, ingest_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

STORE = (("sink", "store"),)


def workload() -> tuple[list[tuple[str, bytes]], dict[str, int]]:
    """Good, duplicate and bad messages, and what the counters must say about them."""
    t0 = now_ms() - HOUR_MS
    good = [(telemetry_topic("farm-a", "sm-1"),
             orjson.dumps(record(t0 + i * 1000, i, {"vwc_pct": 20.0 + i / 10, "battery_v": 3.7})))
            for i in range(20)]
    bad = [(telemetry_topic("farm-a", "sm-1"), b"{not json")] * 3 + [
        (telemetry_topic("farm-a", "ghost-1"), orjson.dumps(record(t0, 0, {"vwc_pct": 20.0})))] * 2
    half_bad = [(telemetry_topic("farm-a", "sm-2"),  # vwc_pct out of range, battery_v fine
                 orjson.dumps(record(t0, 0, {"vwc_pct": 150.0, "battery_v": 3.7})))]
    messages = good + bad + half_bad + good[:2]  # the last two are resends
    expected = {"received": len(messages), "stored": 20 * 2 + 1, "duplicates": 2,
                "malformed_json": 3, "unknown_device": 2, "out_of_range": 1}
    return messages, expected


def test_ingest_process_metrics_count_what_was_published(tmp_path, mosquitto_server):
    store_url = f"sqlite:///{tmp_path / 'telemetry.db'}"
    settings = settings_for(tmp_path, store_url=store_url)
    small_registry(settings, {"sm-1": "soil_moisture", "sm-2": "soil_moisture"})
    port = free_port()
    env = ingest_env(data_dir=settings.data_dir, store_url=store_url,
                     mqtt_port=mosquitto_server.port, client_id=f"ops-{tmp_path.name}",
                     admin_token=ADMIN_TOKEN, flush_interval_ms="100", metrics_port=str(port))
    ingest = IngestProcess(env, tmp_path, tmp_path / "ingest.log")
    messages, expected = workload()
    pub = publisher(mosquitto_server.port, f"ops-pub-{tmp_path.name}")

    def scrape() -> MetricSamples:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert response.status_code == 200
        return metric_samples(response.text)

    try:
        ingest.start()
        first = scrape()
        assert first[("farmtel_ingest_broker_connected", STORE)] == 1
        publish_all(pub, messages)
        wait_for(lambda: scrape()[("farmtel_ingest_messages_acked_total", STORE)]
                 == len(messages), 30, "every message acknowledged")
        got = scrape()
        assert got[("farmtel_ingest_messages_received_total", STORE)] == expected["received"]
        assert got[("farmtel_ingest_readings_stored_total", STORE)] == expected["stored"]
        assert got[("farmtel_ingest_duplicates_total", STORE)] == expected["duplicates"]
        for reason in ("malformed_json", "unknown_device", "out_of_range"):
            assert got[("farmtel_ingest_rejected_total", (("reason", reason), *STORE))] \
                == expected[reason], reason
        assert got[("farmtel_ingest_spool_bytes", STORE)] == 0
        assert got[("farmtel_ingest_spool_full", STORE)] == 0
        assert got[("farmtel_ingest_store_failures_total", STORE)] == 0
        batches = got[("farmtel_ingest_batch_latency_seconds_count", STORE)]
        assert batches >= 1
        assert got[("farmtel_ingest_batch_latency_seconds_bucket", (("le", "+Inf"), *STORE))] \
            == batches
        assert got[("farmtel_alerts_queued_items", ())] >= 0  # alerts run inside ingest here
        assert ("farmtel_alert_notifications_total",
                (("channel", "mqtt"), ("outcome", "published"))) in got
        assert ("process_resident_memory_bytes", ()) in got
        for key, value in first.items():  # counters only grow
            if key[0].endswith("_total"):
                assert got[key] >= value, key
        store = open_store(store_url)
        try:
            assert len(store.raw_series("vwc_pct", 0, now_ms(), device_ids=["sm-1"])) == 20
        finally:
            store.close()
    finally:
        pub.disconnect()
        pub.loop_stop()
        ingest.stop()
    with pytest.raises(httpx.TransportError):  # the port is released on a clean stop
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_up_serves_worker_metrics_and_readiness_on_the_api(tmp_path, mosquitto_server):
    settings = settings_for(tmp_path, mqtt_host="127.0.0.1", mqtt_port=mosquitto_server.port,
                            mqtt_client_id=f"ops-up-{tmp_path.name}")
    meta = small_registry(settings, {"sm-1": "soil_moisture", "sm-2": "soil_moisture"})
    store, worker = start_ingest(settings, meta)
    alerts, close_alerts = build_alert_service(settings, meta, store, publish_mqtt=False)
    registry = process_registry()  # as cmd_up wires it: one registry, served on the API too
    registry.register(IngestCollector(worker, "store"))
    registry.register(AlertCollector(alerts))
    pub = publisher(mosquitto_server.port, f"ops-up-pub-{tmp_path.name}")
    try:
        wait_for(lambda: worker.connected, 10, "ingest connected")
        client = TestClient(build_api(meta, store, worker=worker, alerts=alerts,
                                      metrics=registry))
        messages, expected = workload()
        publish_all(pub, messages)
        wait_for(lambda: worker.metrics["messages_acked"] == len(messages), 30, "all acked")
        got = metric_samples(client.get("/metrics").text)
        assert got[("farmtel_ingest_readings_stored_total", STORE)] == expected["stored"]
        assert got[("farmtel_alerts_transitions_total", ())] == 0
        health = client.get("/api/v1/health")
        assert health.status_code == 200
        checks = {c["name"]: c["status"] for c in health.json()["checks"]}
        assert checks == {"metadata": "ok", "store": "ok", "broker": "ok", "spool": "ok"}
    finally:
        pub.disconnect()
        pub.loop_stop()
        worker.stop()
        close_alerts()
        store.close()


def test_health_follows_influxdb_going_away_and_coming_back(tmp_path):
    with InfluxServer() as influx:
        settings = settings_for(tmp_path, store_url=f"influxdb://127.0.0.1:{influx.port}/ops")
        meta = small_registry(settings, {"sm-1": "soil_moisture"})
        store = open_store(settings.resolved_store_url)
        try:
            client = TestClient(build_api(meta, store))
            assert client.get("/api/v1/health").status_code == 200
            influx.stop()
            down = client.get("/api/v1/health")
            assert down.status_code == 503
            checks = {c["name"]: c for c in down.json()["checks"]}
            assert checks["store"]["status"] == "down"
            assert "StoreUnavailable" in checks["store"]["detail"]
            assert checks["metadata"]["status"] == "ok"
            influx.start()
            assert client.get("/api/v1/health").status_code == 200
        finally:
            store.close()
