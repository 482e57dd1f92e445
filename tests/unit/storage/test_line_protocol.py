"""Line-protocol encoding and InfluxQL building of the InfluxDB backend (no server)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.influx import (
    LineEncoder,
    escape_key,
    escape_measurement,
    latest_statement,
    quote_ident,
    quote_literal,
    range_statement,
    to_line_protocol,
)
from storage.telemetry import Aggregation, Quality, RangeQuery, Reading, Refused, StoreRejected

T0 = 1_780_000_000_000


def _r(quantity: str = "vwc_pct", value: float = 21.5, ts: int = T0, **kw: object) -> Reading:
    fields: dict[str, object] = {"device_id": "sm-1", "site_id": "field-1", "farm_id": "farm-a"}
    fields.update(kw)
    return Reading(quantity=quantity, value=value, ts_ms=ts, **fields)  # type: ignore[arg-type]


# --- a reference reader of InfluxDB 1.x line protocol (measurement, tags, fields, time) ------


def _split(text: str, seps: str) -> tuple[str, str, str]:
    """(head, separator, rest) at the first unescaped char of ``seps``."""
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in seps:
            return text[:i], text[i], text[i + 1 :]
        i += 1
    return text, "", ""


def _unescape(text: str) -> str:
    return text.replace("\\,", ",").replace("\\=", "=").replace("\\ ", " ")


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, str], int]:
    """Parse one line the way influxd 1.x does (no string fields needed here)."""
    measurement, sep, rest = _split(line, ", ")
    tags: dict[str, str] = {}
    while sep == ",":
        pair, sep, rest = _split(rest, ", ")
        key, _, value = _split(pair, "=")
        tags[_unescape(key)] = _unescape(value)
    field_text, _, ts = _split(rest, " ")
    fields: dict[str, str] = {}
    while field_text:
        pair, _, field_text = _split(field_text, ",")
        key, _, value = _split(pair, "=")
        fields[_unescape(key)] = value
    return _unescape(measurement), tags, fields, int(ts)


# --- escaping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("Trans Nzoia", r"Trans\ Nzoia"),
        ("a,b", r"a\,b"),
        ("k=v", r"k\=v"),
        ("a, b=c", r"a\,\ b\=c"),
        (r"back\slash", r"back\slash"),  # a backslash before an ordinary char stays as it is
        ("quote'\"", "quote'\""),
    ],
)
def test_escape_key(raw: str, escaped: str) -> None:
    assert escape_key(raw) == escaped


def test_escape_measurement_leaves_equals_alone() -> None:
    assert escape_measurement("my meas,x=1") == r"my\ meas\,x=1"


@pytest.mark.parametrize("bad", ["ends\\", "a\\ b", "a\\,b", "a\\=b", "two\nlines", "cr\r"])
def test_unrepresentable_keys_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        escape_key(bad)


@given(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="\\\n\r"), min_size=1, max_size=30
    )
)
def test_tag_values_survive_a_round_trip(value: str) -> None:
    (line,) = to_line_protocol([_r(county=value, site_id="s 1,=")])
    measurement, tags, fields, ts = parse_line(line)
    assert (measurement, ts) == ("telemetry", T0)
    assert tags["county"] == value
    assert tags["site_id"] == "s 1,="
    assert set(fields) == {"vwc_pct", "seq", "quality"}


# --- encoding and grouping ----------------------------------------------------------------


def test_one_line_per_device_and_instant_with_sorted_tags() -> None:
    lines = to_line_protocol(
        [
            _r("vwc_pct", 21.5, seq=7, county="shuocheng", device_type="soil_moisture"),
            _r("soil_temp_c", -3.25, seq=7, county="shuocheng", device_type="soil_moisture"),
            _r("vwc_pct", 22.0, ts=T0 + 1000, seq=8, county="shuocheng"),
        ]
    )
    assert lines == [
        "telemetry,county=shuocheng,device_id=sm-1,device_type=soil_moisture,farm_id=farm-a,"
        f"site_id=field-1 vwc_pct=21.5,soil_temp_c=-3.25,seq=7i,quality=0i {T0}",
        "telemetry,county=shuocheng,device_id=sm-1,farm_id=farm-a,site_id=field-1 "
        f"vwc_pct=22.0,seq=8i,quality=0i {T0 + 1000}",
    ]


def test_devices_at_the_same_instant_get_their_own_lines() -> None:
    lines = to_line_protocol([_r(device_id="a"), _r(device_id="b"), _r("rh_pct", device_id="a")])
    assert [parse_line(x)[1]["device_id"] for x in lines] == ["a", "b"]
    assert set(parse_line(lines[0])[2]) == {"vwc_pct", "rh_pct", "seq", "quality"}


def test_empty_tags_are_omitted() -> None:
    (line,) = to_line_protocol([Reading("d1", "vwc_pct", 1.0, T0)])
    assert line == f"telemetry,device_id=d1 vwc_pct=1.0,seq=0i,quality=0i {T0}"


def test_a_point_keeps_the_seq_and_quality_of_its_first_record() -> None:
    (line,) = to_line_protocol(
        [
            _r("vwc_pct", seq=3, quality=Quality.LATE),
            _r("rh_pct", seq=5, quality=Quality.CLOCK_SUSPECT),
            _r("vwc_pct", 99.0, seq=5, quality=Quality.CLOCK_SUSPECT),  # conflicting: refused
        ]
    )
    fields = parse_line(line)[2]
    assert (fields["vwc_pct"], fields["seq"]) == ("21.5", "3i")
    assert fields["quality"] == f"{int(Quality.LATE)}i"


def test_the_encoder_applies_the_store_rule_against_stored_points() -> None:
    stored = {("sm-1", T0): {"vwc_pct": 21.5}}
    readings = [_r("vwc_pct", 21.5, seq=2), _r("rh_pct", 50.0, seq=2), _r("ec_ds_m", 1.0, seq=2)]
    lines, result = LineEncoder().encode([*readings, _r("vwc_pct", 30.0, seq=2)], stored,
                                         {"ec_ds_m": "field type conflict"})
    (line,) = lines
    assert set(parse_line(line)[2]) == {"rh_pct"}  # no seq: the stored point keeps its own
    assert (result.stored, result.duplicates) == (1, 1)
    assert [(f.reading.quantity, f.why, f.stored_value) for f in result.refused] == [
        ("ec_ds_m", Refused.TYPE_CONFLICT, None), ("vwc_pct", Refused.CONFLICTING_VALUE, 21.5)]


def test_a_repeated_key_in_one_batch_keeps_the_first_value() -> None:
    (line,) = to_line_protocol([_r(value=1.0), _r("rh_pct", 50.0), _r(value=2.0)])
    assert line.split(" ")[1] == "vwc_pct=1.0,rh_pct=50.0,seq=0i,quality=0i"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (21.5, "21.5"),
        (0.1 + 0.2, repr(0.1 + 0.2)),  # shortest round-trip repr, no precision lost
        (5, "5.0"),  # ints become floats: the field type must never flip
        (True, "1.0"),
        (1e20, "1e+20"),
        (-0.0, "-0.0"),
        (np.float64(1.25), "1.25"),  # numpy 2 reprs would read "np.float64(1.25)"
        (np.float32(0.5), "0.5"),
    ],
)
def test_values_are_float_fields(value: float, text: str) -> None:
    (line,) = to_line_protocol([_r(value=value)])
    assert parse_line(line)[2]["vwc_pct"] == text
    assert float(text) == float(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "abc", None])
def test_unusable_values_reject_the_batch(value: object) -> None:
    with pytest.raises(StoreRejected):
        to_line_protocol([_r(), _r("rh_pct", value=value)])  # type: ignore[arg-type]


@pytest.mark.parametrize("quantity", ["seq", "quality", "time", "Vwc", "a b", "a,b", "x=1", ""])
def test_bad_or_reserved_quantity_names_reject_the_batch(quantity: str) -> None:
    with pytest.raises(StoreRejected):
        to_line_protocol([_r(quantity)])


@pytest.mark.parametrize("tag", ["ends\\", "new\nline"])
def test_unrepresentable_tag_values_reject_the_batch(tag: str) -> None:
    with pytest.raises(StoreRejected):
        to_line_protocol([_r(farm_id=tag)])


def test_encoder_caches_do_not_leak_between_tag_sets() -> None:
    enc = LineEncoder()
    first = enc.encode([_r(site_id="s1")])[0]
    second = enc.encode([_r(site_id="s2")])[0]
    assert parse_line(first[0])[1]["site_id"] == "s1"
    assert parse_line(second[0])[1]["site_id"] == "s2"
    assert enc.encode([_r(site_id="s1")])[0] == first


# --- InfluxQL quoting and statements -----------------------------------------------------------------


def test_quoting() -> None:
    assert quote_literal("it's") == r"'it\'s'"
    assert quote_literal("a\\") == r"'a\\'"
    assert quote_literal(r"\' OR 1=1") == r"'\\\' OR 1=1'"
    assert quote_ident('we"ird') == r'"we\"ird"'


@pytest.mark.parametrize(
    "query",
    [
        {"device_id": "x' OR 1=1 --"},
        {"device_id": "sm-1' OR device_id =~ /.*/ --"},
        {"site_id": "s1'; DROP DATABASE farm; --"},
        {"device_id": "sm-1", "quantity": 'vwc_pct" FROM telemetry; --'},
    ],
)
def test_injection_attempts_raise_value_error(query: dict[str, str]) -> None:
    args: dict[str, object] = {"quantity": "vwc_pct", "start_ms": 0, "end_ms": 1}
    args.update(query)
    with pytest.raises(ValueError):
        range_statement(RangeQuery(**args))  # type: ignore[arg-type]


def test_latest_statement_refuses_bad_ids() -> None:
    with pytest.raises(ValueError):
        latest_statement("vwc_pct", ["ok-1", "x' OR '1'='1"])


def test_range_statements() -> None:
    raw = range_statement(RangeQuery("vwc_pct", 1000, 2000, device_id="sm-1", limit=10))
    assert raw == (
        'SELECT "vwc_pct" FROM "telemetry" WHERE "device_id" = \'sm-1\' AND time >= 1000ms '
        'AND time < 2000ms GROUP BY "device_id" ORDER BY time ASC LIMIT 10'
    )
    agg = range_statement(
        RangeQuery("rh_pct", 0, 3_600_000, site_id="gh-1", every_s=900, agg=Aggregation.MEAN)
    )
    assert agg == (
        'SELECT mean("rh_pct") FROM "telemetry" WHERE "site_id" = \'gh-1\' AND time >= 0ms '
        'AND time < 3600000ms GROUP BY time(900s), "device_id" fill(none) LIMIT 100000'
    )


def test_latest_statement_selects_the_metadata_of_the_same_line() -> None:
    assert latest_statement("vwc_pct", ["a", "b.c"]) == (
        'SELECT last("vwc_pct"), "seq", "quality", "county", "device_type", "farm_id", '
        '"site_id" FROM "telemetry" WHERE ("device_id" = \'a\' OR '
        '"device_id" = \'b.c\') GROUP BY "device_id"'
    )
