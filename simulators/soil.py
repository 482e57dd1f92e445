"""Soil-moisture (墒情) probe model.

The probe sees a 10 cm slab of soil centred on ``depth_cm``. Its water content [% vol]:

* loses water to evapotranspiration (FAO-56 reference ET from the weather driver × a
  seasonal crop coefficient × a water-stress factor), a share that shrinks with depth, so
  the surface dries fastest on hot, sunny, windy days and deep probes barely move;
* gains rain, snow-melt and irrigation, but only the water left over after refilling the
  dried soil above the slab, released with a lag growing with depth (damped, later
  response deeper down);
* drains towards field capacity when wetter than that, and stays between the wilting point
  (~10 %) and saturation (~45 %).

Soil temperature is the daily cycle damped (e^-z/D) and delayed (z/D rad) with depth
around a running mean of the air; EC rises as the soil dries; the battery is solar-charged.
"""

from __future__ import annotations

import math
from typing import ClassVar

from simulators.models import HOUR_MS, RANGES, Battery, DeviceModel, clamp
from simulators.weather import WeatherDriver, WeatherState

_OMEGA = 2.0 * math.pi / 24.0  # daily angular frequency [rad/h]
_DAMPING_CM = 10.0  # daily damping depth of a moist loam [cm]
_MAX_STEP_H = 1.0


def _crop_coefficient(doy: int) -> float:
    """Seasonal ET coefficient: bare/stubble in winter, full maize canopy in July-August."""
    d = (doy - 205 + 182.625) % 365.25 - 182.625
    return 0.35 + 0.7 * math.exp(-((d / 50.0) ** 2))


class SoilMoistureModel(DeviceModel):
    """A soil-moisture probe at ``depth_cm`` [cm] (see module docstring).

    Soil hydraulic limits [% vol] default to a loess loam with per-probe scatter;
    ``initial_vwc_pct`` [% vol] defaults to a random value between wilting point and field
    capacity. :meth:`irrigate` adds water [mm] at the surface, taken in at the next reading.
    """

    __slots__ = (
        "_battery",
        "_deficit_above",
        "_ec_base",
        "_ec_drift",
        "_lag_h",
        "_offset",
        "_pending",
        "_share",
        "_share_above",
        "_snow",
        "_surface_in",
        "_t_mean",
        "_z_top_mm",
        "depth_cm",
        "field_capacity_pct",
        "saturation_pct",
        "vwc_pct",
        "wilting_point_pct",
    )

    device_type: ClassVar[str] = "soil_moisture"

    def __init__(
        self,
        seed: int,
        driver: WeatherDriver,
        *,
        depth_cm: float = 20.0,
        field_capacity_pct: float | None = None,
        wilting_point_pct: float | None = None,
        saturation_pct: float | None = None,
        initial_vwc_pct: float | None = None,
        base_ec_ds_m: float | None = None,
    ) -> None:
        super().__init__(seed, driver)
        if not 0.0 < depth_cm <= 200.0:
            raise ValueError("depth_cm must be in (0, 200]")
        rng = self._rng
        self.depth_cm = depth_cm
        wp = rng.uniform(9.0, 12.0) if wilting_point_pct is None else wilting_point_pct
        fc = rng.uniform(27.0, 33.0) if field_capacity_pct is None else field_capacity_pct
        sat = rng.uniform(42.0, 47.0) if saturation_pct is None else saturation_pct
        if not 0.0 < wp < fc < sat <= 100.0:
            raise ValueError("need 0 < wilting point < field capacity < saturation <= 100")
        self.wilting_point_pct = wp
        self.field_capacity_pct = fc
        self.saturation_pct = sat
        if initial_vwc_pct is None:
            initial_vwc_pct = wp + (fc - wp) * rng.uniform(0.35, 0.8)
        #: true (noise-free) volumetric water content of the slab [% vol]
        self.vwc_pct = clamp(initial_vwc_pct, wp, sat)
        z_top_cm = max(0.0, depth_cm - 5.0)
        self._z_top_mm = 10.0 * z_top_cm
        # share of the crop's ET drawn from this 10 cm slab, and from all the soil above it
        self._share = 0.35 * math.exp(-depth_cm / 30.0)
        self._share_above = 1.04 * (1.0 - math.exp(-z_top_cm / 30.0))
        # water the soil above must take up before any reaches the slab [mm]
        self._deficit_above = max(0.0, fc - self.vwc_pct) / 100.0 * self._z_top_mm
        self._lag_h = 0.3 + depth_cm / 6.0
        self._pending = 0.0  # water on its way down to the slab [mm]
        self._surface_in = 0.0  # irrigation waiting to infiltrate [mm]
        self._snow = 0.0  # snow pack [mm water]
        self._offset = rng.normal(0.0, 0.8)  # calibration offset [% vol]
        self._ec_base = (
            base_ec_ds_m if base_ec_ds_m is not None else 0.25 * math.exp(rng.normal(0.0, 0.45))
        )
        self._ec_drift = 0.0
        self._t_mean = math.nan  # running mean soil temperature at depth [°C]
        self._battery = Battery(rng)

    def irrigate(self, mm: float) -> None:
        """Apply ``mm`` [mm] of water at the surface (infiltrates from the next reading on)."""
        if mm < 0:
            raise ValueError("irrigation depth must be >= 0")
        self._surface_in += mm

    @property
    def snow_mm(self) -> float:
        """Snow pack on the surface [mm water equivalent]."""
        return self._snow

    def next_readings(self, ts_ms: int) -> dict[str, float]:
        """VWC [%], soil temperature [°C], bulk EC [dS/m] and battery voltage [V]."""
        last = self._last_ms
        dt_h = self._advance(ts_ms)
        driver = self.driver
        if last is None:
            w = driver.at(ts_ms)
            self._t_mean = w.daily_mean_c + 1.5
        else:
            steps = max(1, math.ceil(dt_h / _MAX_STEP_H - 1e-9))
            span = ts_ms - last
            t0 = last
            for k in range(1, steps + 1):
                t1 = last + span * k // steps
                self._step((t1 - t0) / HOUR_MS, driver.rain_between(t0, t1), driver.at(t1))
                t0 = t1
            w = driver.at(ts_ms)
        rng = self._rng

        # soil temperature: running mean + damped, delayed daily wave
        zr = self.depth_cm / _DAMPING_CM
        amp = 0.65 * (w.daily_max_c - w.daily_min_c) * math.exp(-zr)
        if self._snow > 5.0:
            amp *= 0.3
        soil_t = self._t_mean + amp * math.cos(_OMEGA * (w.local_hour - 13.5) - zr)
        soil_t += rng.normal(0.0, 0.05)

        theta = self.vwc_pct
        ec = self._ec_base * (self.field_capacity_pct / theta) * math.exp(self._ec_drift)
        ec *= 1.0 + rng.normal(0.0, 0.01)
        if soil_t < 0.0:
            ec *= 0.3  # ice does not conduct
        vwc = clamp(
            theta + self._offset + rng.normal(0.0, 0.15),
            self.wilting_point_pct,
            self.saturation_pct,
        )
        return {
            "vwc_pct": round(clamp(vwc, *RANGES["vwc_pct"]), 2),
            "soil_temp_c": round(clamp(soil_t, *RANGES["soil_temp_c"]), 2),
            "ec_ds_m": round(clamp(ec, *RANGES["ec_ds_m"]), 3),
            "battery_v": round(clamp(self._battery.voltage(rng), *RANGES["battery_v"]), 3),
        }

    def _step(self, dt_h: float, precip_mm: float, w: WeatherState) -> None:
        """Advance water balance, temperature mean, EC drift and battery by ``dt_h`` [h]."""
        if dt_h <= 0.0:
            return
        wp, fc, sat = self.wilting_point_pct, self.field_capacity_pct, self.saturation_pct
        theta = self.vwc_pct

        # precipitation: snow accumulates below ~0.5 °C and melts 3 mm/°C/day above 0 °C
        if w.air_temp_c < 0.5:
            self._snow += precip_mm
            water_in = 0.0
        else:
            water_in = precip_mm
        if self._snow > 0.0 and w.air_temp_c > 0.0:
            melt = min(self._snow, 0.125 * w.air_temp_c * dt_h)
            self._snow -= melt
            water_in += melt
        water_in += self._surface_in
        self._surface_in = 0.0

        # evapotranspiration [mm] with water stress below half the available water
        et = w.et0_mm_h * _crop_coefficient(w.doy) * dt_h
        if self._t_mean < 0.0 or self._snow > 1.0:
            et *= 0.1
        ks = clamp((theta - wp) / (0.5 * (fc - wp)), 0.0, 1.0)
        theta -= et * ks * self._share  # 1 mm from a 100 mm slab = 1 % vol
        z_top = self._z_top_mm
        if z_top > 0.0:
            d_max = (fc - wp) / 100.0 * z_top
            deficit = min(d_max, self._deficit_above + et * ks * self._share_above)
            fill = min(deficit, water_in)
            self._deficit_above = deficit - fill
            passing = water_in - fill
        else:
            passing = water_in

        # wetting front reaches the slab with a depth-dependent lag
        self._pending += passing
        release = self._pending * (1.0 - math.exp(-dt_h / self._lag_h))
        self._pending -= release
        theta += release
        if theta > fc:
            theta -= (theta - fc) * (1.0 - math.exp(-dt_h / 18.0))
        self.vwc_pct = clamp(theta, wp, sat)

        # slow state: running mean temperature, EC drift, battery
        tau_h = 12.0 + 2.4 * self.depth_cm
        self._t_mean += (w.daily_mean_c + 1.5 - self._t_mean) * (1.0 - math.exp(-dt_h / tau_h))
        self._ec_drift += -self._ec_drift * dt_h / 240.0 + self._rng.normal(0.0, 0.004) * math.sqrt(
            dt_h
        )
        self._battery.step(dt_h, w.solar_rad_w_m2)
