"""Dairy-farm models: the cow collar and the barn-climate sensor.

Collar: a Holstein's body temperature (38.3-39.0 °C, ~0.25 °C daily cycle peaking in the
evening, heat stress on hot afternoons), an activity index with peaks at the walk to the
milking parlour and at feeding, and the rumination minutes of the last 24 h (rolling, ~400-
550 min, mostly at night). :meth:`LivestockCollarModel.make_sick` injects a fever
(39.8-41 °C) with rumination and activity depressed, for alert tests.

Barn: a naturally ventilated free-stall barn whose curtains/fans follow the outside
temperature. Less ventilation in the cold keeps animal heat, moisture, CO2 and NH3 in, so
winter barns are warmer than outside with CO2 up to ~2,500 ppm and NH3 up to ~25 ppm.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from simulators.models import (
    HOUR_MS,
    RANGES,
    DeviceModel,
    clamp,
    saturation_vp_kpa,
)
from simulators.weather import WeatherDriver

_LOCAL_OFFSET_MS = 8 * HOUR_MS  # China Standard Time
_TWO_PI = 2.0 * math.pi
_BUCKETS = 25  # hourly rumination buckets: the current hour and the 24 before it


def _local_hour(ts_ms: int) -> float:
    """China Standard Time clock hour [0, 24)."""
    return ((ts_ms + _LOCAL_OFFSET_MS) % 86_400_000) / HOUR_MS


def _bump(hour: float, centre: float, width_h: float) -> float:
    """Gaussian bump in clock hours (wrapping midnight)."""
    d = (hour - centre + 12.0) % 24.0 - 12.0
    return math.exp(-0.5 * (d / width_h) ** 2)


def _milking(hour: float, milking_hours: tuple[float, ...]) -> float:
    """0..1: walking to / standing in the parlour around each milking."""
    return max((_bump(hour, m + 0.25, 0.35) for m in milking_hours), default=0.0)


def _feeding(hour: float, milking_hours: tuple[float, ...]) -> float:
    """0..1: eating fresh TMR delivered after each milking."""
    return max((_bump(hour, m + 1.25, 0.7) for m in milking_hours), default=0.0)


def _rumination_shape(hour: float, milking_hours: tuple[float, ...]) -> float:
    """Relative rumination propensity: highest at night, suppressed at milking/feeding."""
    night = 1.0 + 0.7 * _bump(hour, 2.0, 3.0)
    busy = max(_milking(hour, milking_hours), _feeding(hour, milking_hours))
    return night * (1.0 - 0.85 * busy)


@lru_cache(maxsize=64)
def _rumination_norm(milking_hours: tuple[float, ...]) -> float:
    """Mean of :func:`_rumination_shape` over a day (for scaling to minutes per day)."""
    n = 288
    return sum(_rumination_shape(24.0 * i / n, milking_hours) for i in range(n)) / n


@dataclass(frozen=True, slots=True)
class Fever:
    """A fever episode: onset at ``start_ms``, ``peak_c`` [°C] after ``onset_h`` [h], for
    ``duration_h`` [h] in total including a 12 h recovery."""

    start_ms: int
    peak_c: float
    onset_h: float
    duration_h: float

    def severity(self, ts_ms: int) -> float:
        """0..1 intensity at ``ts_ms``."""
        h = (ts_ms - self.start_ms) / HOUR_MS
        if h <= 0.0 or h >= self.duration_h:
            return 0.0
        if h < self.onset_h:
            x = h / self.onset_h
            return x * x * (3.0 - 2.0 * x)
        remaining = self.duration_h - h
        if remaining < 12.0:
            x = remaining / 12.0
            return x * x * (3.0 - 2.0 * x)
        return 1.0


class LivestockCollarModel(DeviceModel):
    """Collar on a dairy cow (see module docstring).

    ``milking_hours`` are local clock hours (3x daily by default, as in large Shuozhou
    dairies); ``baseline_temp_c`` [°C] and ``rumination_min_per_day`` [min] default to
    individual values drawn from the seed.
    """

    __slots__ = (
        "_activity_factor",
        "_buckets",
        "_fever",
        "_hour_id",
        "_pending_fever",
        "_rum_scale",
        "animal_id",
        "baseline_temp_c",
        "milking_hours",
        "rumination_min_per_day",
    )

    device_type: ClassVar[str] = "livestock_collar"

    def __init__(
        self,
        seed: int,
        driver: WeatherDriver,
        *,
        animal_id: str | None = None,
        milking_hours: Sequence[float] = (6.0, 14.0, 22.0),
        baseline_temp_c: float | None = None,
        rumination_min_per_day: float | None = None,
    ) -> None:
        super().__init__(seed, driver)
        rng = self._rng
        self.animal_id = animal_id
        self.milking_hours = tuple(float(h) % 24.0 for h in milking_hours)
        self.baseline_temp_c = (
            clamp(rng.normal(38.6, 0.1), 38.4, 38.8) if baseline_temp_c is None else baseline_temp_c
        )
        self.rumination_min_per_day = (
            clamp(rng.normal(480.0, 30.0), 410.0, 540.0)
            if rumination_min_per_day is None
            else rumination_min_per_day
        )
        self._activity_factor = rng.uniform(0.8, 1.2)
        self._rum_scale = self.rumination_min_per_day / (
            1440.0 * _rumination_norm(self.milking_hours)
        )
        self._buckets = array("d", bytes(8 * _BUCKETS))
        self._hour_id = 0
        self._fever: Fever | None = None
        self._pending_fever: tuple[float, float, float] | None = None

    # ------------------------------------------------------------------ illness

    def make_sick(
        self,
        ts_ms: int | None = None,
        *,
        peak_temp_c: float = 40.3,
        onset_h: float = 6.0,
        duration_h: float = 72.0,
    ) -> None:
        """Start a fever at ``ts_ms`` (default: the last reading, or the first if none yet).

        Body temperature rises to ``peak_temp_c`` [°C, 39.8-41] over ``onset_h`` [h],
        rumination drops by ~60 % and activity by ~35 %; all recover over the last 12 h of
        ``duration_h`` [h].
        """
        if not 39.8 <= peak_temp_c <= 41.0:
            raise ValueError("fever peak must be within 39.8-41.0 °C")
        if onset_h <= 0.0 or duration_h < onset_h + 12.0:
            raise ValueError("need onset_h > 0 and duration_h >= onset_h + 12")
        start = ts_ms if ts_ms is not None else self._last_ms
        if start is None:
            self._pending_fever = (peak_temp_c, onset_h, duration_h)
        else:
            self._fever = Fever(start, peak_temp_c, onset_h, duration_h)

    def recover(self) -> None:
        """End any fever at once."""
        self._fever = None
        self._pending_fever = None

    def fever_severity(self, ts_ms: int) -> float:
        """Fever intensity 0..1 at ``ts_ms``."""
        return 0.0 if self._fever is None else self._fever.severity(ts_ms)

    # ------------------------------------------------------------------ readings

    def next_readings(self, ts_ms: int) -> dict[str, float]:
        """Body temperature [°C], activity index [1] and rumination of the last 24 h [min]."""
        last = self._last_ms
        self._advance(ts_ms)
        if self._pending_fever is not None:
            peak, onset, duration = self._pending_fever
            self._fever = Fever(ts_ms, peak, onset, duration)
            self._pending_fever = None
        if last is None:
            self._prefill(ts_ms)
        else:
            self._ruminate(last, ts_ms)
        sick = self.fever_severity(ts_ms)
        rng = self._rng
        hour = _local_hour(ts_ms)
        mh = self.milking_hours

        # body temperature: daily cycle (min ~07h, max ~19h) + heat stress + fever
        temp = self.baseline_temp_c + 0.18 * math.cos(_TWO_PI * (hour - 19.0) / 24.0)
        air = self.driver.at(ts_ms).air_temp_c
        if air > 22.0:
            temp += min(0.5, 0.035 * (air - 22.0))
        fever = self._fever
        if fever is not None and sick > 0.0:
            temp += sick * max(0.0, fever.peak_c - temp)
        temp += rng.normal(0.0, 0.05)

        # activity: resting base, parlour walks, feeding, a little more by day
        activity = 45.0 + 260.0 * _milking(hour, mh) + 140.0 * _feeding(hour, mh)
        activity += 35.0 * _bump(hour, 12.0, 4.0)
        activity *= self._activity_factor * math.exp(rng.normal(0.0, 0.2)) * (1.0 - 0.35 * sick)

        return {
            "body_temp_c": round(clamp(temp, *RANGES["body_temp_c"]), 2),
            "activity_index": round(clamp(activity, *RANGES["activity_index"]), 1),
            "rumination_min": round(
                clamp(self._rolling_total(ts_ms), *RANGES["rumination_min"]), 1
            ),
        }

    # ------------------------------------------------------------------ rumination

    def _rate(self, ts_ms: int) -> float:
        """Fraction of time spent ruminating around ``ts_ms`` [0..1]."""
        shape = _rumination_shape(_local_hour(ts_ms), self.milking_hours)
        return clamp(self._rum_scale * shape * (1.0 - 0.6 * self.fever_severity(ts_ms)), 0.0, 0.95)

    def _prefill(self, ts_ms: int) -> None:
        """Fill the previous 24 h with the animal's usual pattern."""
        hour_id = ts_ms // HOUR_MS
        self._hour_id = hour_id
        rng = self._rng
        buckets = self._buckets
        for back in range(_BUCKETS - 1, 0, -1):
            h = hour_id - back
            minutes = 60.0 * self._rate(h * HOUR_MS + HOUR_MS // 2) * (1.0 + rng.normal(0.0, 0.08))
            buckets[h % _BUCKETS] = clamp(minutes, 0.0, 60.0)
        partial = (ts_ms - hour_id * HOUR_MS) / 60_000.0
        buckets[hour_id % _BUCKETS] = partial * self._rate(ts_ms)

    def _ruminate(self, t0: int, t1: int) -> None:
        """Accumulate rumination minutes of [t0, t1) into hourly buckets."""
        buckets = self._buckets
        rng = self._rng
        if t1 - t0 >= 24 * HOUR_MS:
            self._prefill(t1)
            return
        while t0 < t1:
            hour_id = t0 // HOUR_MS
            if hour_id != self._hour_id:
                # clear the buckets of hours being entered (skipped ones included)
                for h in range(self._hour_id + 1, hour_id + 1):
                    buckets[h % _BUCKETS] = 0.0
                self._hour_id = hour_id
            seg_end = min(t1, (hour_id + 1) * HOUR_MS)
            minutes = (seg_end - t0) / 60_000.0
            rate = self._rate((t0 + seg_end) // 2) * (1.0 + rng.normal(0.0, 0.1))
            buckets[hour_id % _BUCKETS] += clamp(rate, 0.0, 1.0) * minutes
            t0 = seg_end

    def _rolling_total(self, ts_ms: int) -> float:
        """Rumination minutes in (ts - 24 h, ts]: 24 whole buckets, part of the oldest."""
        cur = self._hour_id
        frac = (ts_ms - cur * HOUR_MS) / HOUR_MS
        oldest = self._buckets[(cur - 24) % _BUCKETS]
        return sum(self._buckets) - oldest * frac


class BarnClimateModel(DeviceModel):
    """Climate sensor in a naturally ventilated dairy barn (see module docstring).

    ``stocking`` scales the animal heat/moisture/gas load (1.0: a typical stocked barn).
    """

    __slots__ = ("_co2", "_e", "_nh3", "_scrape_phase_h", "_t", "stocking")

    device_type: ClassVar[str] = "barn_climate"

    def __init__(self, seed: int, driver: WeatherDriver, *, stocking: float | None = None) -> None:
        super().__init__(seed, driver)
        rng = self._rng
        self.stocking = rng.uniform(0.85, 1.15) if stocking is None else stocking
        if self.stocking <= 0:
            raise ValueError("stocking must be positive")
        self._scrape_phase_h = rng.uniform(0.0, 8.0)
        self._t = math.nan
        self._e = 0.0
        self._co2 = 0.0
        self._nh3 = 0.0

    @staticmethod
    def ventilation(t_out_c: float) -> float:
        """Air exchange [1/h]: curtains nearly closed below -5 °C, fans at full above 25 °C."""
        return clamp(5.0 + 15.0 * (t_out_c + 5.0) / 30.0, 5.0, 20.0)

    def next_readings(self, ts_ms: int) -> dict[str, float]:
        """Air temperature [°C], RH [%], NH3 [ppm], CO2 [ppm]."""
        dt_h = self._advance(ts_ms)
        w = self.driver.at(ts_ms)
        s = self.stocking
        vent = self.ventilation(w.air_temp_c)
        t_eq = w.air_temp_c + 50.0 * s / vent
        e_eq = w.vapour_pressure_kpa + 1.2 * s / vent
        co2_eq = 420.0 + 10_000.0 * s / vent
        hour = _local_hour(ts_ms)
        # manure scraped every 8 h: emission climbs between runs
        since_scrape = (hour - self._scrape_phase_h) % 8.0
        emission = 150.0 * s * 1.04 ** (t_eq - 10.0) * (0.75 + 0.5 * since_scrape / 8.0)
        nh3_eq = emission / vent
        if self._t != self._t:  # first reading: start at equilibrium
            self._t, self._e, self._co2, self._nh3 = t_eq, e_eq, co2_eq, nh3_eq
        else:
            a = 1.0 - math.exp(-dt_h / 0.3)
            self._t += (t_eq - self._t) * a
            self._e += (e_eq - self._e) * a
            self._co2 += (co2_eq - self._co2) * a
            self._nh3 += (nh3_eq - self._nh3) * a
        rng = self._rng
        rh = 100.0 * self._e / saturation_vp_kpa(self._t)
        return {
            "air_temp_c": round(clamp(self._t + rng.normal(0.0, 0.15), *RANGES["air_temp_c"]), 2),
            "rh_pct": round(clamp(rh + rng.normal(0.0, 1.0), 5.0, 98.0), 1),
            "nh3_ppm": round(
                clamp(self._nh3 * math.exp(rng.normal(0.0, 0.05)), *RANGES["nh3_ppm"]), 2
            ),
            "co2_ppm": round(clamp(self._co2 + rng.normal(0.0, 25.0), *RANGES["co2_ppm"]), 0),
        }
