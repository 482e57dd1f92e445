"""Property-based tests of the payload decoder and the pipeline (hypothesis).

Whatever arrives (arbitrary bytes, deep or huge JSON, huge numbers, NaN/Inf, wrong types,
invalid UTF-8, 1 MB payloads) is either accepted correctly or dead-lettered with a reason;
nothing raises; the pipeline releases every token and its counters add up.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.catalogue import DEVICE_TYPES, QUANTITIES
from devices.contract import format_ts
from farmtel.migrate import upgrade_schema
from ingest.deadletters import DeadLetterStore
from ingest.decode import Decoded, DecodePolicy, MessageDecoder
from ingest.pipeline import IngestPipeline
from ingest.rejections import Reason
from ingest.spool import Spool
from ingest.store_sink import SpooledStoreSink
from storage.clock import DAY_MS
from storage.metadata import make_engine, make_session_factory
from storage.telemetry import Quality
from tests.fakes import MemoryStore
from tests.unit.ingest._support import DEVICES, NOW_MS

TOPICS = ["farmtel/farm-a/sm-1/telemetry", "farmtel/farm-a/gw-1/gateway",
          "farmtel/farm-b/col-9/telemetry", "farmtel/farm-a/old-1/telemetry",
          "farmtel/farm-a/nobody/telemetry", "farmtel/farm-z/sm-1/telemetry", "not/ours",
          "farmtel/farm-a/sm-1/gateway"]
SM_QUANTITIES = sorted(DEVICE_TYPES["soil_moisture"].quantities)
POLICY = DecodePolicy(max_payload_bytes=2 * 1024 * 1024)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(st.text(max_size=12), children, max_size=5)),
    max_leaves=25,
)


def decoder() -> MessageDecoder:
    return MessageDecoder(DEVICES.get, POLICY)


def check_outcome(out: Decoded) -> None:
    """The decoder's contract for any input."""
    assert out.readings or out.rejections, "a message vanished without a reason"
    for rej in out.rejections:
        assert isinstance(rej.reason, Reason) and len(rej.detail) < 2000
    for r in out.readings:
        q = QUANTITIES[r.quantity]
        assert math.isfinite(r.value) and q.minimum <= r.value <= q.maximum
        assert NOW_MS - POLICY.max_age_ms <= r.ts_ms <= NOW_MS + POLICY.max_future_ms
        assert DEVICES[r.device_id].revoked is False
        assert r.quantity in DEVICE_TYPES[DEVICES[r.device_id].device_type].quantities


@FAST
@given(topic=st.sampled_from(TOPICS), payload=st.binary(max_size=4096))
def test_arbitrary_bytes_are_refused_with_a_reason_or_accepted(topic: str, payload: bytes) -> None:
    check_outcome(decoder().decode(topic, payload, NOW_MS))


@FAST
@given(topic=st.sampled_from(TOPICS), doc=json_values)
def test_arbitrary_json_documents(topic: str, doc: Any) -> None:
    check_outcome(decoder().decode(topic, orjson.dumps(doc), NOW_MS))


valid_ts = st.integers(min_value=NOW_MS - 300 * DAY_MS, max_value=NOW_MS + 4 * 60_000)
record_fields = st.fixed_dictionaries(
    {},
    optional={
        "ts": st.one_of(valid_ts.map(format_ts), json_values),
        "seq": st.one_of(st.integers(min_value=-5, max_value=2**64 - 1), json_values),
        "device_id": st.one_of(st.sampled_from(sorted(DEVICES)), json_values),
        "readings": st.one_of(
            st.dictionaries(st.sampled_from([*SM_QUANTITIES, "body_temp_c", "bogus"]),
                            st.one_of(json_scalars, json_values,
                                      st.fixed_dictionaries({"value": json_scalars,
                                                             "unit": json_scalars})),
                            max_size=6),
            json_values),
    },
)


@FAST
@given(topic=st.sampled_from(TOPICS), recs=st.lists(record_fields, min_size=1, max_size=8),
       wrap=st.booleans())
def test_records_with_wrong_types_anywhere(topic: str, recs: list[dict[str, Any]],
                                           wrap: bool) -> None:
    doc: Any = {"records": recs} if wrap or len(recs) > 1 else recs[0]
    check_outcome(decoder().decode(topic, orjson.dumps(doc), NOW_MS))


def in_range(quantity: str) -> st.SearchStrategy[float]:
    q = QUANTITIES[quantity]
    return st.floats(min_value=q.minimum, max_value=q.maximum, allow_nan=False)


valid_readings = st.sets(st.sampled_from(SM_QUANTITIES), min_size=1).flatmap(
    lambda qs: st.fixed_dictionaries({q: in_range(q) for q in sorted(qs)}))


@FAST
@given(recs=st.lists(st.tuples(valid_ts, st.integers(0, 2**63 - 1), valid_readings),
                     min_size=1, max_size=20))
def test_valid_records_are_accepted_exactly(recs: list[tuple[int, int, dict[str, float]]]) -> None:
    doc = {"records": [{"ts": format_ts(ts), "seq": seq, "readings": rd} for ts, seq, rd in recs]}
    out = decoder().decode("farmtel/farm-a/sm-1/telemetry", orjson.dumps(doc), NOW_MS)
    assert out.rejections == []
    expected = [("sm-1", q, v, ts, seq,
                 Quality.LATE if ts < NOW_MS - POLICY.late_after_ms else Quality.GOOD)
                for ts, seq, rd in recs for q, v in rd.items()]
    got = [(r.device_id, r.quantity, r.value, r.ts_ms, r.seq, r.quality) for r in out.readings]
    assert got == expected
    assert all((r.site_id, r.farm_id, r.county) == ("field-1", "farm-a", "shuocheng")
               for r in out.readings)


GOOD_TS = format_ts(NOW_MS - 1000).encode()
HOSTILE = {
    "huge_int": b'{"ts":"%s","readings":{"vwc_pct":123456789012345678901234567890}}' % GOOD_TS,
    "u64_seq": b'{"ts":"%s","seq":18446744073709551615,"readings":{"vwc_pct":1}}' % GOOD_TS,
    "overflow_float": b'{"ts":"%s","readings":{"vwc_pct":1e400}}' % GOOD_TS,
    "nan": b'{"ts":"%s","readings":{"vwc_pct":NaN}}' % GOOD_TS,
    "infinity": b'{"ts":"%s","readings":{"vwc_pct":-Infinity}}' % GOOD_TS,
    "unit_to_inf": b'{"ts":"%s","readings":{"soil_temp_c":{"value":1.7e308,"unit":"F"}}}' % GOOD_TS,
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "deep_object": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "invalid_utf8": b'{"ts":"\xff\xfe","readings":{"vwc_pct":1}}',
    "lone_surrogate": b'{"ts":"\\ud800","readings":{"vwc_pct":1}}',
    "nul": b'{"ts":"%s\x00","readings":{"vwc_pct":1}}' % GOOD_TS,
    "bom": b"\xef\xbb\xbf" + b'{"ts":"%s","readings":{"vwc_pct":1}}' % GOOD_TS,
    "year_1": b'{"ts":"0001-01-01T00:00:00+23:59","readings":{"vwc_pct":1}}',
    "year_9999": b'{"ts":"9999-12-31T23:59:59.999999-23:59","readings":{"vwc_pct":1}}',
    "naive_ts": b'{"ts":"2026-05-01T06:00:00","readings":{"vwc_pct":1}}',
    "bool_value": b'{"ts":"%s","readings":{"vwc_pct":true}}' % GOOD_TS,
    "string_value": b'{"ts":"%s","readings":{"vwc_pct":"23.1"}}' % GOOD_TS,
    "empty": b"",
    "null": b"null",
    "too_many_records": orjson.dumps({"records": [{}] * 10_001}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_payloads_are_dead_lettered_with_a_reason(name: str) -> None:
    out = decoder().decode("farmtel/farm-a/sm-1/telemetry", HOSTILE[name], NOW_MS)
    check_outcome(out)
    assert out.readings == [] and out.rejections, name


def test_one_megabyte_payloads() -> None:
    backlog = {"records": [{"device_id": "sm-1", "ts": format_ts(NOW_MS - 10 * DAY_MS + i),
                            "seq": i, "readings": {"vwc_pct": 20.5, "soil_temp_c": 11.25}}
                           for i in range(9_500)]}
    payload = orjson.dumps(backlog)
    assert 1_000_000 < len(payload) < 1_150_000
    out = decoder().decode("farmtel/farm-a/sm-1/telemetry", payload, NOW_MS)
    assert out.rejections == [] and len(out.readings) == 19_000
    assert all(r.quality == Quality.LATE for r in out.readings)
    strict = MessageDecoder(DEVICES.get)  # the default 256 KiB bound
    refused = strict.decode("farmtel/farm-a/sm-1/telemetry", payload, NOW_MS)
    assert [r.reason for r in refused.rejections] == [Reason.OVERSIZED_PAYLOAD]
    junk = decoder().decode("farmtel/farm-a/sm-1/telemetry", b"\x00" * 1_048_576, NOW_MS)
    assert [r.reason for r in junk.rejections] == [Reason.MALFORMED_JSON]
    big_string = orjson.dumps({"ts": format_ts(NOW_MS), "readings": {"vwc_pct": "x" * 1_000_000}})
    out = decoder().decode("farmtel/farm-a/sm-1/telemetry", big_string, NOW_MS)
    assert [r.reason for r in out.rejections] == [Reason.NON_NUMERIC]
    assert len(out.rejections[0].detail) < 200


message = st.one_of(
    st.tuples(st.sampled_from(TOPICS), st.binary(max_size=300)),
    st.tuples(st.sampled_from(TOPICS), json_values.map(orjson.dumps)),
    st.tuples(st.sampled_from(TOPICS[:3]),
              st.lists(record_fields, min_size=1, max_size=4)
              .map(lambda recs: orjson.dumps({"records": recs}))),
    st.tuples(st.just("farmtel/farm-a/sm-1/telemetry"),
              st.tuples(st.integers(0, 20), valid_readings).map(
                  lambda t: orjson.dumps({"ts": format_ts(NOW_MS - 60_000 + t[0] * 1000),
                                          "seq": t[0], "readings": t[1]}))),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(messages=st.lists(message, min_size=1, max_size=40), batch=st.integers(1, 50))
def test_pipeline_releases_every_token_and_counts_add_up(
        tmp_path_factory: pytest.TempPathFactory, messages: list[tuple[str, bytes]],
        batch: int) -> None:
    tmp: Path = tmp_path_factory.mktemp("prop")
    engine = make_engine(f"sqlite:///{tmp / 'meta.db'}")
    upgrade_schema(engine)
    store = MemoryStore()
    pipe: IngestPipeline[int] = IngestPipeline(decoder(), batch_max_readings=batch,
                                               clock_ms=lambda: NOW_MS)
    sink = SpooledStoreSink(store, Spool(tmp / "spool"),
                            DeadLetterStore(make_session_factory(engine), keep=50), pipe.metrics)
    released: list[int] = []
    reference = decoder()
    rejected: Counter[str] = Counter()
    decoded_readings = 0
    for token, (topic, payload) in enumerate(messages):
        out = reference.decode(topic, payload, NOW_MS)
        assert out.readings or out.rejections
        rejected.update(r.reason.value for r in out.rejections)
        decoded_readings += len(out.readings)
        pipe.submit(topic, payload, token)
        if pipe.due():
            released += pipe.flush(sink)
    released += pipe.flush(sink)
    assert released == list(range(len(messages)))  # every token, once, in order
    m = pipe.metrics.snapshot()
    assert m["messages_received"] == len(messages)
    assert m["rejected"] == dict(rejected)
    assert m["readings_accepted"] == m["readings_stored"] <= decoded_readings
    assert {(d, q, ts) for d, q, ts in store.rows} <= {
        (r.device_id, r.quantity, r.ts_ms) for topic, payload in messages
        for r in reference.decode(topic, payload, NOW_MS).readings}
    engine.dispose()
