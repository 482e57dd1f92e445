"""Dairy-cow collars: body temperature, activity and rumination, with fevers."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from simulators.county_weather import CountyWeather, Weather
from simulators.models._family import F64, I64, Family
from simulators.physics import bump, local_hour
from storage.clock import DAY_MS, HOUR_MS

_TWO_PI = 2.0 * math.pi


class Collars(Family):
    """Dairy-cow collars.

    Body temperature [°C] around an individual 38.4-38.8 baseline with a 0.18 °C daily cycle,
    heat stress above 22 °C outside and rare fevers (``FEVERS_PER_COW_YEAR``: 39.8-41 °C,
    6 h onset, 2-4 days); activity index peaks at the walk to milking (3x daily, per-barn
    times) and at feeding; rumination [min/24 h] is a running mean with a 12 h time constant
    (the mean age of a 24 h window) of the cow's daily norm, depressed 60 % by fever.
    :meth:`start_fever` scripts a fever episode.
    """

    device_type = "livestock_collar"
    decimals = (2, 1, 1)
    FEVERS_PER_COW_YEAR: ClassVar[float] = 0.5
    MILKING_HOURS: ClassVar[tuple[float, ...]] = (6.0, 14.0, 22.0)

    def __init__(self, seed: int, county: NDArray[np.int8], prev_ms: I64,
                 weather: CountyWeather, *, barn: I64) -> None:
        super().__init__(seed, county, prev_ms, weather)
        n, rng = self.n, self.rng
        self.baseline_c = np.clip(rng.normal(38.6, 0.1, n), 38.4, 38.8)
        self.rumination_day_min = np.clip(rng.normal(480.0, 30.0, n), 410.0, 540.0)
        self._activity_factor = rng.uniform(0.8, 1.2, n)
        # barns milk at different times (shifts of -1..+1 h)
        self._shift_h: F64 = (((barn * 7) % 5 - 2) * 0.5).astype(np.float64)
        self.rum24 = self.rumination_day_min * (1.0 + 0.03 * rng.standard_normal(n))
        self.fever_start_ms = np.full(n, np.nan)
        self.fever_peak_c = np.zeros(n)
        self.fever_onset_h = np.ones(n)
        self.fever_duration_h = np.ones(n)
        reports_per_year = 365.25 * DAY_MS / self.interval_ms
        self._p_fever = self.FEVERS_PER_COW_YEAR / reports_per_year

    def start_fever(self, idx: I64, start_ms: int, *, peak_c: float = 40.5,
                    onset_h: float = 6.0, duration_h: float = 72.0) -> None:
        """Cows ``idx`` fall ill at ``start_ms`` [UTC ms]: body temperature rises to
        ``peak_c`` [°C, 39.5-41] over ``onset_h`` [h] and stays for ``duration_h`` [h]."""
        if not 39.5 <= peak_c <= 41.0:
            raise ValueError("a fever peaks between 39.5 and 41.0 °C")
        if onset_h <= 0 or duration_h <= onset_h:
            raise ValueError("a fever needs 0 < onset_h < duration_h")
        self.fever_start_ms[idx] = start_ms
        self.fever_peak_c[idx] = peak_c
        self.fever_onset_h[idx] = onset_h
        self.fever_duration_h[idx] = duration_h

    def recover(self, idx: I64) -> None:
        """Cows ``idx`` are healthy again at once."""
        self.fever_start_ms[idx] = np.nan

    def fever_severity(self, idx: I64, ts_ms: I64) -> F64:
        """0..1 fever intensity (smooth onset, 12 h recovery) at ``ts_ms``."""
        h = (ts_ms - self.fever_start_ms[idx]) / HOUR_MS
        onset, dur = self.fever_onset_h[idx], self.fever_duration_h[idx]
        with np.errstate(invalid="ignore"):
            x_on = np.clip(h / onset, 0.0, 1.0)
            x_off = np.clip((dur - h) / 12.0, 0.0, 1.0)
            sev = np.minimum(x_on * x_on * (3 - 2 * x_on), x_off * x_off * (3 - 2 * x_off))
            sev = np.where((h > 0.0) & (h < dur), sev, 0.0)
        out: F64 = np.nan_to_num(sev, nan=0.0)
        return out

    def _readings(self, idx: I64, ts_ms: I64, w: Weather) -> F64:
        z = self.noise(idx, ts_ms, 4)
        # new fevers: a cow not already ill falls ill with a small probability per report
        h_since = (ts_ms - self.fever_start_ms[idx]) / HOUR_MS
        with np.errstate(invalid="ignore"):
            healthy = ~(h_since < self.fever_duration_h[idx])
        onset = healthy & (self.uniform(idx, ts_ms, 100) < self._p_fever)
        if onset.any():
            sick_idx = idx[onset]
            u = self.uniform(sick_idx, ts_ms[onset], 101)
            self.fever_start_ms[sick_idx] = ts_ms[onset]
            self.fever_peak_c[sick_idx] = 39.8 + 1.2 * u
            self.fever_onset_h[sick_idx] = 4.0 + 4.0 * self.uniform(sick_idx, ts_ms[onset], 102)
            self.fever_duration_h[sick_idx] = 48.0 + 48.0 * self.uniform(
                sick_idx, ts_ms[onset], 103)
        sick = self.fever_severity(idx, ts_ms)
        hour = local_hour(ts_ms)
        shift = self._shift_h[idx]

        temp = self.baseline_c[idx] + 0.18 * np.cos(_TWO_PI * (hour - 19.0) / 24.0)
        temp += np.clip(0.035 * (w.air_temp_c - 22.0), 0.0, 0.5)
        temp += sick * np.maximum(0.0, self.fever_peak_c[idx] - temp)
        temp += 0.05 * z[:, 0]

        milking = np.zeros(len(idx))
        feeding = np.zeros(len(idx))
        for m in self.MILKING_HOURS:
            milking = np.maximum(milking, bump(hour, m + shift + 0.25, 0.35))
            feeding = np.maximum(feeding, bump(hour, m + shift + 1.25, 0.7))
        activity = 45.0 + 260.0 * milking + 140.0 * feeding + 35.0 * bump(hour, 12.0, 4.0)
        activity *= self._activity_factor[idx] * np.exp(0.2 * z[:, 1]) * (1.0 - 0.35 * sick)

        target = self.rumination_day_min[idx] * (1.0 - 0.6 * sick) * (1.0 + 0.08 * z[:, 2])
        rum = self.rum24[idx]
        rum += (target - rum) * (1.0 - math.exp(-self.dt_h / 12.0))
        self.rum24[idx] = rum
        return np.column_stack((temp, activity, rum + 3.0 * z[:, 3]))
