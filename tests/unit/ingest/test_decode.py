"""Decoding and validation of the MQTT contract: every refusal has its reason."""

from __future__ import annotations

import math

import orjson
import pytest

from devices.contract import format_ts, parse_ts_ms, record
from ingest.decode import MessageDecoder
from ingest.rejections import Reason
from storage.clock import DAY_MS
from storage.telemetry import Quality
from tests.unit.ingest._support import NOW_MS

TOPIC = "farmtel/farm-a/sm-1/telemetry"


def msg(obj: object) -> bytes:
    return orjson.dumps(obj)


def one(decoder: MessageDecoder, payload: bytes, topic: str = TOPIC):
    return decoder.decode(topic, payload, NOW_MS)


def test_plain_record_becomes_tagged_readings(decoder):
    out = one(decoder, msg(record(NOW_MS - 1000, 7, {"vwc_pct": 23.1, "soil_temp_c": 11.5})))
    assert out.rejections == []
    assert {(r.quantity, r.value) for r in out.readings} == {("vwc_pct", 23.1),
                                                              ("soil_temp_c", 11.5)}
    r = out.readings[0]
    assert (r.device_id, r.ts_ms, r.seq, r.site_id, r.farm_id, r.county, r.device_type) == (
        "sm-1", NOW_MS - 1000, 7, "field-1", "farm-a", "shuocheng", "soil_moisture")
    assert r.quality == Quality.GOOD


def test_backlog_records_and_late_flag(decoder):
    recs = [record(NOW_MS - 2 * 3600_000, 1, {"vwc_pct": 20.0}),
            record(NOW_MS - 60_000, 2, {"vwc_pct": 21.0})]
    out = one(decoder, msg({"records": recs}))
    assert out.records == 2
    assert [(r.seq, r.quality) for r in out.readings] == [(1, Quality.LATE), (2, Quality.GOOD)]


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [(0.231, "m3/m3", 23.1), (23.1, "%", 23.1)],
)
def test_explicit_units_are_converted(decoder, value, unit, expected):
    out = one(decoder, msg(record(NOW_MS, 1, {"vwc_pct": {"value": value, "unit": unit}})))
    assert out.readings[0].value == pytest.approx(expected)


def test_temperature_in_kelvin_and_millivolts(decoder):
    out = one(decoder, msg(record(NOW_MS, 1, {"soil_temp_c": {"value": 283.15, "unit": "K"},
                                              "battery_v": {"value": 3600, "unit": "mV"}})))
    values = {r.quantity: r.value for r in out.readings}
    assert values == pytest.approx({"soil_temp_c": 10.0, "battery_v": 3.6})


def test_gateway_records_for_its_children_only(decoder):
    payload = msg({"records": [
        record(NOW_MS, 1, {"air_temp_c": 24.0}, device_id="gh-1"),
        record(NOW_MS, 1, {"vwc_pct": 30.0}, device_id="sm-1"),
        record(NOW_MS, 1, {"vwc_pct": 30.0}, device_id="nobody"),
    ]})
    out = one(decoder, payload, "farmtel/farm-a/gw-1/gateway")
    assert [(r.device_id, r.quantity) for r in out.readings] == [("gh-1", "air_temp_c")]
    assert sorted(r.reason for r in out.rejections) == sorted(
        [Reason.NOT_GATEWAY_CHILD, Reason.UNKNOWN_DEVICE])


def rejected(decoder, payload, topic=TOPIC):
    out = one(decoder, payload, topic)
    assert out.readings == []
    return [r.reason for r in out.rejections]


@pytest.mark.parametrize(
    ("payload", "topic", "reason"),
    [
        (b"{not json", TOPIC, Reason.MALFORMED_JSON),
        (b"\xff\xfe\x00", TOPIC, Reason.MALFORMED_JSON),
        (b"[1, 2]", TOPIC, Reason.BAD_SCHEMA),
        (b'{"records": []}', TOPIC, Reason.BAD_SCHEMA),
        (msg(record(NOW_MS, 1, {"vwc_pct": 1})), "farmtel/farm-a/ghost/telemetry",
         Reason.UNKNOWN_DEVICE),
        (msg(record(NOW_MS, 1, {"vwc_pct": 1})), "farmtel/farm-b/sm-1/telemetry",
         Reason.WRONG_FARM),
        (msg(record(NOW_MS, 1, {"vwc_pct": 1})), "farmtel/farm-a/old-1/telemetry",
         Reason.REVOKED_DEVICE),
        (msg(record(NOW_MS, 1, {"vwc_pct": 1})), "other/topic", Reason.UNKNOWN_TOPIC),
        (msg(record(NOW_MS, 1, {"vwc_pct": 1}, device_id="gh-1")), TOPIC,
         Reason.DEVICE_MISMATCH),
        (msg({"ts": "yesterday", "readings": {"vwc_pct": 1}}), TOPIC, Reason.BAD_TIMESTAMP),
        (msg({"ts": "2026-05-28T10:00:00", "readings": {"vwc_pct": 1}}), TOPIC,
         Reason.BAD_TIMESTAMP),
        (msg(record(NOW_MS + 3600_000, 1, {"vwc_pct": 1})), TOPIC, Reason.CLOCK_FUTURE),
        (msg(record(NOW_MS - 400 * DAY_MS, 1, {"vwc_pct": 1})), TOPIC, Reason.TOO_OLD),
        (msg({"ts": format_ts(NOW_MS), "seq": -1, "readings": {"vwc_pct": 1}}), TOPIC,
         Reason.BAD_SCHEMA),
        (msg({"ts": format_ts(NOW_MS), "seq": 1, "readings": {}}), TOPIC, Reason.BAD_SCHEMA),
        (msg(record(NOW_MS, 1, {"body_temp_c": 38.5})), TOPIC, Reason.UNKNOWN_QUANTITY),
        (msg(record(NOW_MS, 1, {"vwc_pct": "23"})), TOPIC,  # type: ignore[dict-item]
         Reason.NON_NUMERIC),
        (msg(record(NOW_MS, 1, {"vwc_pct": True})), TOPIC, Reason.NON_NUMERIC),
        (msg(record(NOW_MS, 1, {"vwc_pct": 123.0})), TOPIC, Reason.OUT_OF_RANGE),
        (msg(record(NOW_MS, 1, {"vwc_pct": {"value": 0.2, "unit": "furlongs"}})), TOPIC,
         Reason.BAD_UNIT),
        (msg({"records": [record(NOW_MS, 1, {"vwc_pct": 1})]}), "farmtel/farm-a/gw-1/gateway",
         Reason.BAD_SCHEMA),
    ],
)
def test_each_fault_is_rejected_with_its_reason(decoder, payload, topic, reason):
    assert rejected(decoder, payload, topic) == [reason]


def test_nan_and_infinity_literals_are_refused(decoder):
    payload = b'{"ts": "%s", "seq": 1, "readings": {"vwc_pct": NaN}}' % format_ts(NOW_MS).encode()
    assert rejected(decoder, payload) == [Reason.MALFORMED_JSON]
    huge = b'{"ts": "%s", "seq": 1, "readings": {"vwc_pct": 1e400}}' % format_ts(NOW_MS).encode()
    reasons = rejected(decoder, huge)
    assert reasons in ([Reason.MALFORMED_JSON], [Reason.NOT_FINITE])


def test_oversized_payload_is_refused_before_parsing(decoder):
    assert rejected(decoder, b" " * (64 * 1024 + 1)) == [Reason.OVERSIZED_PAYLOAD]


def test_good_siblings_survive_a_bad_reading(decoder):
    out = one(decoder, msg(record(NOW_MS, 1, {"vwc_pct": 25.0, "ec_ds_m": -3.0})))
    assert [r.quantity for r in out.readings] == ["vwc_pct"]
    assert [(r.reason, r.quantity) for r in out.rejections] == [(Reason.OUT_OF_RANGE, "ec_ds_m")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T08:00:00.250+08:00", 250),
        ("2026-05-28T00:00:00.001Z", 1_779_926_400_001),
    ],
)
def test_parse_ts_ms_is_exact(text, expected):
    assert parse_ts_ms(text) == expected


def test_parse_ts_ms_refuses_non_strings_and_naive_times():
    assert parse_ts_ms(1_700_000_000) is None
    assert parse_ts_ms("2026-05-28T00:00:00") is None
    assert parse_ts_ms("x" * 100) is None
    assert not math.isnan(float(parse_ts_ms("2026-05-28T00:00:00+00:00") or 0))
