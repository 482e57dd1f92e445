"""Volume through many flow meters at once from daily counter summaries (vectorised).

Equal to :func:`analytics.water.meter_totals` (counter differencing with resets and rollover,
the cumulative volume interpolated linearly at CST midnights, days clipped at 0, readings
from 3 days either side of the period), but from per-day summaries
(:mod:`analytics.indicators.hourly`) instead of every reading: midnights never fall between
two readings of one day, so a day's first and last reading and the sum of its steps are all
the interpolation needs. Floating-point sums are grouped per day rather than reading by
reading (differences of a few ulps). A meter with a register rollover and a decrease inside a
day cannot be summarised (was it a reset or a wrap?): it is read reading by reading.

Only the readings next to the period's ends matter of the margin days (the interpolation at
the first and last midnight): when the cache shows a meter's reading in a margin day, the days
beyond it are not read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from analytics.indicators.hourly.counter_days import CounterDays, cached_counter_days, fill_counter_days
from analytics.indicators.hourly.parts import (
    DECREASES,
    FIRST_TS,
    FIRST_V,
    LAST_TS,
    LAST_V,
    STEPS,
    FloatArray,
    N,
)
from analytics.water import FlowMeterSpec, MeterTotal, meter_totals
from storage.clock import DAY_MS, HOUR_MS, cst_midnight_ms
from storage.telemetry import TelemetryStore

MARGIN_DAYS = 3
"""Days read either side of the period (as :func:`analytics.water.meter_daily_volume_m3`)."""
VOLUME = "volume_m3"


def window_volumes(days: FloatArray, *, window_start_ms: int, first: int, n_days: int,
                   rollover_m3: FloatArray) -> FloatArray:
    """Volume per meter over ``n_days`` days from window day ``first`` [m³].

    :param days: counter summaries per meter and window day [n, W, 7] (``COUNTER_FIELDS``).
    :param window_start_ms: 00:00 CST of window day 0 [UTC ms].
    :param first: index of the period's first day in the window (≥ 0, ``first + n_days < W``).
    :param rollover_m3: register capacity per meter [m³], NaN for none; meters with a rollover
        and a decrease inside a day must be left to the reading-by-reading path.
    """
    n, w, _ = days.shape
    cnt = days[..., N]
    nonempty = cnt > 0
    col = np.arange(w)
    rows = np.arange(n)[:, None]
    last_upto = np.maximum.accumulate(np.where(nonempty, col, -1), axis=1)
    prev = np.concatenate([np.full((n, 1), -1), last_upto[:, :-1]], axis=1)  # last nonempty < d
    prev_v = days[rows, np.maximum(prev, 0), LAST_V]
    first_v = days[..., FIRST_V]
    step = first_v - prev_v
    r = rollover_m3[:, None]
    wrapped = (step < 0.0) & np.isfinite(r) & (prev_v - first_v > r / 2.0)
    inc = np.where(wrapped, r - prev_v + first_v, np.where(step < 0.0, 0.0, step))
    cross = np.where(nonempty & (prev >= 0), inc, 0.0)
    within = np.where(cnt >= 2, days[..., STEPS], 0.0)
    at_last = np.cumsum(cross + within, axis=1)  # cumulative volume at each day's last reading
    at_first = at_last - within
    nxt = np.minimum.accumulate(np.where(nonempty, col, w)[:, ::-1], axis=1)[:, ::-1]

    e = first + np.arange(n_days + 1)  # window day starting at each edge
    edge_ms = (window_start_ms + e * DAY_MS).astype(np.float64)[None, :]
    p, x = prev[:, e], nxt[:, e]
    has_p, has_x = p >= 0, x < w
    pc, xc = np.maximum(p, 0), np.minimum(x, w - 1)
    tp, cp = days[rows, pc, LAST_TS], at_last[rows, pc]
    tx, cx = days[rows, xc, FIRST_TS], at_first[rows, xc]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (cx - cp) / (tx - tp) * (edge_ms - tp) + cp  # np.interp's formula
    value = np.where(has_x & has_p & (tx != edge_ms), between,
                     np.where(has_x, cx, np.where(has_p, cp, 0.0)))
    daily = np.maximum(np.diff(value, axis=1), 0.0)
    points = nonempty.sum(axis=1) + (cnt >= 2).sum(axis=1)
    return np.where(points >= 2, daily.sum(axis=1), 0.0)


def _open_after(days: CounterDays, first_after: int) -> NDArray[np.bool_]:
    """Devices whose first reading after window day ``first_after`` starts is not known from
    the cache: no cached reading in the days after, before the first hour not cached."""
    n, n_days, _ = days.days.shape
    open_ = np.ones(n, bool)
    for j in range(first_after, n_days):
        cached = int(days.covered[j * 24:(j + 1) * 24].sum())  # a day's cached hours: from 00:00
        if cached:
            open_ &= days.days[:, j, N] == 0
        if cached < 24:
            break
    return open_


def _open_before(days: CounterDays, first: int) -> NDArray[np.bool_]:
    """Devices whose last reading before window day ``first`` is not known from the cache."""
    open_ = np.ones(days.days.shape[0], bool)
    for j in range(first - 1, -1, -1):
        if not days.covered[j * 24:(j + 1) * 24].all():  # its last hours are not cached
            break
        open_ &= days.days[:, j, N] == 0
    return open_


@dataclass(frozen=True, slots=True)
class CachedMeterTotals:
    """``analytics.water.meter_totals`` from the hourly-count cache of ``session`` (None: from
    the store's ``raw_series`` alone); counts the store reads it made in ``reads``.

    Only the readings that can change the result are read from the store: every hour of the
    period's days that is not cached, and, in the margin days, those of the meters whose
    readings next to the period's ends the cache does not show (silent meters, or a margin not
    cached yet). ``now_ms`` bounds the read spans (nothing is expected after it)."""

    session: Session | None
    reads: list[int]
    now_ms: int | None = None
    until_ms: int | None = None
    """Read nothing from the store at or after this instant (``IndicatorConfig.until_cached``)."""

    def __call__(self, *, store: TelemetryStore, meters: Sequence[FlowMeterSpec],
                 first_day: date, last_day: date) -> list[MeterTotal]:
        n_days = (last_day - first_day).days + 1
        if n_days <= 0:
            raise ValueError("last_day must not be before first_day")
        window_first = first_day - timedelta(days=MARGIN_DAYS)
        width = n_days + 2 * MARGIN_DAYS
        days, reads = cached_counter_days(self.session, store, quantity=VOLUME,
                                          device_ids=[m.device_id for m in meters],
                                          first_day=window_first, n_days=width)
        hour = np.arange(width * 24) // 24
        period = (hour >= MARGIN_DAYS) & (hour < MARGIN_DAYS + n_days)
        after, before = hour >= MARGIN_DAYS + n_days, hour < MARGIN_DAYS
        if self.until_ms is not None:
            start = cst_midnight_ms(window_first) + np.arange(width * 24) * HOUR_MS
            period &= start < self.until_ms
            after &= start < self.until_ms
        open_after = _open_after(days, MARGIN_DAYS + n_days)
        open_before = _open_before(days, MARGIN_DAYS)
        everyone = period | (after if open_after.all() else False) | (
            before if open_before.all() else False)
        reads += fill_counter_days(store, VOLUME, days, hours=everyone, now_ms=self.now_ms)
        for side, open_ in ((after, open_after), (before, open_before)):
            if open_.any() and not open_.all():
                reads += fill_counter_days(store, VOLUME, days, rows=np.flatnonzero(open_),
                                           hours=side, now_ms=self.now_ms)
        rollover = np.array([np.nan if m.rollover_m3 is None else m.rollover_m3 for m in meters])
        volumes = window_volumes(days.days, window_start_ms=cst_midnight_ms(window_first),
                                 first=MARGIN_DAYS, n_days=n_days, rollover_m3=rollover)
        ambiguous = np.isfinite(rollover) & (days.days[..., DECREASES] > 0).any(axis=1)
        out = [MeterTotal(m, float(v)) for m, v in zip(meters, volumes.tolist(), strict=True)]
        slow: list[int] = np.flatnonzero(ambiguous).tolist()
        if slow:
            exact = meter_totals(store=store, meters=[meters[i] for i in slow],
                                 first_day=first_day, last_day=last_day)
            for i, t in zip(slow, exact, strict=True):
                out[i] = t
            reads += len(slow)
        self.reads.append(reads)
        return out
