"""Dead letters per message: one row whatever a message carried, attributed to the topic's
device, and the replay area's bounds and replay (metadata on SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest
from sqlalchemy import select

from devices.contract import record
from farmtel.migrate import upgrade_schema
from ingest.deadletters import DeadLetter, DeadLetterReplay, DeadLetterStore
from ingest.decode import DecodePolicy, MessageDecoder
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline
from ingest.rejections import Reason
from ingest.replay import DeadLetterReplayer, ReplayFilter
from ingest.spool import Spool
from ingest.store_sink import SpooledStoreSink
from storage.metadata import make_engine, make_session_factory
from storage.telemetry import Reading
from tests.fakes import MemoryStore
from tests.unit.ingest._support import DEVICES, NOW_MS

TOPIC = "farmtel/farm-a/sm-1/telemetry"
MINUTE_MS = 60_000


@pytest.fixture
def sessions(metadata_url):
    engine = make_engine(metadata_url)
    upgrade_schema(engine)
    return make_session_factory(engine)


def pipeline(decoder: MessageDecoder, clock_ms: int = NOW_MS) -> IngestPipeline[int]:
    return IngestPipeline(decoder, clock_ms=lambda: clock_ms)


def write_dead(pipe: IngestPipeline[int], dead: DeadLetterStore) -> None:
    batch = pipe.take_batch()
    assert batch is not None
    dead.write(batch.dead)


def rows(sessions) -> list[DeadLetter]:
    with sessions() as s:
        return list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def test_a_message_of_many_refused_records_is_one_dead_letter_with_exact_counts(
        decoder, sessions):
    pipe = pipeline(decoder)
    recs = [record(NOW_MS - 1000 + i, i, {"vwc_pct": 500.0, "battery_v": 3.6})
            for i in range(300)]
    recs += [record(NOW_MS - 5000 + i, i, {"no_such": 1.0}) for i in range(20)]
    payload = orjson.dumps({"records": recs})
    pipe.submit(TOPIC, payload, 1)
    write_dead(pipe, DeadLetterStore(sessions, payload_bytes=100))
    assert pipe.metrics.rejected == {"out_of_range": 300, "unknown_quantity": 20}
    assert pipe.metrics.readings_decoded == 300  # the good battery_v of each record
    (row,) = rows(sessions)
    assert (row.reason, row.refused, row.counts) == (
        "out_of_range", 320, {"out_of_range": 300, "unknown_quantity": 20})
    assert row.device_id == "sm-1" and not row.claimed_by_topic and row.farm_id == "farm-a"
    assert row.payload == payload[:100]
    assert "300 out_of_range, 20 unknown_quantity" in row.detail


@pytest.mark.parametrize("payload", [b"\xff\xfe not json", b"{broken", b"[1, 2]",
                                     b'{"records": []}', b'{"records": "x"}'])
def test_a_payload_without_a_device_is_the_topics_devices_refusal(decoder, sessions, payload):
    pipe = pipeline(decoder)
    pipe.submit(TOPIC, payload, 1)
    write_dead(pipe, DeadLetterStore(sessions))
    (row,) = rows(sessions)
    assert (row.device_id, row.farm_id, row.claimed_by_topic) == ("sm-1", "farm-a", True)


def test_the_replay_area_keeps_whole_payloads_within_its_bounds(decoder, sessions):
    ahead = NOW_MS + 60 * MINUTE_MS  # clock_future: replayable
    big = orjson.dumps({"records": [record(ahead + i, i, {"vwc_pct": 20.0})
                                    for i in range(100, 200)]})
    metrics = IngestMetrics()
    dead = DeadLetterStore(sessions, payload_bytes=16, replay_keep=3,
                           replay_max_bytes=len(big) + 100, metrics=metrics)
    pipe = pipeline(decoder)
    payloads = [orjson.dumps(record(ahead + i, i, {"vwc_pct": 20.0})) for i in range(5)]
    assert all(60 < len(p) < 100 for p in payloads)
    for i, payload in enumerate(payloads):
        pipe.submit(TOPIC, payload, i)
    pipe.submit(TOPIC, b"{broken", 9)  # not replayable: no whole payload kept
    write_dead(pipe, dead)

    def kept() -> list[bytes]:
        with sessions() as s:
            return [e.payload for e in s.scalars(select(DeadLetterReplay)
                                                  .order_by(DeadLetterReplay.id))]

    assert kept() == payloads[2:] and metrics.replay_evicted == 2  # by count, oldest first
    pipe.submit(TOPIC, big, 10)
    write_dead(pipe, dead)
    assert kept() == [payloads[4], big] and metrics.replay_evicted == 4  # by bytes too
    assert len(rows(sessions)) == 7  # every dead letter has its row (and a 16-byte excerpt)


def test_replay_after_the_clock_is_fixed_stores_each_reading_once(decoder, sessions):
    dead = DeadLetterStore(sessions)
    behind = pipeline(decoder, NOW_MS - 60 * MINUTE_MS)  # server clock an hour behind
    payloads = [orjson.dumps(record(NOW_MS - i, i, {"vwc_pct": 20.0 + i / 10}))
                for i in range(10)]
    for i, payload in enumerate(payloads):
        behind.submit(TOPIC, payload, i)
    assert behind.metrics.rejected == {"clock_future": 10}
    write_dead(behind, dead)
    store = MemoryStore()
    replayer = DeadLetterReplayer(sessions, store, DEVICES.get, DecodePolicy(),
                                  clock_ms=lambda: NOW_MS)
    assert replayer.area().messages == 10
    other_device = replayer.replay(ReplayFilter(device_id="sm-2"))
    assert (other_device.replayed, other_device.still_refused) == (0, 0)
    outcome = replayer.replay(ReplayFilter(reason=Reason.CLOCK_FUTURE))
    assert (outcome.replayed, outcome.still_refused, outcome.readings_stored) == (10, 0, 10)
    assert sorted(store.rows) == sorted(("sm-1", "vwc_pct", NOW_MS - i) for i in range(10))
    assert replayer.area().messages == 0
    assert all(r.replayed_at is not None for r in rows(sessions))
    again = replayer.replay(ReplayFilter())
    assert (again.replayed, again.still_refused) == (0, 0)


def test_a_message_still_refused_stays_for_a_later_replay(decoder, sessions):
    pipe = pipeline(decoder)
    pipe.submit("farmtel/farm-a/late-1/telemetry",
                orjson.dumps(record(NOW_MS - 1000, 1, {"vwc_pct": 20.0})), 1)
    write_dead(pipe, DeadLetterStore(sessions))
    store = MemoryStore()
    registry = dict(DEVICES)
    replayer = DeadLetterReplayer(sessions, store, registry.get, clock_ms=lambda: NOW_MS)
    first = replayer.replay(ReplayFilter(reason=Reason.UNKNOWN_DEVICE))
    assert (first.replayed, first.still_refused) == (0, 1)
    assert first.still_refused_by_reason == {"unknown_device": 1}
    registry["late-1"] = replace(DEVICES["sm-1"], device_id="late-1")
    second = replayer.replay(ReplayFilter(device_id="late-1"))
    assert (second.replayed, second.still_refused) == (1, 0)
    assert list(store.rows) == [("late-1", "vwc_pct", NOW_MS - 1000)]


def test_readings_the_store_refused_are_replayed_once_it_takes_them(tmp_path, decoder,
                                                                     sessions):
    store = MemoryStore()
    store.reject_quantity = "battery_v"  # e.g. a field-type conflict, fixed later
    pipe = pipeline(decoder)
    sink = SpooledStoreSink(store, Spool(tmp_path / "spool"), DeadLetterStore(sessions),
                            pipe.metrics)
    pipe.submit(TOPIC, orjson.dumps(record(NOW_MS - 1000, 7, {"vwc_pct": 20.0,
                                                              "battery_v": 3.6})), 1)
    assert pipe.flush(sink) == [1]
    assert pipe.metrics.rejected == {"store_rejected": 1}
    replayer = DeadLetterReplayer(sessions, store, DEVICES.get, clock_ms=lambda: NOW_MS)
    assert replayer.replay(ReplayFilter(reason=Reason.STORE_REJECTED)).still_refused == 1
    store.reject_quantity = None
    outcome = replayer.replay(ReplayFilter(reason=Reason.STORE_REJECTED))
    assert (outcome.replayed, outcome.still_refused, outcome.readings_stored) == (1, 0, 1)
    assert sorted(store.rows) == [("sm-1", "battery_v", NOW_MS - 1000),
                                  ("sm-1", "vwc_pct", NOW_MS - 1000)]
    assert store.rows[("sm-1", "battery_v", NOW_MS - 1000)].seq == 7


def test_a_message_no_replay_can_fix_leaves_the_replay_area(decoder, sessions):
    pipe = pipeline(decoder)
    pipe.submit("farmtel/farm-a/late-2/telemetry",
                orjson.dumps(record(NOW_MS - 1000, 1, {"vwc_pct": 20.0})), 1)
    write_dead(pipe, DeadLetterStore(sessions))
    registry = dict(DEVICES)
    registry["late-2"] = replace(DEVICES["sm-1"], device_id="late-2", revoked=True)
    replayer = DeadLetterReplayer(sessions, MemoryStore(), registry.get, clock_ms=lambda: NOW_MS)
    outcome = replayer.replay(ReplayFilter())
    assert (outcome.replayed, outcome.still_refused) == (0, 1)
    assert outcome.still_refused_by_reason == {"revoked_device": 1}
    assert replayer.area().messages == 0


def test_a_replayed_value_that_conflicts_with_the_stored_one_is_refused_for_good(
        decoder, sessions):
    behind = pipeline(decoder, NOW_MS - 60 * MINUTE_MS)
    behind.submit(TOPIC, orjson.dumps(record(NOW_MS, 1, {"vwc_pct": 20.0, "battery_v": 3.6})), 1)
    write_dead(behind, DeadLetterStore(sessions))
    store = MemoryStore()
    store.write([Reading("sm-1", "vwc_pct", 25.0, NOW_MS, 9, 0, "soil_moisture", "field-1",
                         "farm-a", "shuocheng")])  # another value came first
    replayer = DeadLetterReplayer(sessions, store, DEVICES.get, clock_ms=lambda: NOW_MS)
    outcome = replayer.replay(ReplayFilter())
    assert (outcome.replayed, outcome.still_refused, outcome.readings_stored) == (1, 0, 1)
    assert outcome.still_refused_by_reason == {"conflicting_value": 1}
    assert store.rows[("sm-1", "vwc_pct", NOW_MS)].value == 25.0
    assert replayer.area().messages == 0
