"""Vectorised device models for the city-scale simulation: one numpy array per quantity.

The per-device models (:mod:`simulators.soil`, ...) keep Python objects per device, too slow
for 200,000 devices. Here each device family is one object holding arrays, and
:meth:`Family.step` advances a set of its devices by one report interval and returns their
readings (canonical units, inside the catalogue's valid ranges, rounded as the per-device
models round). The equations are those of the per-device models, vectorised, with one
simplification each where noted (rumination as a running mean, rain per county).

Outside weather comes from the same seeded :class:`~simulators.weather.WeatherDriver` per
county, looked up once per (county, minute) and broadcast to the devices.

Noise is counter-based: a device's random draws at its ``k``-th report are a hash of (seed,
family, device, k), so the readings do not depend on how the simulated time is cut into
windows (1 s real-time ticks or 60 s accelerated ones give identical records).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from devices.catalogue import DEVICE_TYPES
from simulators.models import DAY_MS, HOUR_MS, RANGES, derive_seed
from simulators.weather import WeatherDriver

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
U64 = NDArray[np.uint64]

_CST_MS = 8 * HOUR_MS  # China Standard Time offset
_TWO_PI = 2.0 * math.pi
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
MU_M2 = 666.67  # 1 亩 [m²]


# --------------------------------------------------------------------------- noise


def _mix64(x: U64) -> U64:
    """SplitMix64 finaliser, element-wise (uint64 arithmetic wraps modulo 2^64)."""
    x = (x ^ (x >> _S30)) * _MIX1
    x = (x ^ (x >> _S27)) * _MIX2
    out: U64 = x ^ (x >> _S31)
    return out


def record_keys(family_seed: int, device: I64, report: I64) -> U64:
    """One 64-bit key per (device, report number) of a family seeded with ``family_seed``."""
    d = device.astype(np.uint64) * np.uint64(_GOLDEN)
    k = _mix64(np.uint64(family_seed & _M64) ^ d)
    return _mix64(k + report.astype(np.uint64) * np.uint64(0xD1B54A32D192ED03))


def uniforms(keys: U64, stream: int) -> F64:
    """Uniform draws in (0, 1), one per key, independent across ``stream`` numbers."""
    x = _mix64(keys + np.uint64((stream + 1) * _GOLDEN & _M64))
    out: F64 = ((x >> _S11).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)
    return out


def normals(keys: U64, count: int) -> F64:
    """``count`` standard-normal draws per key, shape ``(len(keys), count)`` (Box-Muller)."""
    out = np.empty((len(keys), count))
    for j in range(0, count, 2):
        r = np.sqrt(-2.0 * np.log(uniforms(keys, 2 * j)))
        theta = _TWO_PI * uniforms(keys, 2 * j + 1)
        out[:, j] = r * np.cos(theta)
        if j + 1 < count:
            out[:, j + 1] = r * np.sin(theta)
    return out


# --------------------------------------------------------------------------- weather


def saturation_vp(temp_c: F64) -> F64:
    """Saturation vapour pressure over water [kPa] at ``temp_c`` [°C] (Tetens/FAO-56)."""
    out: F64 = 0.6108 * np.exp(17.27 * temp_c / (temp_c + 237.3))
    return out


def local_hour(ts_ms: I64) -> F64:
    """China Standard Time clock hour [0, 24) of UTC epoch ms."""
    out: F64 = ((ts_ms + _CST_MS) % DAY_MS) / HOUR_MS
    return out


def local_day(ts_ms: I64) -> I64:
    """China Standard Time day number since 1970-01-01."""
    out: I64 = (ts_ms + _CST_MS) // DAY_MS
    return out


def _months(day: I64) -> I64:
    """Calendar month 1..12 of day numbers since 1970-01-01."""
    m = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    out: I64 = m % 12 + 1
    return out


_WEATHER_FIELDS = ("air_temp_c", "rh_pct", "wind_speed_m_s", "solar_rad_w_m2", "pressure_kpa",
                   "et0_mm_h", "daily_min_c", "daily_max_c", "sunrise_h", "sunset_h", "doy",
                   "vapour_pressure_kpa")


@dataclass(frozen=True, slots=True)
class Weather:
    """Outside weather per device (arrays aligned with the devices asked for).

    Temperatures [°C], RH [%], wind at 10 m [m/s], global radiation [W/m²], pressure [kPa],
    FAO-56 hourly ET0 [mm/h], sunrise/sunset [local h], day of year, vapour pressure [kPa].
    """

    air_temp_c: F64
    rh_pct: F64
    wind_speed_m_s: F64
    solar_rad_w_m2: F64
    pressure_kpa: F64
    et0_mm_h: F64
    daily_min_c: F64
    daily_max_c: F64
    sunrise_h: F64
    sunset_h: F64
    doy: F64
    vapour_pressure_kpa: F64

    @property
    def daily_mean_c(self) -> F64:
        """Mean of the day's minimum and maximum [°C]."""
        out: F64 = 0.5 * (self.daily_min_c + self.daily_max_c)
        return out


class CountyWeather:
    """The six counties' :class:`WeatherDriver` s, queried per (county, minute) in bulk."""

    def __init__(self, drivers: Sequence[WeatherDriver]) -> None:
        self.drivers = tuple(drivers)
        self._skip: dict[tuple[int, int], bool] = {}

    def at(self, county: NDArray[np.int8], ts_ms: I64) -> Weather:
        """Weather of each device's county at its time (quantised to the drivers' minute)."""
        n_c = len(self.drivers)
        key = (ts_ms // 60_000) * n_c + county
        uniq, inv = np.unique(key, return_inverse=True)
        table = np.empty((len(uniq), len(_WEATHER_FIELDS)))
        for row, k in enumerate(uniq.tolist()):
            w = self.drivers[k % n_c].at((k // n_c) * 60_000)
            table[row] = (w.air_temp_c, w.rh_pct, w.wind_speed_m_s, w.solar_rad_w_m2,
                          w.pressure_kpa, w.et0_mm_h, w.daily_min_c, w.daily_max_c, w.sunrise_h,
                          w.sunset_h, w.doy, w.vapour_pressure_kpa)
        cols = table[inv.reshape(-1)]
        return Weather(*(np.ascontiguousarray(cols[:, j]) for j in range(len(_WEATHER_FIELDS))))

    def rain_mm(self, county: NDArray[np.int8], t0_ms: I64, t1_ms: I64) -> F64:
        """Rain [mm] of each device's county in [t0, t1)."""
        out = np.zeros(len(county))
        for i, (c, a, b) in enumerate(zip(county.tolist(), t0_ms.tolist(), t1_ms.tolist(),
                                          strict=True)):
            out[i] = self.drivers[c].rain_between(a, b)
        return out

    def wet_day_before(self, county: NDArray[np.int8], day: I64,
                       threshold_mm: float) -> NDArray[np.bool_]:
        """Whether at least ``threshold_mm`` [mm] fell in the county on the local day before."""
        out = np.zeros(len(county), dtype=bool)
        for i, (c, d) in enumerate(zip(county.tolist(), day.tolist(), strict=True)):
            hit = self._skip.get((c, d))
            if hit is None:
                if len(self._skip) > 4096:
                    self._skip.clear()
                start = (d - 1) * DAY_MS - _CST_MS
                hit = self.drivers[c].rain_between(start, start + DAY_MS) >= threshold_mm
                self._skip[(c, d)] = hit
            out[i] = hit
        return out


# --------------------------------------------------------------------------- families


class Battery:
    """Vectorised :class:`simulators.models.Battery`: 1-cell Li-ion [V] with a solar panel."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.soc = rng.uniform(0.55, 0.95, n)  # state of charge [0..1]
        self._drain_per_h = rng.uniform(0.0009, 0.0015, n)  # [1/h]
        self._charge_per_wh = rng.uniform(0.6, 1.4, n) * 1.1e-5  # [1/(Wh/m²)]

    def step(self, idx: I64, dt_h: float, solar_w_m2: F64) -> None:
        """Advance devices ``idx`` by ``dt_h`` [h] under ``solar_w_m2`` [W/m²]."""
        soc = self.soc[idx]
        charge = self._charge_per_wh[idx] * solar_w_m2 * dt_h * (1.0 - 0.7 * soc * soc)
        self.soc[idx] = np.clip(soc + charge - self._drain_per_h[idx] * dt_h, 0.0, 1.0)

    def voltage(self, idx: I64, z: F64) -> F64:
        """Terminal voltage [V] with ``z`` standard-normal noise (σ 4 mV)."""
        soc = self.soc[idx]
        out: F64 = 3.3 + 0.55 * soc + 0.35 * soc**4 + 0.004 * z
        return out


class Family(ABC):
    """All devices of one catalogue type: state arrays indexed by the device's family index.

    Every device reports every ``interval_ms``; :meth:`step` is called once per report with
    the devices' report times. ``prev_ms`` [UTC ms] is each device's report before the first
    simulated one (initial states are set for then).
    """

    device_type: ClassVar[str]
    #: decimals each quantity is rounded to (as the per-device models round)
    decimals: ClassVar[tuple[int, ...]]

    def __init__(self, seed: int, county: NDArray[np.int8], prev_ms: I64,
                 weather: CountyWeather) -> None:
        self.n = len(county)
        self.county = county
        self.weather = weather
        self.interval_ms = DEVICE_TYPES[self.device_type].report_interval_s * 1000
        self.dt_h = self.interval_ms / HOUR_MS
        self.quantities = DEVICE_TYPES[self.device_type].quantities
        self._seed = derive_seed(seed, "city", self.device_type)
        self.rng = np.random.default_rng(derive_seed(seed, "city-traits", self.device_type))
        lo, hi = zip(*(RANGES[q] for q in self.quantities), strict=True)
        self._lo = np.array(lo)
        self._hi = np.array(hi)

    def noise(self, idx: I64, ts_ms: I64, count: int) -> F64:
        """``count`` standard normals per device for its report at ``ts_ms``."""
        return normals(record_keys(self._seed, idx, ts_ms // self.interval_ms), count)

    def uniform(self, idx: I64, ts_ms: I64, stream: int) -> F64:
        """One uniform (0, 1) per device for its report at ``ts_ms`` (``stream`` >= 100)."""
        return uniforms(record_keys(self._seed, idx, ts_ms // self.interval_ms), stream)

    def step(self, idx: I64, ts_ms: I64) -> F64:
        """Advance devices ``idx`` to their reports at ``ts_ms``; readings ``(len, quantities)``.

        Values are clipped to the catalogue's ranges and rounded; ``FloatingPointError`` if a
        model produced a non-finite value (a bug, never sent).
        """
        values = self._readings(idx, ts_ms, self.weather.at(self.county[idx], ts_ms))
        if not np.isfinite(values).all():
            raise FloatingPointError(f"{self.device_type}: non-finite reading")
        np.clip(values, self._lo, self._hi, out=values)
        for j, d in enumerate(self.decimals):
            values[:, j] = np.round(values[:, j], d)
        return values

    @abstractmethod
    def _readings(self, idx: I64, ts_ms: I64, w: Weather) -> F64:
        """Advance state by one interval and return raw readings ``(len(idx), quantities)``."""


class Collars(Family):
    """Dairy-cow collars (:class:`simulators.livestock.LivestockCollarModel`, vectorised).

    Body temperature [°C] around an individual 38.4-38.8 baseline with a 0.18 °C daily cycle,
    heat stress above 22 °C outside and rare fevers (``FEVERS_PER_COW_YEAR``: 39.8-41 °C,
    6 h onset, 2-4 days); activity index peaks at the walk to milking (3x daily, per-barn
    times) and at feeding; rumination [min/24 h] is a running mean with a 12 h time constant
    (the mean age of a 24 h window) of the cow's daily norm, depressed 60 % by fever.
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
            milking = np.maximum(milking, _bump(hour, m + shift + 0.25, 0.35))
            feeding = np.maximum(feeding, _bump(hour, m + shift + 1.25, 0.7))
        activity = 45.0 + 260.0 * milking + 140.0 * feeding + 35.0 * _bump(hour, 12.0, 4.0)
        activity *= self._activity_factor[idx] * np.exp(0.2 * z[:, 1]) * (1.0 - 0.35 * sick)

        target = self.rumination_day_min[idx] * (1.0 - 0.6 * sick) * (1.0 + 0.08 * z[:, 2])
        rum = self.rum24[idx]
        rum += (target - rum) * (1.0 - math.exp(-self.dt_h / 12.0))
        self.rum24[idx] = rum
        return np.column_stack((temp, activity, rum + 3.0 * z[:, 3]))


def _bump(hour: F64, centre: F64 | float, width_h: float) -> F64:
    """Gaussian bump in clock hours (wrapping midnight)."""
    d = (hour - centre + 12.0) % 24.0 - 12.0
    out: F64 = np.exp(-0.5 * (d / width_h) ** 2)
    return out


class BarnClimate(Family):
    """Barn sensors (:class:`simulators.livestock.BarnClimateModel`, vectorised): a naturally
    ventilated free-stall barn; less ventilation in the cold keeps heat, CO2 and NH3 in."""

    device_type = "barn_climate"
    decimals = (2, 1, 2, 0)

    def __init__(self, seed: int, county: NDArray[np.int8], prev_ms: I64,
                 weather: CountyWeather) -> None:
        super().__init__(seed, county, prev_ms, weather)
        self.stocking = self.rng.uniform(0.85, 1.15, self.n)
        self._scrape_phase_h = self.rng.uniform(0.0, 8.0, self.n)
        idx = np.arange(self.n)
        self.t_c, self.e_kpa, self.co2_ppm, self.nh3_ppm = self._equilibrium(
            idx, prev_ms, weather.at(county, prev_ms))

    def _equilibrium(self, idx: I64, ts_ms: I64, w: Weather) -> tuple[F64, F64, F64, F64]:
        s = self.stocking[idx]
        vent = np.clip(5.0 + 15.0 * (w.air_temp_c + 5.0) / 30.0, 5.0, 20.0)  # air changes [1/h]
        t_eq = w.air_temp_c + 50.0 * s / vent
        e_eq = w.vapour_pressure_kpa + 1.2 * s / vent
        co2_eq = 420.0 + 10_000.0 * s / vent
        since_scrape = (local_hour(ts_ms) - self._scrape_phase_h[idx]) % 8.0
        emission = 150.0 * s * 1.04 ** (t_eq - 10.0) * (0.75 + 0.5 * since_scrape / 8.0)
        return t_eq, e_eq, co2_eq, emission / vent

    def _readings(self, idx: I64, ts_ms: I64, w: Weather) -> F64:
        t_eq, e_eq, co2_eq, nh3_eq = self._equilibrium(idx, ts_ms, w)
        a = 1.0 - math.exp(-self.dt_h / 0.3)
        t = self.t_c[idx] + (t_eq - self.t_c[idx]) * a
        e = self.e_kpa[idx] + (e_eq - self.e_kpa[idx]) * a
        co2 = self.co2_ppm[idx] + (co2_eq - self.co2_ppm[idx]) * a
        nh3 = self.nh3_ppm[idx] + (nh3_eq - self.nh3_ppm[idx]) * a
        self.t_c[idx], self.e_kpa[idx], self.co2_ppm[idx], self.nh3_ppm[idx] = t, e, co2, nh3
        z = self.noise(idx, ts_ms, 4)
        rh = np.clip(100.0 * e / saturation_vp(t) + z[:, 1], 5.0, 98.0)
        return np.column_stack((t + 0.15 * z[:, 0], rh, nh3 * np.exp(0.05 * z[:, 2]),
                                co2 + 25.0 * z[:, 3]))


# greenhouse lumped thermal parameters (simulators.greenhouse) [1/h], solar [°C/h per W/m²]
_U_FILM, _U_QUILT, _LEAK, _LEAK_QUILT, _VENT = 0.8, 0.15, 0.1, 0.05, 20.0
_H_MASS, _SOLAR_AIR, _MASS_AIR, _SOLAR_MASS, _MASS_LOSS = 1.5, 0.1, 0.12, 0.0035, 0.025
_GROUND_EXCESS_C, _NIGHT_SETPOINT_C, _CO2_OUT, _CO2_COMP, _PAR_PER_W = 8.0, 16.0, 420.0, 80.0, 2.05


class Greenhouses(Family):
    """Solar-greenhouse climate nodes (:class:`simulators.greenhouse.GreenhouseClimateModel`,
    vectorised): air + heat-storing mass, quilt in the cold season, proportional roof vents,
    transpiration/condensation humidity, CO2 respiration/photosynthesis, leaf wetness.

    States start from a 48 h spin-up (30 min steps) before each node's first report.
    """

    device_type = "greenhouse_climate"
    decimals = (2, 1, 0, 1, 1, 3)

    def __init__(self, seed: int, county: NDArray[np.int8], prev_ms: I64,
                 weather: CountyWeather) -> None:
        super().__init__(seed, county, prev_ms, weather)
        n, rng = self.n, self.rng
        self.vent_setpoint_c = rng.uniform(26.5, 29.0, n)
        self.heating_setpoint_c = 5.0
        self.transmissivity = rng.uniform(0.6, 0.75, n)
        self._resp = rng.uniform(40.0, 65.0, n)  # soil + crop respiration [ppm/h]
        self.battery = Battery(rng, n)
        idx = np.arange(n)
        start = prev_ms - 48 * HOUR_MS
        w0 = weather.at(county, start)
        mean0 = w0.daily_mean_c
        self.t_mass = mean0 + np.where(mean0 < 12.0, 12.0, 5.0)
        self.t_air = self.t_mass.copy()
        self.e_in = 0.85 * saturation_vp(self.t_air)
        self.co2 = np.full(n, 600.0)
        self.leaf_wet = np.zeros(n)
        self.vent = np.zeros(n)
        for k in range(1, 97):
            ts = start + k * (HOUR_MS // 2)
            self._advance(idx, ts, 0.5, weather.at(county, ts))

    @staticmethod
    def _quilt_down(ts_ms: I64, w: Weather) -> NDArray[np.bool_]:
        """Quilt down: cold season, 1 h before sunset to 1.5 h after sunrise."""
        h = local_hour(ts_ms)
        out: NDArray[np.bool_] = (w.daily_mean_c <= 12.0) & (
            (h < w.sunrise_h + 1.5) | (h > w.sunset_h - 1.0))
        return out

    def _advance(self, idx: I64, ts_ms: I64, dt_h: float, w: Weather) -> F64:
        """One step of ``dt_h`` [h]; returns the radiation inside [W/m²]."""
        t_out = w.air_temp_c
        quilt = self._quilt_down(ts_ms, w)
        solar_in = np.where(quilt, 0.0, w.solar_rad_w_m2 * self.transmissivity[idx])
        u_loss = np.where(quilt, _U_QUILT, _U_FILM)
        leak = np.where(quilt, _LEAK_QUILT, _LEAK)
        t_mass = self.t_mass[idx]
        gains = _SOLAR_AIR * solar_in + _H_MASS * t_mass
        k0 = _H_MASS + u_loss + leak
        t_closed = (gains + (u_loss + leak) * t_out) / k0
        night = solar_in <= 0.0
        sp = np.where(night, _NIGHT_SETPOINT_C, self.vent_setpoint_c[idx])
        target = np.where((w.daily_mean_c > 15.0) & night, 0.06, 0.0)
        t_target = sp + np.minimum(2.0, 0.15 * (t_closed - sp))
        gap = t_target - t_out
        need = (t_closed - t_target) * k0 / (_VENT * np.where(gap > 0.0, gap, 1.0))
        opened = np.where(gap > 0.0, np.maximum(target, np.minimum(1.0, need)), 1.0)
        target = np.where(t_closed > sp, opened, target)
        vent = target + (self.vent[idx] - target) * math.exp(-dt_h / 0.15)
        k = k0 + _VENT * vent
        t_eq = np.maximum((gains + (u_loss + leak + _VENT * vent) * t_out) / k,
                          self.heating_setpoint_c)
        t_air = t_eq + (self.t_air[idx] - t_eq) * np.exp(-k * dt_h)
        t_mass = t_mass + (_MASS_AIR * (t_air - t_mass) + _SOLAR_MASS * solar_in
                           - _MASS_LOSS * (t_mass - w.daily_mean_c - _GROUND_EXCESS_C)) * dt_h
        # vapour [kPa]: transpiration vs ventilation, capped by condensation on the film
        k_e = leak + _VENT * vent
        e_eq = w.vapour_pressure_kpa + (0.8 + 0.08 * np.maximum(0.0, t_air - 10.0)
                                        + 5.0 * solar_in / 500.0) / k_e
        e_in = e_eq + (self.e_in[idx] - e_eq) * np.exp(-np.maximum(k_e, 1.0) * dt_h)
        film_drop = np.where(quilt, 1.0, 0.3 * (t_air - t_out) + np.where(night, 0.8, 0.0))
        e_in = np.minimum(e_in, 0.99 * saturation_vp(t_air - np.maximum(0.0, film_drop)))
        # CO2 [ppm]: respiration, photosynthesis, exchange
        par = solar_in * _PAR_PER_W
        photo = 0.8 * par / (par + 400.0)
        k_c = leak + 0.05 + _VENT * vent
        resp = self._resp[idx] * (1.0 + 0.03 * (t_air - 15.0))
        c_eq = (resp + k_c * _CO2_OUT + photo * _CO2_COMP) / (k_c + photo)
        co2 = c_eq + (self.co2[idx] - c_eq) * np.exp(-(k_c + photo) * dt_h)
        # leaf wetness [%]: wets when RH > ~91 %, dries faster in light
        rh = 100.0 * e_in / saturation_vp(t_air)
        wet_target = 100.0 / (1.0 + np.exp(-(rh - 91.0) / 1.2))
        leaf = self.leaf_wet[idx]
        rate = np.where(wet_target > leaf, 2.0, 1.5 + 0.01 * par)
        leaf = wet_target + (leaf - wet_target) * np.exp(-rate * dt_h)
        self.vent[idx], self.t_air[idx], self.t_mass[idx] = vent, t_air, t_mass
        self.e_in[idx], self.co2[idx], self.leaf_wet[idx] = e_in, co2, leaf
        self.battery.step(idx, dt_h, solar_in)
        out: F64 = solar_in
        return out

    def _readings(self, idx: I64, ts_ms: I64, w: Weather) -> F64:
        solar_in = self._advance(idx, ts_ms, self.dt_h, w)
        z = self.noise(idx, ts_ms, 6)
        t_air = self.t_air[idx]
        rh = np.clip(100.0 * self.e_in[idx] / saturation_vp(t_air) + 0.7 * z[:, 1], 5.0, 100.0)
        par = solar_in * _PAR_PER_W * (1.0 + 0.02 * z[:, 3])
        return np.column_stack((t_air + 0.1 * z[:, 0], rh, self.co2[idx] + 6.0 * z[:, 2], par,
                                self.leaf_wet[idx] + 0.5 * z[:, 4],
                                self.battery.voltage(idx, z[:, 5])))


def _crop_coefficient(doy: F64) -> F64:
    """Seasonal ET coefficient: bare/stubble in winter, full maize canopy in July-August."""
    d = (doy - 205.0 + 182.625) % 365.25 - 182.625
    out: F64 = 0.35 + 0.7 * np.exp(-((d / 50.0) ** 2))
    return out


class IrrigationPlan:
    """Sessions of the metered (irrigated) fields: every ``EVERY_DAYS`` local days (per-field
    offset) from a per-field hour (5:00-8:00) for 1.5-3 h at 15-35 m³/h, May-September,
    skipped when at least ``SKIP_AFTER_RAIN_MM`` fell in the county the local day before.

    Field flow meters measure these sessions and the fields' soil probes receive the same
    water, so irrigation shows in both.
    """

    EVERY_DAYS: ClassVar[int] = 4
    MONTHS: ClassVar[tuple[int, ...]] = (5, 6, 7, 8, 9)
    SKIP_AFTER_RAIN_MM: ClassVar[float] = 5.0

    def __init__(self, seed: int, county: NDArray[np.int8], area_mu: F64,
                 weather: CountyWeather) -> None:
        rng = np.random.default_rng(derive_seed(seed, "city-irrigation"))
        n = len(county)
        self.county = county
        self.area_mu = area_mu
        self.weather = weather
        self.start_h = 5.0 + 0.5 * rng.integers(0, 7, n)
        self.duration_h = rng.uniform(1.5, 3.0, n)
        self.rate_m3_h = rng.uniform(15.0, 35.0, n)
        self._offset = rng.integers(0, self.EVERY_DAYS, n)

    def _session(self, field: I64, ts_ms: I64) -> tuple[I64, I64]:
        """[start, end) [UTC ms] of each field's session on the local day of ``ts_ms``
        (an empty interval when it does not irrigate that day)."""
        day = local_day(ts_ms)
        start = day * DAY_MS - _CST_MS + (self.start_h[field] * HOUR_MS).astype(np.int64)
        end = start + (self.duration_h[field] * HOUR_MS).astype(np.int64)
        on = np.isin(_months(day), self.MONTHS) & ((day + self._offset[field])
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
        return out

    def flow_m3_h(self, field: I64, ts_ms: I64) -> F64:
        """Flow [m³/h] into each field at ``ts_ms``."""
        start, end = self._session(field, ts_ms)
        out: F64 = np.where((start <= ts_ms) & (ts_ms < end), self.rate_m3_h[field], 0.0)
        return out


class SoilProbes(Family):
    """Soil-moisture probes (:class:`simulators.soil.SoilMoistureModel`, vectorised).

    A 10 cm slab at ``depth_cm``: loses water to ET (ET0 × seasonal Kc × stress, a share
    shrinking with depth), gains rain/snow-melt/irrigation left over after refilling the soil
    above, with a depth-dependent lag; drains above field capacity. Soil temperature is the
    damped, delayed daily wave; EC rises as the soil dries. ``field`` indexes the
    :class:`IrrigationPlan` (-1: rain-fed dryland).
    """

    device_type = "soil_moisture"
    decimals = (2, 2, 3, 3)

    def __init__(self, seed: int, county: NDArray[np.int8], prev_ms: I64,
                 weather: CountyWeather, *, depth_cm: F64, field: I64,
                 irrigation: IrrigationPlan | None) -> None:
        super().__init__(seed, county, prev_ms, weather)
        n, rng = self.n, self.rng
        self.depth_cm = depth_cm
        self.field = field
        self.irrigation = irrigation
        self.wilting_point_pct = rng.uniform(9.0, 12.0, n)
        self.field_capacity_pct = rng.uniform(27.0, 33.0, n)
        self.saturation_pct = rng.uniform(42.0, 47.0, n)
        wp, fc = self.wilting_point_pct, self.field_capacity_pct
        self.vwc_pct = wp + (fc - wp) * rng.uniform(0.35, 0.8, n)  # true water content [%]
        z_top_cm = np.maximum(0.0, depth_cm - 5.0)
        self._z_top_mm = 10.0 * z_top_cm
        self._share = 0.35 * np.exp(-depth_cm / 30.0)
        self._share_above = 1.04 * (1.0 - np.exp(-z_top_cm / 30.0))
        self._deficit_above = np.maximum(0.0, fc - self.vwc_pct) / 100.0 * self._z_top_mm
        self._lag_h = 0.3 + depth_cm / 6.0
        self._pending = np.zeros(n)  # water on its way down [mm]
        self.snow_mm = np.zeros(n)
        self._offset = rng.normal(0.0, 0.8, n)  # calibration offset [% vol]
        self._ec_base = 0.25 * np.exp(rng.normal(0.0, 0.45, n))
        self._ec_drift = np.zeros(n)
        self._t_mean = weather.at(county, prev_ms).daily_mean_c + 1.5
        self.battery = Battery(rng, n)
        self.irrigated_mm = np.zeros(n)  # total irrigation received [mm]

    def _readings(self, idx: I64, ts_ms: I64, w: Weather) -> F64:
        dt = self.dt_h
        t0 = ts_ms - self.interval_ms
        precip = self.weather.rain_mm(self.county[idx], t0, ts_ms)
        z = self.noise(idx, ts_ms, 6)
        wp, fc = self.wilting_point_pct[idx], self.field_capacity_pct[idx]
        theta = self.vwc_pct[idx]
        snow = self.snow_mm[idx]
        t_mean = self._t_mean[idx]
        # precipitation: snow below ~0.5 °C, melting 3 mm/°C/day above 0 °C
        cold = w.air_temp_c < 0.5
        snow = snow + np.where(cold, precip, 0.0)
        water_in = np.where(cold, 0.0, precip)
        melt = np.where(w.air_temp_c > 0.0, np.minimum(snow, 0.125 * w.air_temp_c * dt), 0.0)
        snow -= melt
        water_in += melt
        if self.irrigation is not None:
            field = self.field[idx]
            wet = field >= 0
            if wet.any():
                f = field[wet]
                mm = self.irrigation.delivered_m3(f, t0[wet], ts_ms[wet]) / (
                    self.irrigation.area_mu[f] * MU_M2) * 1000.0
                water_in[wet] += mm
                self.irrigated_mm[idx[wet]] += mm
        # evapotranspiration [mm] with water stress below half the available water
        et = w.et0_mm_h * _crop_coefficient(w.doy) * dt
        et = np.where((t_mean < 0.0) | (snow > 1.0), 0.1 * et, et)
        ks = np.clip((theta - wp) / (0.5 * (fc - wp)), 0.0, 1.0)
        theta = theta - et * ks * self._share[idx]
        d_max = (fc - wp) / 100.0 * self._z_top_mm[idx]
        deficit = np.minimum(d_max, self._deficit_above[idx] + et * ks * self._share_above[idx])
        fill = np.minimum(deficit, water_in)
        self._deficit_above[idx] = deficit - fill
        pending = self._pending[idx] + water_in - fill
        release = pending * (1.0 - np.exp(-dt / self._lag_h[idx]))
        self._pending[idx] = pending - release
        theta = theta + release
        theta = np.where(theta > fc, theta - (theta - fc) * (1.0 - math.exp(-dt / 18.0)), theta)
        theta = np.clip(theta, wp, self.saturation_pct[idx])
        self.vwc_pct[idx] = theta
        self.snow_mm[idx] = snow
        depth = self.depth_cm[idx]
        t_mean = t_mean + (w.daily_mean_c + 1.5 - t_mean) * (1.0 - np.exp(-dt / (12.0 + 2.4 * depth)))
        self._t_mean[idx] = t_mean
        drift = self._ec_drift[idx]
        drift += -drift * dt / 240.0 + 0.004 * math.sqrt(dt) * z[:, 0]
        self._ec_drift[idx] = drift
        self.battery.step(idx, dt, w.solar_rad_w_m2)

        zr = depth / 10.0  # damping depth 10 cm
        amp = 0.65 * (w.daily_max_c - w.daily_min_c) * np.exp(-zr)
        amp = np.where(snow > 5.0, 0.3 * amp, amp)
        soil_t = t_mean + amp * np.cos(_TWO_PI / 24.0 * (local_hour(ts_ms) - 13.5) - zr)
        soil_t += 0.05 * z[:, 1]
        ec = self._ec_base[idx] * (fc / theta) * np.exp(drift) * (1.0 + 0.01 * z[:, 2])
        ec = np.where(soil_t < 0.0, 0.3 * ec, ec)  # ice does not conduct
        vwc = np.clip(theta + self._offset[idx] + 0.15 * z[:, 3], wp, self.saturation_pct[idx])
        return np.column_stack((vwc, soil_t, ec, self.battery.voltage(idx, z[:, 4])))


class WeatherStations(Family):
    """Village weather stations (:class:`simulators.weather.WeatherStationModel`, vectorised):
    the county's weather at the station's elevation offset, sensor biases and noise, wind at
    the anemometer height (log profile) and a 0.2 mm tipping bucket."""

    device_type = "weather_station"
    decimals = (2, 1, 2, 1, 1, 2)
    TIP_MM: ClassVar[float] = 0.2

    def __init__(self, seed: int, county: NDArray[np.int8], prev_ms: I64,
                 weather: CountyWeather, *, elevation_offset_m: F64,
                 wind_height_m: F64) -> None:
        super().__init__(seed, county, prev_ms, weather)
        self._dt_c = -0.0065 * elevation_offset_m
        self._dp = np.exp(-elevation_offset_m / 8400.0)
        self._wind_factor = np.log(np.maximum(wind_height_m, 0.06) / 0.03) / math.log(10.0 / 0.03)
        self._t_bias = self.rng.normal(0.0, 0.15, self.n)
        self._rh_bias = self.rng.normal(0.0, 1.5, self.n)
        self._bucket = np.zeros(self.n)

    def _readings(self, idx: I64, ts_ms: I64, w: Weather) -> F64:
        z = self.noise(idx, ts_ms, 6)
        bucket = self._bucket[idx] + self.weather.rain_mm(self.county[idx],
                                                          ts_ms - self.interval_ms, ts_ms)
        tips = np.floor(bucket / self.TIP_MM + 1e-9)
        self._bucket[idx] = bucket - tips * self.TIP_MM
        solar = np.where(w.solar_rad_w_m2 > 0.0, w.solar_rad_w_m2 * (1.0 + 0.02 * z[:, 3]), 0.0)
        return np.column_stack((
            w.air_temp_c + self._dt_c[idx] + self._t_bias[idx] + 0.1 * z[:, 0],
            np.clip(w.rh_pct + self._rh_bias[idx] + 0.8 * z[:, 1], 2.0, 100.0),
            w.wind_speed_m_s * self._wind_factor[idx] * np.exp(0.12 * z[:, 2]),
            solar,
            tips * self.TIP_MM,
            w.pressure_kpa * self._dp[idx] + 0.01 * z[:, 4],
        ))


class FlowMeters(Family):
    """Irrigation flow meters (:class:`simulators.water.FlowMeterModel`, vectorised).

    Row ``i`` of ``fields`` lists the :class:`IrrigationPlan` fields meter ``i`` measures (-1
    padded): its own field for a field meter, every field its well feeds for a source meter
    (``source``). A source meter measures their sum divided by the conveyance efficiency
    (0.80-0.92), so source >= field volumes, as the irrigation water effective-use coefficient
    needs. Volume is a cumulative counter [m³], flow [m³/h].
    """

    device_type = "flow_meter"
    decimals = (3, 3)

    def __init__(self, seed: int, county: NDArray[np.int8], prev_ms: I64,
                 weather: CountyWeather, *, fields: I64, source: NDArray[np.bool_],
                 irrigation: IrrigationPlan) -> None:
        super().__init__(seed, county, prev_ms, weather)
        self.fields = fields
        self.source = source
        self.irrigation = irrigation
        self.efficiency = self.rng.uniform(0.80, 0.92, self.n)
        self.volume_m3 = self.rng.uniform(0.0, 50_000.0, self.n)

    def _readings(self, idx: I64, ts_ms: I64, w: Weather) -> F64:
        t0 = ts_ms - self.interval_ms
        delivered = np.zeros(len(idx))
        flow = np.zeros(len(idx))
        rows = self.fields[idx]
        for j in range(rows.shape[1]):
            f = rows[:, j]
            has = f >= 0
            if has.any():
                delivered[has] += self.irrigation.delivered_m3(f[has], t0[has], ts_ms[has])
                flow[has] += self.irrigation.flow_m3_h(f[has], ts_ms[has])
        scale = np.where(self.source[idx], 1.0 / self.efficiency[idx], 1.0)
        volume = self.volume_m3[idx] + delivered * scale
        self.volume_m3[idx] = volume
        flow *= scale * (1.0 + 0.01 * self.noise(idx, ts_ms, 1)[:, 0])
        return np.column_stack((volume, np.maximum(flow, 0.0)))
