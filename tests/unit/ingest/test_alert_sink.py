"""The alert-engine sink: same decode/dedupe/batch path as ingest; messages are released once
their readings are queued for evaluation, and kept when the alert service refuses them."""

from __future__ import annotations

import orjson

from devices.contract import record
from ingest.alert_sink import AlertSink
from ingest.decode import MessageDecoder
from ingest.pipeline import IngestPipeline
from storage.telemetry import Reading
from tests.unit.ingest._support import NOW_MS

TOPIC = "farmtel/farm-a/sm-1/telemetry"


def good(seq: int) -> bytes:
    return orjson.dumps(record(NOW_MS - 60_000 + seq, seq, {"vwc_pct": 20.0, "battery_v": 3.6}))


def test_readings_are_handed_over_once_then_released(decoder: MessageDecoder) -> None:
    queued: list[list[Reading]] = []
    pipe: IngestPipeline[int] = IngestPipeline(decoder, clock_ms=lambda: NOW_MS)
    sink = AlertSink(queued.append, pipe.metrics)
    pipe.submit(TOPIC, good(1), 1)
    pipe.submit(TOPIC, good(1), 2)  # a duplicate: released, not evaluated twice
    pipe.submit(TOPIC, b"{broken", 3)  # rejected: released, counted
    assert pipe.flush(sink) == [1, 2, 3]
    assert [len(b) for b in queued] == [2]
    m = pipe.metrics.snapshot()
    assert m["readings_stored"] == 2 and m["duplicate_records"] == 1
    assert m["rejected"] == {"malformed_json": 1}


def test_refused_batch_keeps_its_messages(decoder: MessageDecoder) -> None:
    accepting = False
    queued: list[list[Reading]] = []

    def submit(readings: list[Reading]) -> None:
        if not accepting:
            raise RuntimeError("alert queue closed")
        queued.append(readings)

    pipe: IngestPipeline[int] = IngestPipeline(decoder, clock_ms=lambda: NOW_MS)
    sink = AlertSink(submit, pipe.metrics)
    pipe.submit(TOPIC, good(1), 1)
    assert pipe.flush(sink) == []  # at least once: nothing released
    assert pipe.pending_messages == 1 and pipe.metrics.store_failures == 1
    accepting = True
    assert pipe.flush(sink) == [1]
    assert [len(b) for b in queued] == [2]
