"""Daily weather and reference evapotranspiration ET0 from a station's readings.

Per China Standard Time day (see :mod:`analytics.water._days`):

* Tmax / Tmin of ``air_temp_c``, RHmax / RHmin of ``rh_pct`` [°C, %];
* mean ``wind_speed_m_s`` at the anemometer height, corrected to 2 m with FAO-56 Eq. 47
  (device attribute ``wind_height_m``, default 2 m) [m/s];
* solar radiation Rs = mean(``solar_rad_w_m2``) × 0.0864 [MJ/m²/day] — the day's mean
  irradiance [W/m² = J/s/m²] × 86 400 s/day × 1e-6 MJ/J, i.e. a rectangle-rule integral
  over the day's reports;
* rain = sum of ``rain_mm`` reports (each is the rain since the previous report) [mm].

Completeness: a quantity is used for a day only when it has at least ``min_coverage``
(default 80 %) of the day's expected reports (86 400 s / report interval; 144 for the
catalogue's 600 s station). Rain is the exception: a partial sum is kept (a lower bound,
better than nothing for the balance) and only a day without any report is missing.

ET0 method per day: FAO-56 Penman-Monteith (Eq. 6, ``et0_daily_mm``) when temperature,
humidity and radiation are complete; Hargreaves (Eq. 52, ``et0_hargreaves_mm``) when only
temperature is; none when temperature is incomplete. A missing wind alone does not
demote the day: FAO-56 Ch. 3 ("Missing wind speed data") recommends u2 = 2 m/s as a
temporary estimate, used here. Penman-Monteith can go negative on cold overcast days
(Rn < 0); ET0 is clipped at 0 mm because the root-zone balance has no dew term.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics.agronomy import (
    FloatArray,
    et0_daily_mm,
    et0_hargreaves_mm,
    wind_speed_2m_m_s,
)
from analytics.water._days import DailyReader, day_range
from analytics.water.specs import StationSpec
from storage.clock import cst_midnight_ms
from storage.telemetry import Reading, TelemetryStore

__all__ = [
    "DEFAULT_MIN_COVERAGE",
    "DEFAULT_WIND_2M_M_S",
    "ET0_QUANTITY",
    "W_M2_TO_MJ_M2_DAY",
    "DailyWeather",
    "Et0Method",
    "StationDays",
    "daily_weather",
    "et0_readings",
    "read_station_days",
    "solar_radiation_mj_m2_day",
    "station_daily_weather",
]

W_M2_TO_MJ_M2_DAY = 0.0864
"""Mean irradiance [W/m²] → daily radiation [MJ/m²/day]: 86 400 s × 1e-6 MJ/J."""
DEFAULT_MIN_COVERAGE = 0.8
"""Minimum fraction of a day's expected reports for a quantity to count [-]."""
DEFAULT_WIND_2M_M_S = 2.0
"""u2 used when wind is missing, FAO-56 Ch. 3 ("Missing wind speed data") [m/s]."""
ET0_QUANTITY = "et0_mm_day"
"""Quantity name of the derived daily ET0 series [mm/day]."""

Et0Method = Literal["penman_monteith", "hargreaves", "missing"]


def solar_radiation_mj_m2_day(*, mean_w_m2: ArrayLike) -> FloatArray:
    """Daily solar radiation Rs from the day's mean irradiance: Rs = 0.0864 · mean [MJ/m²/day].

    :param mean_w_m2: mean global irradiance over the whole day [W/m²].
    """
    return np.asarray(np.asarray(mean_w_m2, dtype=np.float64) * W_M2_TO_MJ_M2_DAY)


@dataclass(frozen=True, slots=True)
class StationDays:
    """Per-CST-day aggregates of one station; arrays of length ``n_days``, NaN = no data.

    ``*_reports`` are the numbers of reports behind each day's value (0 = none).
    """

    first_day: date
    t_max_c: FloatArray
    t_min_c: FloatArray
    t_reports: FloatArray
    rh_max_pct: FloatArray
    rh_min_pct: FloatArray
    rh_reports: FloatArray
    wind_mean_m_s: FloatArray
    wind_reports: FloatArray
    solar_mean_w_m2: FloatArray
    solar_reports: FloatArray
    rain_mm: FloatArray
    rain_reports: FloatArray

    @property
    def n_days(self) -> int:
        """Number of days."""
        return int(self.t_max_c.shape[0])

    @property
    def days(self) -> list[date]:
        """The CST dates, oldest first."""
        return [self.first_day + timedelta(days=i) for i in range(self.n_days)]


@dataclass(frozen=True, slots=True)
class DailyWeather:
    """One CST day of station weather and its ET0. ``None`` marks a missing value."""

    day: date
    et0_mm: float | None
    """Reference evapotranspiration ET0 [mm/day] (≥ 0)."""
    method: Et0Method
    t_max_c: float | None
    t_min_c: float | None
    rh_max_pct: float | None
    rh_min_pct: float | None
    wind_2m_m_s: float | None
    """Measured mean wind at 2 m [m/s]; ``None`` if missing (ET0 then used 2 m/s)."""
    solar_mj_m2_day: float | None
    """Solar radiation Rs [MJ/m²/day]."""
    rain_mm: float | None
    """Rain of the day [mm]."""


def _complete(reports: FloatArray, expected: float, min_coverage: float) -> NDArray[np.bool_]:
    """Whether the reports cover at least ``min_coverage`` of ``expected`` per day."""
    return np.asarray(np.nan_to_num(reports) >= min_coverage * expected, dtype=np.bool_)


def _opt(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _et0_mm(
    *,
    t_max: FloatArray,
    t_min: FloatArray,
    rh_max: FloatArray,
    rh_min: FloatArray,
    u2: FloatArray,
    rs: FloatArray,
    doy: FloatArray,
    lat_deg: float,
    elevation_m: float,
    use_pm: NDArray[np.bool_],
    t_ok: NDArray[np.bool_],
) -> FloatArray:
    """ET0 per day [mm/day]: Penman-Monteith where ``use_pm``, else Hargreaves where
    ``t_ok``, else NaN; missing u2 → 2 m/s; clipped at 0."""
    with np.errstate(invalid="ignore"):
        pm = np.asarray(
            et0_daily_mm(
                t_max_c=t_max,
                t_min_c=t_min,
                rh_max_pct=rh_max,
                rh_min_pct=rh_min,
                wind_2m_m_s=np.where(np.isfinite(u2), u2, DEFAULT_WIND_2M_M_S),
                solar_rad_mj_m2_day=rs,
                lat_deg=lat_deg,
                elevation_m=elevation_m,
                day_of_year=doy,
            )
        )
        hg = np.asarray(
            et0_hargreaves_mm(t_max_c=t_max, t_min_c=t_min, lat_deg=lat_deg, day_of_year=doy)
        )
    et0 = np.where(use_pm, pm, np.where(t_ok, hg, np.nan))
    return np.where(np.isfinite(et0), np.maximum(et0, 0.0), np.nan)


def daily_weather(
    *,
    station_days: StationDays,
    lat_deg: float,
    elevation_m: float,
    wind_height_m: float = 2.0,
    expected_reports_per_day: float = 144.0,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
) -> list[DailyWeather]:
    """Daily weather and ET0 with the per-day method choice of the module docstring.

    :param station_days: per-day aggregates (:func:`read_station_days`).
    :param lat_deg: station latitude [° N].
    :param elevation_m: station elevation [m].
    :param wind_height_m: anemometer height z for FAO-56 Eq. 47 [m].
    :param expected_reports_per_day: reports of a complete day per quantity [1/day].
    :param min_coverage: completeness threshold [-] (0..1).
    :returns: one :class:`DailyWeather` per day, oldest first.
    """
    sd = station_days

    def ok(reports: FloatArray) -> NDArray[np.bool_]:
        return _complete(reports, expected_reports_per_day, min_coverage)

    t_ok, rh_ok = ok(sd.t_reports), ok(sd.rh_reports)
    rs_ok, u_ok = ok(sd.solar_reports), ok(sd.wind_reports)
    t_max = np.where(t_ok, sd.t_max_c, np.nan)
    t_min = np.where(t_ok, sd.t_min_c, np.nan)
    rh_max = np.where(rh_ok, sd.rh_max_pct, np.nan)
    rh_min = np.where(rh_ok, sd.rh_min_pct, np.nan)
    rs = np.where(rs_ok, solar_radiation_mj_m2_day(mean_w_m2=sd.solar_mean_w_m2), np.nan)
    u_z = np.where(u_ok, sd.wind_mean_m_s, np.nan)
    u2 = np.asarray(wind_speed_2m_m_s(wind_m_s=u_z, height_m=wind_height_m))
    rain = np.where(np.nan_to_num(sd.rain_reports) > 0, sd.rain_mm, np.nan)
    doy = np.asarray([d.timetuple().tm_yday for d in sd.days], dtype=np.float64)
    use_pm = t_ok & rh_ok & rs_ok
    et0 = _et0_mm(
        t_max=t_max, t_min=t_min, rh_max=rh_max, rh_min=rh_min, u2=u2, rs=rs, doy=doy,
        lat_deg=lat_deg, elevation_m=elevation_m, use_pm=use_pm, t_ok=t_ok,
    )  # fmt: skip

    out: list[DailyWeather] = []
    for i, day in enumerate(sd.days):
        method: Et0Method = (
            "penman_monteith" if use_pm[i] else "hargreaves" if t_ok[i] else "missing"
        )
        out.append(
            DailyWeather(
                day=day,
                et0_mm=_opt(et0[i]),
                method=method,
                t_max_c=_opt(t_max[i]),
                t_min_c=_opt(t_min[i]),
                rh_max_pct=_opt(rh_max[i]),
                rh_min_pct=_opt(rh_min[i]),
                wind_2m_m_s=_opt(u2[i]),
                solar_mj_m2_day=_opt(rs[i]),
                rain_mm=_opt(rain[i]),
            )
        )
    return out


def read_station_days(
    *, store: TelemetryStore, station_id: str, first_day: date, last_day: date
) -> StationDays:
    """Per-CST-day aggregates of a station's readings, ``first_day``..``last_day`` inclusive.

    Reads epoch-aligned hourly MAX/MIN/SUM/COUNT aggregates from the store (hours nest in
    CST days) and reduces them per day.

    :raises ValueError: if ``last_day`` is before ``first_day``.
    """
    n = len(day_range(first_day=first_day, last_day=last_day))
    if n == 0:
        raise ValueError("last_day must not be before first_day")
    r = DailyReader(store, station_id, first_day, n)
    t_max, t_min, t_n = r.extremes_count("air_temp_c")
    rh_max, rh_min, rh_n = r.extremes_count("rh_pct")
    wind, wind_n = r.mean_count("wind_speed_m_s")
    solar, solar_n = r.mean_count("solar_rad_w_m2")
    rain, rain_n = r.sum_count("rain_mm")
    return StationDays(
        first_day=first_day,
        t_max_c=t_max,
        t_min_c=t_min,
        t_reports=t_n,
        rh_max_pct=rh_max,
        rh_min_pct=rh_min,
        rh_reports=rh_n,
        wind_mean_m_s=wind,
        wind_reports=wind_n,
        solar_mean_w_m2=solar,
        solar_reports=solar_n,
        rain_mm=rain,
        rain_reports=rain_n,
    )


def station_daily_weather(
    *,
    store: TelemetryStore,
    station: StationSpec,
    first_day: date,
    last_day: date,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
) -> list[DailyWeather]:
    """Daily weather and ET0 of a station from the store, ``first_day``..``last_day``."""
    station_days = read_station_days(
        store=store, station_id=station.device_id, first_day=first_day, last_day=last_day
    )
    return daily_weather(
        station_days=station_days,
        lat_deg=station.lat_deg,
        elevation_m=station.elevation_m,
        wind_height_m=station.wind_height_m,
        expected_reports_per_day=station.expected_reports_per_day,
        min_coverage=min_coverage,
    )


def et0_readings(*, weather: Sequence[DailyWeather], station: StationSpec) -> list[Reading]:
    """Derived ``et0_mm_day`` readings [mm/day] to store, one per day with an ET0.

    ``ts_ms`` is the day's 00:00 CST in UTC ms; the device is the station, tagged with its
    site/farm/county. Rewriting a day is a no-op (the store keeps the first write).
    """
    return [
        Reading(
            device_id=station.device_id,
            quantity=ET0_QUANTITY,
            value=w.et0_mm,
            ts_ms=cst_midnight_ms(w.day),
            device_type="weather_station",
            site_id=station.site_id,
            farm_id=station.farm_id,
            county=station.county,
        )
        for w in weather
        if w.et0_mm is not None
    ]
