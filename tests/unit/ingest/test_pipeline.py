"""The pipeline releases acknowledgements only for durable data, and never loses a reading."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import select

from devices.contract import record
from farmtel.migrate import upgrade_schema
from ingest.deadletters import DeadLetter, DeadLetterStore, PendingDeadLetter
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline
from ingest.rejections import Reason, Rejection
from ingest.spool import Spool
from ingest.store_sink import SpooledStoreSink
from storage.metadata import make_engine, make_session_factory
from tests.fakes import MemoryStore
from tests.unit.ingest._support import NOW_MS

TOPIC = "farmtel/farm-a/sm-1/telemetry"


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def sessions(metadata_url):
    engine = make_engine(metadata_url)
    upgrade_schema(engine)
    return make_session_factory(engine)


@pytest.fixture
def parts(tmp_path, decoder, sessions):
    store = MemoryStore()
    clock = Clock()
    spool = Spool(tmp_path / "spool", max_bytes=4096)
    metrics = IngestMetrics()
    pipe: IngestPipeline[int] = IngestPipeline(
        decoder, metrics=metrics, batch_max_readings=10, flush_interval_ms=200,
        clock_ms=lambda: NOW_MS, monotonic=clock,
    )
    sink = SpooledStoreSink(store, spool, DeadLetterStore(sessions, keep=5), metrics)
    return pipe, sink, store, spool, clock


def good(seq: int, ts_offset_ms: int = 0) -> bytes:
    return orjson.dumps(record(NOW_MS - 60_000 + ts_offset_ms + seq, seq,
                               {"vwc_pct": 20.0 + seq / 100, "battery_v": 3.6}))


def test_batch_is_due_when_full_or_old(parts):
    pipe, _, _, _, clock = parts
    pipe.submit(TOPIC, good(1), 1)
    assert not pipe.due()
    clock.t += 0.2
    assert pipe.due()
    for i in range(2, 7):
        pipe.submit(TOPIC, good(i), i)
    assert pipe.pending_readings == 12 and pipe.due()


def test_flush_writes_then_releases_tokens(parts):
    pipe, sink, store, _, _ = parts
    for i in range(3):
        pipe.submit(TOPIC, good(i), i)
    assert pipe.flush(sink) == [0, 1, 2]
    assert len(store.rows) == 6
    assert pipe.flush(sink) == []


def test_duplicates_are_dropped_and_counted(parts):
    pipe, sink, store, _, _ = parts
    pipe.submit(TOPIC, good(1), "a")
    pipe.submit(TOPIC, good(1), "b")
    assert pipe.flush(sink) == ["a", "b"]
    assert len(store.rows) == 2
    assert pipe.metrics.duplicate_records == 1
    assert pipe.metrics.readings_accepted == 2


def test_outage_spools_and_replays_in_order(parts):
    pipe, sink, store, spool, _ = parts
    store.available = False
    pipe.submit(TOPIC, good(1), 1)
    assert pipe.flush(sink) == [1]  # durable in the spool, so acknowledged
    assert len(spool) == 1 and store.rows == {}
    store.available = True
    pipe.submit(TOPIC, good(2), 2)
    assert pipe.flush(sink) == [2]  # spool not empty: goes behind the older batch
    assert len(spool) == 2
    assert sink.replay_spool() == 2
    assert len(spool) == 0 and len(store.rows) == 4
    assert pipe.metrics.batches_replayed == 2


def test_full_spool_holds_tokens_back(parts):
    pipe, sink, store, _, _ = parts
    store.available = False
    released = []
    for i in range(40):
        pipe.submit(TOPIC, good(i), i)
        released += pipe.flush(sink)
    assert pipe.metrics.spool_full
    held = pipe.pending_messages
    assert held > 0 and len(released) + held == 40
    store.available = True
    sink.replay_spool()
    released += pipe.flush(sink)
    assert sorted(released) == list(range(40))
    assert len(store.rows) == 80 and not pipe.metrics.spool_full


def test_rejections_become_dead_letters_with_exact_counts(parts, sessions):
    pipe, sink, _, _, _ = parts
    for i in range(8):
        pipe.submit(TOPIC, b"{broken", i)
    pipe.submit("farmtel/farm-a/ghost/telemetry", good(1), 99)
    assert len(pipe.flush(sink)) == 9
    assert pipe.metrics.rejected == {"malformed_json": 8, "unknown_device": 1}
    with sessions() as s:
        rows = list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))
    assert len(rows) == 5  # bounded to keep=5, newest kept
    assert rows[-1].reason == "unknown_device" and rows[0].payload == b"{broken"


def test_store_rejection_isolates_the_bad_reading(parts):
    pipe, sink, store, _, _ = parts
    store.reject_quantity = "battery_v"
    pipe.submit(TOPIC, good(1), 1)
    assert pipe.flush(sink) == [1]
    assert [k[1] for k in store.rows] == ["vwc_pct"]
    assert pipe.metrics.rejected == {"store_rejected": 1}
    assert pipe.metrics.readings_accepted == 1


def test_spool_survives_reopen(tmp_path, decoder):
    spool = Spool(tmp_path / "s")
    from storage.telemetry import Reading

    spool.append([Reading("sm-1", "vwc_pct", 1.5, 10, 1)])
    (tmp_path / "s" / "0000000000000009.tmp").write_bytes(b"torn")
    again = Spool(tmp_path / "s")
    assert len(again) == 1 and again.size_bytes > 0
    item = again.peek()
    assert item is not None
    path, readings = item
    assert readings == [Reading("sm-1", "vwc_pct", 1.5, 10, 1)]
    again.remove(path)
    assert again.size_bytes == 0 and again.peek() is None


def test_listener_sees_each_durable_batch_once(tmp_path, decoder, sessions):
    seen = []
    store = MemoryStore()
    pipe: IngestPipeline[int] = IngestPipeline(decoder, clock_ms=lambda: NOW_MS)
    sink = SpooledStoreSink(store, Spool(tmp_path / "sp"), DeadLetterStore(sessions),
                            pipe.metrics, on_durable=lambda batch: seen.append(list(batch)))
    pipe.submit(TOPIC, good(1), 1)
    pipe.submit(TOPIC, good(1), 2)  # duplicate: not passed on again
    pipe.flush(sink)
    store.available = False
    pipe.submit(TOPIC, good(2), 3)
    pipe.flush(sink)  # spooled is durable too
    assert [len(b) for b in seen] == [2, 2]
    assert {r.seq for r in seen[1]} == {2}


def test_dead_letters_keep_text_postgresql_refuses(sessions):
    """NUL is legal in a JSON string (a gateway record's device_id) but not in PostgreSQL text."""
    claimed = "sm\x00-9"
    DeadLetterStore(sessions).write([PendingDeadLetter(
        Rejection(Reason.UNKNOWN_DEVICE, f"{claimed} is not registered", TOPIC, claimed),
        b'{"records": []}', datetime.now(UTC))])
    with sessions() as s:
        row = s.scalars(select(DeadLetter)).one()
    assert row.device_id == "sm\\x00-9"
    assert row.detail == "sm\\x00-9 is not registered"


def test_large_messages_are_decoded_a_bounded_amount_per_batch(tmp_path):
    """A flood of large messages does not hold back the small ones of other devices; each
    topic keeps its order, and every refusal is counted once the queue is worked off."""
    from devices.contract import telemetry_topic
    from ingest.decode import DecodePolicy, MessageDecoder
    from ingest.pipeline import LARGE_BYTES_PER_BATCH, LARGE_MESSAGE_BYTES
    from tests.unit.ingest._support import DEVICES

    pipe: IngestPipeline[str] = IngestPipeline(MessageDecoder(DEVICES.get, DecodePolicy()),
                                               clock_ms=lambda: NOW_MS, monotonic=Clock())
    flood_topic = telemetry_topic("farm-b", "col-9")
    big = orjson.dumps({"records": [record(NOW_MS - 10_000 + i, i, {"body_temp_c": 99.0})
                                    for i in range(900)]})
    assert LARGE_MESSAGE_BYTES <= len(big) < LARGE_BYTES_PER_BATCH < 2 * len(big)
    for i in range(6):
        pipe.submit(flood_topic, big, f"big-{i}")
    pipe.submit(flood_topic, orjson.dumps(record(NOW_MS - 1_000, 1, {"body_temp_c": 38.5})),
                "after-big")  # same topic: waits its turn
    pipe.submit(TOPIC, good(2), "small")  # another device: decoded at once
    assert pipe.pending_messages == 8 and pipe.pending_readings == 2
    first = pipe.take_batch()
    assert first is not None
    assert first.tokens == ["small", "big-0", "big-1"]
    tokens = list(first.tokens)
    while (batch := pipe.take_batch()) is not None:
        tokens += batch.tokens
    assert tokens[3:] == ["big-2", "big-3", "big-4", "big-5", "after-big"]
    assert pipe.pending_messages == 0
    assert pipe.metrics.rejected == {"out_of_range": 6 * 900}
    assert pipe.metrics.readings_decoded == 3
