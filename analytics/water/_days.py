"""Local days (China Standard Time) and per-day reductions of telemetry series.

Shuozhou keeps China Standard Time, UTC+8 all year (no daylight saving). A "local day" is
[00:00, 24:00) CST = [16:00 UTC of the previous day, 16:00 UTC). Because the offset is a
whole number of hours, every epoch-aligned hourly window of the store lies inside exactly
one local day; the store readers therefore ask for hourly aggregates and reduce them here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics.agronomy import FloatArray
from storage.clock import DAY_MS, cst_midnight_ms
from storage.telemetry import Aggregation, RangeQuery, SeriesPoint, TelemetryStore

__all__ = [
    "DailyReader",
    "DayReduction",
    "day_range",
    "hourly_per_day",
    "local_day_index",
    "per_local_day",
    "query_hourly",
    "query_raw_all",
    "series_arrays",
]

_HOUR_S = 3_600

DayReduction = Literal["max", "min", "sum"]


def day_range(*, first_day: date, last_day: date) -> list[date]:
    """Every date from ``first_day`` to ``last_day`` inclusive (empty if reversed)."""
    return [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]


def local_day_index(*, ts_ms: ArrayLike, first_day: date) -> NDArray[np.int64]:
    """Index of the CST day of each UTC timestamp, 0 = ``first_day`` (may be <0 or ≥ n)."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    return (ts - cst_midnight_ms(first_day)) // DAY_MS


def per_local_day(
    *,
    ts_ms: ArrayLike,
    values: ArrayLike,
    first_day: date,
    n_days: int,
    how: DayReduction,
) -> FloatArray:
    """Reduce a series to one value per CST day: max, min or sum over the day.

    Points outside the ``n_days`` days starting at ``first_day`` are ignored, as are NaN
    values. Days without any point are NaN (also for ``"sum"``: no data ≠ zero).

    :param ts_ms: point timestamps [UTC ms] (raw readings or window starts).
    :param values: point values [any unit].
    :param first_day: the first CST day of the result.
    :param n_days: number of days of the result.
    :param how: ``"max"``, ``"min"`` or ``"sum"``.
    :returns: array of ``n_days`` reduced values [unit of ``values``].
    """
    idx = local_day_index(ts_ms=ts_ms, first_day=first_day)
    vals = np.asarray(values, dtype=np.float64)
    keep = (idx >= 0) & (idx < n_days) & np.isfinite(vals)
    idx, vals = idx[keep], vals[keep]
    has = np.zeros(n_days, dtype=bool)
    has[idx] = True
    if how == "sum":
        out = np.zeros(n_days, dtype=np.float64)
        np.add.at(out, idx, vals)
    elif how == "max":
        out = np.full(n_days, -np.inf)
        np.maximum.at(out, idx, vals)
    elif how == "min":
        out = np.full(n_days, np.inf)
        np.minimum.at(out, idx, vals)
    else:
        raise ValueError(f"unknown reduction {how!r}")
    return np.where(has, out, np.nan)


def query_hourly(
    *,
    store: TelemetryStore,
    device_id: str,
    quantity: str,
    agg: Aggregation,
    first_day: date,
    n_days: int,
    span: tuple[int, int] | None = None,
) -> list[SeriesPoint]:
    """Hourly (epoch-aligned) aggregates of one device's quantity over ``n_days`` CST days;
    only of its readings in ``span`` ``[from, until)`` [UTC ms] when given (the time it stood
    on the site asking: an hour cut by a move aggregates the site's part of it)."""
    start = cst_midnight_ms(first_day)
    end = start + n_days * DAY_MS
    if span is not None:
        start, end = max(start, span[0]), min(end, span[1])
        if end <= start:
            return []
    return store.query(
        RangeQuery(
            quantity=quantity,
            start_ms=start,
            end_ms=end,
            device_id=device_id,
            every_s=_HOUR_S,
            agg=agg,
            limit=n_days * 24 + 1,
        )
    )


def hourly_per_day(
    *,
    store: TelemetryStore,
    device_id: str,
    quantity: str,
    agg: Aggregation,
    how: DayReduction,
    first_day: date,
    n_days: int,
    span: tuple[int, int] | None = None,
) -> FloatArray:
    """Per-CST-day reduction (``how``) of the hourly ``agg`` aggregates of a quantity (of the
    readings in ``span``, when given: ``query_hourly``)."""
    points = query_hourly(
        store=store,
        device_id=device_id,
        quantity=quantity,
        agg=agg,
        first_day=first_day,
        n_days=n_days,
        span=span,
    )
    return per_local_day(
        ts_ms=[p.ts_ms for p in points],
        values=[p.value for p in points],
        first_day=first_day,
        n_days=n_days,
        how=how,
    )


def query_raw_all(
    *, store: TelemetryStore, device_id: str, quantity: str, start_ms: int, end_ms: int
) -> list[SeriesPoint]:
    """Every raw point in [start_ms, end_ms), paging past the store's ``limit``."""
    page = 50_000
    out: list[SeriesPoint] = []
    cursor = start_ms
    while cursor < end_ms:
        q = RangeQuery(
            quantity=quantity, start_ms=cursor, end_ms=end_ms, device_id=device_id, limit=page
        )
        points = store.query(q)
        out.extend(points)
        if len(points) < page:
            break
        cursor = points[-1].ts_ms + 1
    return out


def series_arrays(points: Sequence[SeriesPoint]) -> tuple[NDArray[np.int64], FloatArray]:
    """Timestamps [UTC ms] and values of ``points`` as numpy arrays."""
    ts = np.asarray([p.ts_ms for p in points], dtype=np.int64)
    vals = np.asarray([p.value for p in points], dtype=np.float64)
    return ts, vals


@dataclass(frozen=True, slots=True)
class DailyReader:
    """Per-CST-day reductions of one device's hourly aggregates (of its readings in ``span``
    ``[from, until)`` [UTC ms] only, when given)."""

    store: TelemetryStore
    device_id: str
    first_day: date
    n_days: int
    span: tuple[int, int] | None = None

    def _per_day(self, quantity: str, agg: Aggregation, how: DayReduction) -> FloatArray:
        return hourly_per_day(
            store=self.store,
            device_id=self.device_id,
            quantity=quantity,
            agg=agg,
            how=how,
            first_day=self.first_day,
            n_days=self.n_days,
            span=self.span,
        )

    def sum_count(self, quantity: str) -> tuple[FloatArray, FloatArray]:
        """(daily sum, daily report count; 0 = none)."""
        total = self._per_day(quantity, Aggregation.SUM, "sum")
        count = np.nan_to_num(self._per_day(quantity, Aggregation.COUNT, "sum"))
        return total, count

    def mean_count(self, quantity: str) -> tuple[FloatArray, FloatArray]:
        """(daily mean, daily report count)."""
        total, count = self.sum_count(quantity)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / count, np.nan), count

    def extremes_count(self, quantity: str) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(daily max, daily min, daily report count)."""
        hi = self._per_day(quantity, Aggregation.MAX, "max")
        lo = self._per_day(quantity, Aggregation.MIN, "min")
        count = np.nan_to_num(self._per_day(quantity, Aggregation.COUNT, "sum"))
        return hi, lo, count
