"""A worker's counters as Prometheus metrics: read at scrape time, named and labelled as the
README's Operations section says, histogram buckets cumulative in seconds."""

from __future__ import annotations

import queue

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from devices.contract import record
from farmtel.migrate import upgrade_schema
from ingest.deadletters import DeadLetterStore
from ingest.metrics import IngestMetrics
from ingest.mqtt_source import MqttSource, MqttSourceConfig
from ingest.pipeline import IngestPipeline
from ingest.prometheus import IngestCollector
from ingest.spool import Spool
from ingest.store_sink import SpooledStoreSink
from ingest.worker import IngestWorker
from storage.metadata import make_engine, make_session_factory
from tests.fakes import MemoryStore
from tests.helpers import MetricSamples, metric_samples
from tests.unit.ingest._support import NOW_MS

TOPIC = "farmtel/farm-a/sm-1/telemetry"


@pytest.fixture
def worker(tmp_path, decoder):
    engine = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    upgrade_schema(engine)
    metrics = IngestMetrics()
    pipe: IngestPipeline = IngestPipeline(decoder, metrics=metrics, clock_ms=lambda: NOW_MS)
    sink = SpooledStoreSink(MemoryStore(), Spool(tmp_path / "spool"),
                            DeadLetterStore(make_session_factory(engine)), metrics)
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    source = MqttSource(MqttSourceConfig("127.0.0.1", 1, "test", ()), inbox)  # never started
    return IngestWorker(source, inbox, pipe, sink), pipe, sink


def scrape(registry: CollectorRegistry) -> MetricSamples:
    return metric_samples(generate_latest(registry).decode())


def test_counters_by_reason_spool_and_latency_histogram(worker):
    w, pipe, sink = worker
    registry = CollectorRegistry()
    registry.register(IngestCollector(w, "store"))
    for seq in range(3):
        payload = orjson.dumps(record(NOW_MS - 60_000 + seq, seq, {"vwc_pct": 21.0, "battery_v": 3.6}))
        pipe.submit(TOPIC, payload, seq)
    pipe.submit(TOPIC, payload, 3)  # a resend of the last one
    pipe.submit(TOPIC, b"{nope", 4)
    pipe.submit(TOPIC, orjson.dumps(record(NOW_MS - 1000, 9, {"vwc_pct": 150.0})), 5)
    before = scrape(registry)
    pipe.flush(sink)
    w.counters.observe_batch_latency(30.0)  # [ms]
    w.counters.observe_batch_latency(2_000.0)
    got = scrape(registry)
    store = (("sink", "store"),)
    assert got[("farmtel_ingest_messages_received_total", store)] == 6
    assert got[("farmtel_ingest_readings_stored_total", store)] == 6
    assert before[("farmtel_ingest_readings_stored_total", store)] == 0  # read at scrape time
    assert got[("farmtel_ingest_duplicates_total", store)] == 1
    assert got[("farmtel_ingest_rejected_total", (("reason", "malformed_json"), *store))] == 1
    assert got[("farmtel_ingest_rejected_total", (("reason", "out_of_range"), *store))] == 1
    assert got[("farmtel_ingest_spool_bytes", store)] == 0
    assert got[("farmtel_ingest_spool_full", store)] == 0
    assert got[("farmtel_ingest_broker_connected", store)] == 0
    assert got[("farmtel_ingest_inbox_messages", store)] == 0
    bucket = "farmtel_ingest_batch_latency_seconds_bucket"
    assert got[(bucket, (("le", "0.025"), *store))] == 0
    assert got[(bucket, (("le", "0.05"), *store))] == 1
    assert got[(bucket, (("le", "2.5"), *store))] == 2
    assert got[(bucket, (("le", "+Inf"), *store))] == 2
    assert got[("farmtel_ingest_batch_latency_seconds_count", store)] == 2
    assert got[("farmtel_ingest_batch_latency_seconds_sum", store)] == pytest.approx(2.03)
    for key, value in before.items():  # counters only grow
        if key[0].endswith("_total"):
            assert got[key] >= value


def test_the_alert_feed_has_no_spool_gauges(worker):
    w, _, _ = worker
    registry = CollectorRegistry()
    registry.register(IngestCollector(w, "alerts"))
    names = {name for name, _ in scrape(registry)}
    assert "farmtel_ingest_messages_received_total" in names
    assert not {n for n in names if n.startswith("farmtel_ingest_spool_")}
