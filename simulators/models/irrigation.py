"""The irrigation plan of the metered fields: scheduled sessions and sessions started by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from analytics.water.specs import M2_PER_MU
from simulators.county_weather import CountyWeather
from simulators.noise import derive_seed
from simulators.physics import local_day, months
from storage.clock import CST_OFFSET_MS, DAY_MS, HOUR_MS

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class IrrigationSession:
    """Water into one field at ``rate_m3_h`` [m³/h] over [start_ms, end_ms) [UTC ms]."""

    field: int
    start_ms: int
    end_ms: int
    rate_m3_h: float

    def active(self, ts_ms: int) -> bool:
        """Whether water flows at ``ts_ms``."""
        return self.start_ms <= ts_ms < self.end_ms


class IrrigationPlan:
    """Sessions of the metered (irrigated) fields: every ``EVERY_DAYS`` local days (per-field
    offset) from a per-field hour (5:00-8:00) for 1.5-3 h at 15-35 m³/h, May-September,
    skipped when at least ``SKIP_AFTER_RAIN_MM`` fell in the county the local day before
    (``months``: the irrigation season; empty: no scheduled sessions);
    plus sessions a farmer starts by hand (:meth:`start_irrigation`).

    Field flow meters measure these sessions and the fields' soil probes receive the same
    water, so irrigation shows in both.
    """

    EVERY_DAYS: ClassVar[int] = 4
    MONTHS: ClassVar[tuple[int, ...]] = (5, 6, 7, 8, 9)
    SKIP_AFTER_RAIN_MM: ClassVar[float] = 5.0

    def __init__(self, seed: int, county: NDArray[np.int8], area_mu: F64,
                 weather: CountyWeather, *, months: tuple[int, ...] = MONTHS) -> None:
        rng = np.random.default_rng(derive_seed(seed, "irrigation"))
        n = len(county)
        self.county = county
        self.area_mu = area_mu
        self.weather = weather
        self.start_h = 5.0 + 0.5 * rng.integers(0, 7, n)
        self.duration_h = rng.uniform(1.5, 3.0, n)
        self.rate_m3_h = rng.uniform(15.0, 35.0, n)
        self._offset = rng.integers(0, self.EVERY_DAYS, n)
        self.months = months
        self.manual: list[IrrigationSession] = []

    def start_irrigation(self, field: int, start_ms: int, duration_s: float,
                         rate_m3_h: float) -> IrrigationSession:
        """Open field ``field``'s valve by hand at ``start_ms`` [UTC ms] for ``duration_s``
        [s] at ``rate_m3_h`` [m³/h] (on top of any scheduled session)."""
        if not 0 <= field < len(self.county):
            raise IndexError(f"no metered field {field}")
        if duration_s <= 0 or rate_m3_h <= 0:
            raise ValueError("an irrigation needs a positive duration and rate")
        session = IrrigationSession(field, start_ms, start_ms + int(duration_s * 1000),
                                    rate_m3_h)
        self.manual.append(session)
        return session

    def stop_irrigation(self, field: int, ts_ms: int) -> None:
        """End field ``field``'s sessions started by hand at ``ts_ms`` [UTC ms]."""
        self.manual = [s if s.field != field or s.end_ms <= ts_ms
                       else IrrigationSession(field, s.start_ms, max(s.start_ms, ts_ms),
                                              s.rate_m3_h)
                       for s in self.manual]

    def _session(self, field: I64, ts_ms: I64) -> tuple[I64, I64]:
        """[start, end) [UTC ms] of each field's session on the local day of ``ts_ms``
        (an empty interval when it does not irrigate that day)."""
        day = local_day(ts_ms)
        start = day * DAY_MS - CST_OFFSET_MS + (self.start_h[field] * HOUR_MS).astype(np.int64)
        end = start + (self.duration_h[field] * HOUR_MS).astype(np.int64)
        on = np.isin(months(day), self.months) & ((day + self._offset[field])
                                                    % self.EVERY_DAYS == 0)
        if on.any():
            wet = self.weather.wet_day_before(self.county[field[on]], day[on],
                                              self.SKIP_AFTER_RAIN_MM)
            on[np.flatnonzero(on)[wet]] = False
        return start, np.where(on, end, start)

    def delivered_m3(self, field: I64, t0_ms: I64, t1_ms: I64) -> F64:
        """Water [m³] delivered to each field in [t0, t1) (windows shorter than a day)."""
        start, end = self._session(field, t1_ms)
        overlap = np.clip(np.minimum(end, t1_ms) - np.maximum(start, t0_ms), 0, None)
        out: F64 = self.rate_m3_h[field] * overlap / HOUR_MS
        for s in self.manual:
            mine = field == s.field
            if mine.any():
                hand = np.clip(np.minimum(s.end_ms, t1_ms[mine]) - np.maximum(s.start_ms,
                                                                              t0_ms[mine]),
                               0, None)
                out[mine] += s.rate_m3_h * hand / HOUR_MS
        return out

    def delivered_mm(self, field: I64, t0_ms: I64, t1_ms: I64) -> F64:
        """Water depth [mm] delivered to each field in [t0, t1) (spread over its area)."""
        out: F64 = self.delivered_m3(field, t0_ms, t1_ms) / (self.area_mu[field] * M2_PER_MU)
        return 1000.0 * out

    def flow_m3_h(self, field: I64, ts_ms: I64) -> F64:
        """Flow [m³/h] into each field at ``ts_ms``."""
        start, end = self._session(field, ts_ms)
        out: F64 = np.where((start <= ts_ms) & (ts_ms < end), self.rate_m3_h[field], 0.0)
        for s in self.manual:
            on = (field == s.field) & (s.start_ms <= ts_ms) & (ts_ms < s.end_ms)
            out[on] += s.rate_m3_h
        return out
