"""The store contract's naming rules (storage.naming): ids, quantity names, tag values."""

from __future__ import annotations

import pytest

from storage.errors import InvalidInput
from storage.naming import (
    InvalidName,
    check_id,
    check_quantity,
    check_tag_value,
    storable_quantity,
)
from storage.telemetry import StoreRejected


@pytest.mark.parametrize("good", ["sm-1", "a.b-c_d", "GW01", "9", "x" * 128])
def test_valid_ids(good: str) -> None:
    assert check_id(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "-leading",
        "_leading",
        "x' OR 1=1 --",
        "x'",
        'x"',
        "a b",
        "a/b",
        "a\\b",
        "sm-1\n",  # '$' would match before a final newline; fullmatch does not
        "x" * 129,
        "é",
        "a;DROP",
        "a:b",  # Mosquitto's password and ACL files cannot carry it
        "a+b",
        "a#",
    ],
)
def test_invalid_ids(bad: str) -> None:
    with pytest.raises(ValueError):
        check_id(bad)


@pytest.mark.parametrize("bad", ["", "Vwc", "1abc", "vwc-pct", 'vwc") OR 1=1', "a" * 65, "vwc\n"])
def test_invalid_quantities(bad: str) -> None:
    with pytest.raises(ValueError):
        check_quantity(bad)


def test_a_bad_name_is_a_typed_invalid_input() -> None:
    with pytest.raises(InvalidName) as caught:
        check_id("x' OR 1=1 --")
    assert isinstance(caught.value, InvalidInput)


@pytest.mark.parametrize("good", ["vwc_pct", "a", "x9_"])
def test_storable_quantities(good: str) -> None:
    assert storable_quantity(good) == good


@pytest.mark.parametrize("bad", ["seq", "quality", "time", "Vwc", "a b", ""])
def test_unstorable_quantities_are_store_rejected(bad: str) -> None:
    with pytest.raises(StoreRejected):
        storable_quantity(bad)


@pytest.mark.parametrize("good", ["Trans Nzoia", "a,b=c", r"back\slash", "quote'\""])
def test_tag_values_line_protocol_can_carry(good: str) -> None:
    assert check_tag_value(good) == good


@pytest.mark.parametrize("bad", ["ends\\", "a\\ b", "a\\,b", "a\\=b", "two\nlines", "cr\r"])
def test_tag_values_line_protocol_cannot_carry(bad: str) -> None:
    with pytest.raises(InvalidName):
        check_tag_value(bad)
