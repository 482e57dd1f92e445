"""Line protocol (InfluxDB 1.x/2.x/3.x, VictoriaMetrics): readings -> lines, ms precision.

Both writers (``/write`` and ``/api/v2/write``) send these lines. Plain string building, no
per-point object model: this is the ingest hot path (tens of thousands of readings a second).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from storage.influx._layout import MEASUREMENT, TAG_KEYS
from storage.naming import check_tag_value, storable_quantity
from storage.telemetry import (
    Reading,
    Refusal,
    Refused,
    StoreRejected,
    WriteResult,
    conflict,
    finite_value,
)

__all__ = ["LineEncoder", "StoredPoints", "escape_key", "escape_measurement", "to_line_protocol"]

_CACHE_MAX: Final = 262_144  # entries per encoder cache before it is cleared (~250 B per device)
_MEASUREMENT_ESCAPES: Final = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_ESCAPES: Final = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})


def escape_measurement(name: str) -> str:
    """Escape a measurement name for line protocol (commas, spaces)."""
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(key: str) -> str:
    """Escape a tag key, tag value or field key for line protocol (commas, '=', spaces);
    ``storage.naming.InvalidName`` (a ``ValueError``) for what it cannot carry faithfully."""
    if "\\" in key or "\n" in key or "\r" in key:
        check_tag_value(key)
    return key.translate(_KEY_ESCAPES)


_Point = tuple[Reading, list[str], dict[str, float], bool]
"""One line being built, for the readings of one ``(device_id, ts_ms)``: its first reading
(the line's tags, time, ``seq`` and ``quality``), the new fields ``key=value``, the value that
stands per quantity (stored before, or first in the batch), and whether the point exists."""

StoredPoints = Mapping[tuple[str, int], Mapping[str, float]]
"""The points a store already holds, by ``(device_id, ts_ms)``: their values per quantity."""


class LineEncoder:
    """Turns readings into line-protocol lines, caching tag sets and field keys.

    Raises ``StoreRejected`` for readings that cannot be stored (bad or reserved quantity name,
    non-finite or non-numeric value, unrepresentable tag value); nothing is encoded then.
    """

    __slots__ = ("_field_keys", "_prefixes")

    def __init__(self) -> None:
        self._field_keys: dict[str, str] = {}
        self._prefixes: dict[str, tuple[tuple[str, str, str, str, str], str]] = {}

    def encode(self, readings: Iterable[Reading], stored: StoredPoints | None = None,
               skip: Mapping[str, str] | None = None) -> tuple[list[str], WriteResult]:
        """One line per ``(device_id, ts_ms)`` in first-seen order, applying the store rule
        (``storage.telemetry.first_wins``) in the same pass: a quantity's first value stands,
        whether ``stored`` before or first in the batch; an identical later value is a
        duplicate, a different one is refused. Quantities in ``skip`` are refused as type
        conflicts (the value is the server's message).

        A new point carries the ``seq`` and ``quality`` of its first reading; a line adding
        fields to a stored point carries neither, so a point never mixes one record's values
        with another record's ``seq``. Readings of one record arrive together: the batch is
        walked in runs of equal ``(device_id, ts_ms)`` (one dict lookup per run).
        """
        rs = readings if isinstance(readings, list | tuple) else list(readings)
        points: dict[tuple[str, int], _Point] = {}
        field_keys = self._field_keys
        result = WriteResult()
        refused = result.refused
        skipped = skip or {}
        duplicates = 0
        n = len(rs)
        i = 0
        while i < n:
            first = rs[i]
            device_id, ts_ms = first.device_id, first.ts_ms
            point = points.get((device_id, ts_ms))
            if point is None:
                old = stored.get((device_id, ts_ms)) if stored else None
                point = points[device_id, ts_ms] = (
                    first, [], {} if old is None else dict(old), old is not None)
            fields, values = point[1], point[2]
            j = i
            while j < n:
                r = rs[j]
                if r.ts_ms != ts_ms or r.device_id != device_id:
                    break
                j += 1
                quantity, value = r.quantity, r.value
                key = field_keys.get(quantity)
                if key is None:
                    key = self._field_key(quantity)
                if type(value) is not float or value - value != 0.0:  # else already finite
                    value = finite_value(r)
                standing = values.get(quantity)
                if standing is None:
                    if quantity in skipped:
                        refused.append(Refusal(r, Refused.TYPE_CONFLICT, skipped[quantity]))
                        continue
                    values[quantity] = value
                    fields.append(key + "=" + repr(value))
                elif standing == value:
                    duplicates += 1
                else:
                    refused.append(conflict(r, standing))
            i = j
        lines = []
        for first, fields, _, exists in points.values():
            if not fields:
                continue
            result.stored += len(fields)
            if exists:
                lines.append(f"{self._prefix(first)} {','.join(fields)} {int(first.ts_ms)}")
            else:
                lines.append(f"{self._prefix(first)} {','.join(fields)},seq={int(first.seq)}i,"
                             f"quality={int(first.quality)}i {int(first.ts_ms)}")
        result.duplicates = duplicates
        return lines, result

    def _field_key(self, quantity: str) -> str:
        storable_quantity(quantity)
        if len(self._field_keys) >= _CACHE_MAX:
            self._field_keys.clear()
        key = self._field_keys[quantity] = escape_key(quantity)
        return key

    def _prefix(self, r: Reading) -> str:
        """``measurement,tag=value,...`` of ``r``'s non-empty tags, cached per device."""
        tags = (r.county, r.device_id, r.device_type, r.farm_id, r.site_id)  # TAG_KEYS order
        cached = self._prefixes.get(r.device_id)
        if cached is not None and cached[0] == tags:
            return cached[1]
        parts = [escape_measurement(MEASUREMENT)]
        try:
            parts += [f"{k}={escape_key(v)}" for k, v in zip(TAG_KEYS, tags, strict=True) if v]
        except (ValueError, AttributeError, TypeError) as exc:
            raise StoreRejected(f"unusable tag value in {tags!r}: {exc}") from exc
        if len(self._prefixes) >= _CACHE_MAX:
            self._prefixes.clear()
        prefix = ",".join(parts)
        self._prefixes[r.device_id] = (tags, prefix)
        return prefix


def to_line_protocol(readings: Iterable[Reading]) -> list[str]:
    """Line-protocol lines for ``readings`` (a one-off encoder; the store keeps its own)."""
    return LineEncoder().encode(readings)[0]
