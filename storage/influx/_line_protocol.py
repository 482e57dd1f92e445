"""Line protocol (InfluxDB 1.x/2.x/3.x, VictoriaMetrics): readings -> lines, ms precision.

Both writers (``/write`` and ``/api/v2/write``) send these lines. Plain string building, no
per-point object model: this is the ingest hot path (tens of thousands of readings a second).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from storage.influx._layout import MEASUREMENT, TAG_KEYS
from storage.naming import check_tag_value, storable_quantity
from storage.telemetry import Reading, StoreRejected, finite_value

__all__ = ["LineEncoder", "escape_key", "escape_measurement", "to_line_protocol"]

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


_Point = tuple[Reading, list[str], set[str], list[int]]
"""One line being built, for the readings of one ``(device_id, ts_ms)``: the first reading
(its tags and time are the line's), the fields ``key=value`` (first value per quantity), the
quantities seen, and ``[largest seq, union of the quality flags]`` of the readings kept."""


class LineEncoder:
    """Turns readings into line-protocol lines, caching tag sets and field keys.

    Raises ``StoreRejected`` for readings that cannot be stored (bad or reserved quantity name,
    non-finite or non-numeric value, unrepresentable tag value); nothing is encoded then.
    """

    __slots__ = ("_field_keys", "_prefixes")

    def __init__(self) -> None:
        self._field_keys: dict[str, str] = {}
        self._prefixes: dict[str, tuple[tuple[str, str, str, str, str], str]] = {}

    def encode(self, readings: Iterable[Reading]) -> list[str]:
        """One line per ``(device_id, ts_ms)`` in first-seen order, holding the first value of
        each quantity (as SQLite's ``INSERT OR IGNORE``), the largest ``seq`` and every quality
        flag of the readings kept.

        The one grouping: readings of one record arrive together, so the batch is walked in
        runs of equal ``(device_id, ts_ms)`` (one dict lookup per run, not per reading); a run
        whose key came before joins that key's line.
        """
        rs = readings if isinstance(readings, list | tuple) else list(readings)
        points: dict[tuple[str, int], _Point] = {}
        field_keys = self._field_keys
        n = len(rs)
        i = 0
        while i < n:
            first = rs[i]
            device_id, ts_ms = first.device_id, first.ts_ms
            point = points.get((device_id, ts_ms))
            if point is None:
                point = points[device_id, ts_ms] = (first, [], set(), [first.seq, first.quality])
            _, fields, quantities, merged = point
            seq, quality = merged
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
                if quantity in quantities:  # a repeated key: the first reading stays
                    continue
                quantities.add(quantity)
                fields.append(key + "=" + repr(value))
                if r.seq != seq or r.quality != quality:
                    seq, quality = max(seq, r.seq), quality | r.quality
            merged[0], merged[1] = seq, quality
            i = j
        return [
            f"{self._prefix(first)} {','.join(fields)},seq={int(seq)}i,"
            f"quality={int(quality)}i {int(first.ts_ms)}"
            for first, fields, _, (seq, quality) in points.values()
        ]

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
    return LineEncoder().encode(readings)
