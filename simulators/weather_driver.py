"""The weather driver: the outside weather that every device of a county feels.

:class:`WeatherDriver` is the shared weather of one location (a county of Shuozhou by
default): air temperature with a daily cycle (minimum near sunrise, maximum ~14:30 China
Standard Time) around season-appropriate means, humidity from a daily dew point (so it falls
as the air warms), wind, solar radiation from a clear-sky curve dimmed by random clouds,
occasional rain events and station pressure (~88-90 kPa at 1,100 m).

The weather is a pure function of (seed, location, dry spells / forced rain, time): each
local day's random draws come from a numpy ``Generator`` seeded with (seed, location, day),
so any number of devices may query any times in any order and agree. Results are cached,
which makes the per-reading cost of a fleet sharing a driver small.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

import numpy as np

from analytics.agronomy.humidity import saturation_vapour_pressure_kpa
from simulators.noise import derive_seed
from simulators.physics import RANGES, local_day
from storage.clock import CST_OFFSET_MS, DAY_MS, HOUR_MS, MINUTE_MS, cst_date

_TWO_PI = 2.0 * math.pi
_CST_H = CST_OFFSET_MS / HOUR_MS
_M64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Location:
    """Where the weather happens (in China Standard Time): latitude/longitude [°], elevation
    [m]."""

    name: str
    lat_deg: float
    lon_deg: float
    elevation_m: float


#: Shuozhou city (Shuocheng district), Shanxi.
SHUOZHOU = Location("Shuocheng", 39.33, 112.43, 1100.0)

#: Approximate seat coordinates/elevations of Shuozhou's districts and counties.
SHUOZHOU_COUNTIES: Mapping[str, Location] = MappingProxyType(
    {
        loc.name: loc
        for loc in (
            SHUOZHOU,
            Location("Pinglu", 39.53, 112.29, 1350.0),
            Location("Shanyin", 39.52, 112.82, 1050.0),
            Location("Yingxian", 39.55, 113.19, 1000.0),
            Location("Youyu", 39.99, 112.47, 1350.0),
            Location("Huairen", 39.83, 113.10, 1030.0),
        )
    }
)


@dataclass(frozen=True, slots=True)
class DrySpell:
    """No rain, clear skies, hotter days [°C warmer maxima] and drier air in [start, end) ms."""

    start_ms: int
    end_ms: int
    heat_c: float


@dataclass(frozen=True, slots=True)
class RainEvent:
    """Rain of ``depth_mm`` [mm] falling evenly over [start_ms, end_ms)."""

    start_ms: int
    end_ms: int
    depth_mm: float

    @property
    def rate_mm_h(self) -> float:
        """Rain rate [mm/h]."""
        return self.depth_mm * HOUR_MS / (self.end_ms - self.start_ms)

    def overlap_mm(self, start_ms: int, end_ms: int) -> float:
        """Rain [mm] of this event falling within [start_ms, end_ms)."""
        lo = max(start_ms, self.start_ms)
        hi = min(end_ms, self.end_ms)
        if hi <= lo:
            return 0.0
        return self.depth_mm * (hi - lo) / (self.end_ms - self.start_ms)


@dataclass(frozen=True, slots=True)
class WeatherState:
    """Outside weather at ``ts_ms`` (quantised to the driver's resolution).

    Wind is at the 10 m reference height; ``local_hour`` is China Standard Time [h];
    ``daily_min_c``/``daily_max_c`` are the local day's temperature extremes [°C];
    ``sunrise_h``/``sunset_h`` local clock hours.
    """

    ts_ms: int
    doy: int
    local_hour: float
    air_temp_c: float
    rh_pct: float
    dewpoint_c: float
    wind_speed_m_s: float
    solar_rad_w_m2: float
    clear_sky_w_m2: float
    cloud_fraction: float
    rain_rate_mm_h: float
    pressure_kpa: float
    et0_mm_h: float
    daily_min_c: float
    daily_max_c: float
    sunrise_h: float
    sunset_h: float

    @property
    def daily_mean_c(self) -> float:
        """Mean of the day's minimum and maximum [°C]."""
        return 0.5 * (self.daily_min_c + self.daily_max_c)

    @property
    def vapour_pressure_kpa(self) -> float:
        """Actual vapour pressure [kPa]."""
        return float(saturation_vapour_pressure_kpa(t_c=self.dewpoint_c))

    @property
    def vpd_kpa(self) -> float:
        """Vapour-pressure deficit [kPa]."""
        es = float(saturation_vapour_pressure_kpa(t_c=self.air_temp_c))
        return max(0.0, es - self.vapour_pressure_kpa)

    @property
    def is_day(self) -> bool:
        """Sun above the horizon."""
        return self.clear_sky_w_m2 > 0.0


@dataclass(frozen=True, slots=True)
class _Raw:
    """One local day's random draws (independent of dry spells)."""

    u: tuple[float, ...]  # 8 uniforms
    z: tuple[float, ...]  # 4 daily normals + 3x24 hourly normals


@dataclass(frozen=True, slots=True)
class _Day:
    """One local day's derived weather parameters."""

    day: int
    doy: int
    sin_decl: float
    cos_decl: float
    solar_noon_h: float
    sunrise_h: float
    sunset_h: float
    tpeak_h: float
    tmin: float
    tmax: float
    dewpoint: float
    wind: float
    pressure: float
    cloud_h: tuple[float, ...]
    temp_noise_h: tuple[float, ...]
    wind_noise_h: tuple[float, ...]
    rain: RainEvent | None
    orbit: float  # extraterrestrial radiation factor


def clamp(value: float, lo: float, hi: float) -> float:
    """``value`` limited to ``[lo, hi]``."""
    return lo if value < lo else hi if value > hi else value


def _season(doy: float, centre: float, width: float) -> float:
    """Gaussian bump of the day of year around ``centre`` (wrapping the year end)."""
    d = (doy - centre + 182.625) % 365.25 - 182.625
    return math.exp(-((d / width) ** 2))


def _evening(x: float) -> float:
    """Fraction of the day's range left at fraction ``x`` of the way from peak to sunrise.

    Fast cooling in the evening, then a slow steady fall until sunrise.
    """
    return 0.375 * (1.0 + math.cos(math.pi * x**0.75)) + 0.25 * (1.0 - x)


def wind_at_height(u10_m_s: float, height_m: float, roughness_m: float = 0.03) -> float:
    """Wind speed [m/s] at ``height_m`` [m] from the 10 m value (log profile, short grass)."""
    h = max(height_m, 2.0 * roughness_m)
    return u10_m_s * math.log(h / roughness_m) / math.log(10.0 / roughness_m)


def station_pressure_kpa(elevation_m: float) -> float:
    """Standard-atmosphere pressure [kPa] at ``elevation_m`` [m]."""
    return 101.325 * math.pow(1.0 - 2.25577e-5 * elevation_m, 5.25588)


class WeatherDriver:
    """Seeded outside weather of one :class:`Location` (see module docstring).

    ``resolution_ms`` quantises query times so that devices reporting within the same
    minute share one computed :class:`WeatherState`. Not thread-safe (caches): use one
    driver per thread or guard it.
    """

    __slots__ = (
        "_cos_lat",
        "_days",
        "_dry",
        "_forced",
        "_key",
        "_raws",
        "_res",
        "_sin_lat",
        "_states",
        "_tan_lat",
        "location",
        "seed",
    )

    _MAX_STATES: ClassVar[int] = 4096
    _MAX_DAYS: ClassVar[int] = 96

    def __init__(
        self, seed: int, location: Location = SHUOZHOU, *, resolution_ms: int = MINUTE_MS
    ) -> None:
        if resolution_ms <= 0:
            raise ValueError("resolution_ms must be positive")
        self.seed = seed
        self.location = location
        self._key = derive_seed(location.name, location.lat_deg, location.lon_deg)
        self._res = resolution_ms
        lat = math.radians(location.lat_deg)
        self._sin_lat = math.sin(lat)
        self._cos_lat = math.cos(lat)
        self._tan_lat = math.tan(lat)
        self._dry: tuple[DrySpell, ...] = ()
        self._forced: tuple[RainEvent, ...] = ()
        self._raws: dict[int, _Raw] = {}
        self._days: dict[int, _Day] = {}
        self._states: dict[int, WeatherState] = {}

    # ----------------------------------------------------------------- controls

    def add_dry_spell(self, start_ms: int, end_ms: int, heat_c: float = 4.0) -> DrySpell:
        """Make [start_ms, end_ms) rainless, clear, ``heat_c`` [°C] hotter and drier.

        Whole local days touched by the interval are affected. Forced rain still falls.
        """
        if end_ms <= start_ms:
            raise ValueError("dry spell must end after it starts")
        spell = DrySpell(start_ms, end_ms, heat_c)
        self._dry = (*self._dry, spell)
        self._invalidate()
        return spell

    def clear_dry_spells(self) -> None:
        """Remove all dry spells."""
        self._dry = ()
        self._invalidate()

    @property
    def dry_spells(self) -> tuple[DrySpell, ...]:
        """Dry spells in force."""
        return self._dry

    def add_rain(self, start_ms: int, end_ms: int, depth_mm: float) -> RainEvent:
        """Force ``depth_mm`` [mm] of rain evenly over [start_ms, end_ms)."""
        if end_ms <= start_ms or depth_mm < 0:
            raise ValueError("rain needs end > start and depth >= 0")
        event = RainEvent(start_ms, end_ms, depth_mm)
        self._forced = (*self._forced, event)
        self._states.clear()
        return event

    def _invalidate(self) -> None:
        self._days.clear()
        self._states.clear()

    # ----------------------------------------------------------------- queries

    def is_dry(self, ts_ms: int) -> bool:
        """Whether ``ts_ms`` falls in a dry spell."""
        return any(s.start_ms <= ts_ms < s.end_ms for s in self._dry)

    def rain_between(self, start_ms: int, end_ms: int) -> float:
        """Rain [mm] falling in [start_ms, end_ms)."""
        if end_ms <= start_ms:
            return 0.0
        total = 0.0
        for day in range(local_day(start_ms) - 1, local_day(end_ms) + 1):
            event = self._day(day).rain
            if event is not None:
                total += event.overlap_mm(start_ms, end_ms)
        for event in self._forced:
            total += event.overlap_mm(start_ms, end_ms)
        return total

    def rain_rate(self, ts_ms: int) -> float:
        """Rain rate [mm/h] at ``ts_ms``."""
        rate = 0.0
        day = local_day(ts_ms)
        for d in (day - 1, day):
            event = self._day(d).rain
            if event is not None and event.start_ms <= ts_ms < event.end_ms:
                rate += event.rate_mm_h
        for event in self._forced:
            if event.start_ms <= ts_ms < event.end_ms:
                rate += event.rate_mm_h
        return rate

    def at(self, ts_ms: int) -> WeatherState:
        """Weather at ``ts_ms`` [UTC epoch ms], quantised down to the resolution."""
        q = ts_ms - ts_ms % self._res
        state = self._states.get(q)
        if state is None:
            if len(self._states) >= self._MAX_STATES:
                self._states.clear()
            state = self._compute(q)
            self._states[q] = state
        return state

    # ----------------------------------------------------------------- internals

    def _raw(self, day: int) -> _Raw:
        raw = self._raws.get(day)
        if raw is None:
            if len(self._raws) >= self._MAX_DAYS + 8:
                for k in list(self._raws)[: len(self._raws) // 2]:
                    del self._raws[k]
            ss = np.random.SeedSequence([self.seed & _M64, self._key, day + (1 << 32)])
            gen = np.random.default_rng(ss)
            raw = _Raw(tuple(gen.random(8).tolist()), tuple(gen.standard_normal(76).tolist()))
            self._raws[day] = raw
        return raw

    def _day(self, day: int) -> _Day:
        d = self._days.get(day)
        if d is None:
            if len(self._days) >= self._MAX_DAYS:
                for k in list(self._days)[: len(self._days) // 2]:
                    del self._days[k]
            d = self._make_day(day)
            self._days[day] = d
        return d

    def _make_day(self, day: int) -> _Day:
        loc = self.location
        raw = self._raw(day)
        u, z = raw.u, raw.z
        day_start = day * DAY_MS - CST_OFFSET_MS
        doy = cst_date(day_start).timetuple().tm_yday
        spell_heat = max(
            (
                s.heat_c
                for s in self._dry
                if s.start_ms < day_start + DAY_MS and s.end_ms > day_start
            ),
            default=None,
        )
        dry = spell_heat is not None

        # --- sun
        decl = math.radians(23.44) * math.sin(_TWO_PI * (284 + doy) / 365.0)
        b = _TWO_PI * (doy - 81) / 364.0
        eot_min = 9.87 * math.sin(2 * b) - 7.53 * math.cos(b) - 1.5 * math.sin(b)
        noon = 12.0 - (loc.lon_deg - 15.0 * _CST_H) / 15.0 - eot_min / 60.0
        cos_w0 = clamp(-self._tan_lat * math.tan(decl), -1.0, 1.0)
        half = math.degrees(math.acos(cos_w0)) / 15.0
        sunrise, sunset = noon - half, noon + half

        # --- rain (a day with rain is cloudier and has a smaller temperature range)
        p_rain = 0.045 + 0.36 * _season(doy, 210, 52)
        rain: RainEvent | None = None
        if not dry and u[1] < p_rain:
            start_h = 12.5 + 7.5 * u[3] if u[2] < 0.55 else 24.0 * u[3]
            duration_h = min(12.0, 0.5 - 2.5 * math.log(1.0 - u[4]))
            mean_mm = 2.0 + 12.0 * _season(doy, 210, 55)
            depth = min(90.0, -mean_mm * math.log(1.0 - u[5]))
            start = day_start + int(start_h * HOUR_MS)
            rain = RainEvent(start, start + int(duration_h * HOUR_MS), round(depth, 2))
            rain = self._trim_to_dry(rain)

        # --- clouds
        cloud = u[0] ** (1.9 - 0.6 * _season(doy, 205, 45))
        if rain is not None:
            cloud = max(cloud, 0.55 + 0.35 * u[6])
        if dry:
            cloud = min(cloud, 0.15) * 0.5
        cloud_h = tuple(clamp(cloud + 0.18 * z[28 + i], 0.0, 1.0) for i in range(24))

        # --- temperature: seasonal mean + smoothed synoptic anomaly
        tmean = (
            5.5
            + 15.8 * math.cos(_TWO_PI * (doy - 200) / 365.25)
            - 0.006 * (loc.elevation_m - 1100.0)
        )
        sigma = 2.6 + 0.9 * math.cos(_TWO_PI * (doy - 15) / 365.25)
        anomaly = sigma * self._smoothed(day, 0)
        dtr = (14.5 + 2.5 * _season(doy, 115, 45) - 2.0 * _season(doy, 205, 40)) * (
            1.15 - 0.6 * cloud
        )
        if rain is not None:
            dtr *= 0.75
        tmax = tmean + anomaly + 0.5 * dtr
        tmin = tmean + anomaly - 0.5 * dtr
        depression = (
            0.8
            + 4.8 * _season(doy, 115, 40)
            + 2.8 * _season(doy, 15, 45)
            + 2.0 * _season(doy, 295, 30)
            + 1.2 * z[2]
        )
        if rain is not None:
            depression *= 0.3
        if spell_heat is not None:
            tmax += spell_heat
            tmin += 0.5 * spell_heat
            depression += 3.0 + 0.5 * spell_heat
        dewpoint = tmin - max(0.3, depression)

        # --- wind [m/s at 10 m] and pressure [kPa]
        wind = (2.6 + 1.2 * _season(doy, 110, 45) + 0.5 * _season(doy, 10, 40)) * math.exp(
            0.35 * z[3] - 0.06
        )
        pressure = (
            station_pressure_kpa(loc.elevation_m)
            + 0.55 * math.cos(_TWO_PI * (doy - 15) / 365.25)
            + 0.55 * self._smoothed(day, 1)
            - (0.3 if rain is not None else 0.0)
        )
        orbit = (1.0 + 0.033 * math.cos(_TWO_PI * doy / 365.0)) * (
            1.0 + 0.05 * loc.elevation_m / 1000.0
        )
        return _Day(
            day=day,
            doy=doy,
            sin_decl=math.sin(decl),
            cos_decl=math.cos(decl),
            solar_noon_h=noon,
            sunrise_h=sunrise,
            sunset_h=sunset,
            tpeak_h=noon + 2.0,
            tmin=tmin,
            tmax=tmax,
            dewpoint=dewpoint,
            wind=wind,
            pressure=pressure,
            cloud_h=cloud_h,
            temp_noise_h=tuple(0.5 * z[4 + i] for i in range(24)),
            wind_noise_h=tuple(0.3 * z[52 + i] for i in range(24)),
            rain=rain,
            orbit=orbit,
        )

    def _smoothed(self, day: int, index: int) -> float:
        """Unit-variance moving average of the daily normal ``index`` over 4 days."""
        total = 0.0
        for lag, w in enumerate((1.0, 0.75, 0.5, 0.25)):
            total += w * self._raw(day - lag).z[index]
        return total / 1.3693063937629153  # sqrt(1 + .75² + .5² + .25²)

    def _trim_to_dry(self, event: RainEvent) -> RainEvent | None:
        """Cut an event short at the start of any dry spell it runs into."""
        for s in self._dry:
            if s.start_ms < event.end_ms and s.end_ms > event.start_ms:
                if s.start_ms <= event.start_ms:
                    return None
                kept = (s.start_ms - event.start_ms) / (event.end_ms - event.start_ms)
                event = RainEvent(event.start_ms, s.start_ms, event.depth_mm * kept)
        return event

    def _compute(self, ts_ms: int) -> WeatherState:
        local = ts_ms + CST_OFFSET_MS
        day = local // DAY_MS
        h = (local - day * DAY_MS) / HOUR_MS
        d = self._day(day)
        i = int(h)
        f = h - i
        nxt = self._day(day + 1)
        i1_cloud = d.cloud_h[i + 1] if i < 23 else nxt.cloud_h[0]
        i1_tn = d.temp_noise_h[i + 1] if i < 23 else nxt.temp_noise_h[0]
        i1_wn = d.wind_noise_h[i + 1] if i < 23 else nxt.wind_noise_h[0]

        # temperature: cosine rise sunrise->peak, concave decay peak->next sunrise
        if h < d.sunrise_h:
            prev = self._day(day - 1)
            x = (h + 24.0 - prev.tpeak_h) / (d.sunrise_h + 24.0 - prev.tpeak_h)
            temp = d.tmin + (prev.tmax - d.tmin) * _evening(x)
        elif h <= d.tpeak_h:
            x = (h - d.sunrise_h) / (d.tpeak_h - d.sunrise_h)
            temp = d.tmin + (d.tmax - d.tmin) * 0.5 * (1.0 - math.cos(math.pi * x))
        else:
            x = (h - d.tpeak_h) / (nxt.sunrise_h + 24.0 - d.tpeak_h)
            temp = nxt.tmin + (d.tmax - nxt.tmin) * _evening(x)
        temp += d.temp_noise_h[i] + (i1_tn - d.temp_noise_h[i]) * f

        # daily quantities interpolated between local noons
        other = nxt if h >= 12.0 else self._day(day - 1)
        w = abs(h - 12.0) / 24.0
        dewpoint = d.dewpoint + (other.dewpoint - d.dewpoint) * w
        pressure = d.pressure + (other.pressure - d.pressure) * w
        wind_mean = d.wind + (other.wind - d.wind) * w

        rain_rate = self.rain_rate(ts_ms)
        cloud = d.cloud_h[i] + (i1_cloud - d.cloud_h[i]) * f
        if rain_rate > 0.0:
            cloud = max(cloud, 0.9)
            dewpoint = max(dewpoint, temp - 1.0)
        dewpoint = min(dewpoint, temp)
        es = float(saturation_vapour_pressure_kpa(t_c=temp))
        ea = float(saturation_vapour_pressure_kpa(t_c=dewpoint))
        rh = clamp(100.0 * ea / es, 1.0, 100.0)

        wind = wind_mean * (1.0 + 0.25 * math.cos(_TWO_PI * (h - 14.5) / 24.0))
        wind *= math.exp(d.wind_noise_h[i] + (i1_wn - d.wind_noise_h[i]) * f - 0.045)
        wind = clamp(wind, 0.0, 40.0)

        pressure += 0.08 * math.cos(_TWO_PI * (h - 10.0) / 12.0)

        # sun
        omega = (h - d.solar_noon_h) * (math.pi / 12.0)
        sin_el = self._sin_lat * d.sin_decl + self._cos_lat * d.cos_decl * math.cos(omega)
        clear = 1098.0 * sin_el * math.exp(-0.057 / sin_el) * d.orbit if sin_el > 0.01 else 0.0
        transmit = 1.0 - 0.75 * cloud**3.4
        solar = clear * transmit

        # FAO-56 hourly reference evapotranspiration [mm/h]
        rs = solar * 0.0036
        tk = temp + 273.16
        rnl = 2.043e-10 * tk**4 * (0.34 - 0.14 * math.sqrt(ea)) * (1.35 * transmit - 0.35)
        rn = 0.77 * rs - rnl
        g = (0.1 if clear > 0.0 else 0.5) * rn
        u2 = 0.748 * wind
        gamma = 0.000665 * pressure
        delta = 4098.0 * es / (temp + 237.3) ** 2
        et0 = (0.408 * delta * (rn - g) + gamma * 37.0 / tk * u2 * (es - ea)) / (
            delta + gamma * (1.0 + 0.34 * u2)
        )

        t_lo, t_hi = RANGES["air_temp_c"]
        return WeatherState(
            ts_ms=ts_ms,
            doy=d.doy,
            local_hour=h,
            air_temp_c=clamp(temp, t_lo, t_hi),
            rh_pct=rh,
            dewpoint_c=dewpoint,
            wind_speed_m_s=wind,
            solar_rad_w_m2=solar,
            clear_sky_w_m2=clear,
            cloud_fraction=cloud,
            rain_rate_mm_h=rain_rate,
            pressure_kpa=pressure,
            et0_mm_h=max(0.0, et0),
            daily_min_c=d.tmin,
            daily_max_c=d.tmax,
            sunrise_h=d.sunrise_h,
            sunset_h=d.sunset_h,
        )
