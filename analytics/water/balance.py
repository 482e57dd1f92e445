"""Root-zone water balance of a field (FAO-56 Ch. 8) with metered irrigation and probe nudging.

Daily, for day i (depths in mm over the field):

1. Zr,i from :func:`~analytics.water.crop.root_depth_m`; TAW,i = 1000 (θFC − θWP) Zr,i
   (FAO-56 Eq. 82), RAW,i = p · TAW,i (Eq. 83). Soil newly reached by growing roots is
   assumed at field capacity (Dr unchanged in mm while TAW grows) — the usual FAO-56
   simplification; in dry loess subsoil this under-estimates Dr, which probes correct.
2. Ks from Dr,i−1 (Eq. 84) and ETc,adj = Ks · Kc · ET0 (Eq. 81).
3. Effective rain: a day's rain below 0.2 · ET0 is ignored as it evaporates from the soil
   surface (FAO-56 Ch. 8, text on P in Eq. 85); runoff RO is subtracted (default 0).
4. Irrigation I: the volume metered at the field's own meter(s) over the field area, i.e.
   the NET depth reaching the field — conveyance losses upstream of the field meter are
   not in it, and no application efficiency is applied.
5. Dr,i and DP,i from Eqs. 85, 86, 88 (``root_zone_depletion_mm``).
6. Probe correction (nudging): if soil-moisture probes inside the root zone (install depth
   ``depth_cm`` ≤ 100·Zr,i) reported that day, θobs = the unweighted mean of their daily
   mean volumetric water content, Dr,obs = 1000 (θFC − θobs) Zr,i (the form of FAO-56
   Eq. 87) clipped to [0, TAW], and Dr,i ← Dr,i + k (Dr,obs − Dr,i), clipped to [0, TAW].
   The gain k (default 0.5) weighs the probes against the model: k = 1 replaces the model
   with the probes, k = 0 ignores them. The corrected Dr,i carries to the next day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from numpy.typing import ArrayLike

from analytics.agronomy import (
    FloatArray,
    adjusted_depletion_fraction,
    readily_available_water_mm,
    root_zone_depletion_mm,
    total_available_water_mm,
    water_stress_coefficient,
)
from analytics.water._days import (
    DailyReader,
    query_raw_all,
    series_arrays,
)
from analytics.water.crop import days_after_planting, kc_series, root_depth_m
from analytics.water.specs import M2_PER_MU, FieldSpec, FlowMeterSpec, ProbeSpec
from analytics.water.weather import DailyWeather, Et0Method
from storage.clock import DAY_MS, cst_midnight_ms
from storage.telemetry import TelemetryStore

__all__ = [
    "DEFAULT_GAIN",
    "SMALL_RAIN_FRACTION",
    "BalanceSeries",
    "FieldBalance",
    "assimilate_depletion_mm",
    "counter_increments_m3",
    "daily_counter_volume_m3",
    "field_water_balance",
    "irrigation_depth_mm",
    "meter_daily_volume_m3",
    "observed_depletion_mm",
    "probe_daily_theta",
    "root_zone_balance",
    "root_zone_theta",
]

DEFAULT_GAIN = 0.5
"""Default probe nudging gain k [-]."""
SMALL_RAIN_FRACTION = 0.2
"""Rain below this fraction of the day's ET0 is ignored (FAO-56 Ch. 8) [-]."""
_COUNTER_MARGIN_DAYS = 3


# -- flow meters -------------------------------------------------------------------------


def counter_increments_m3(*, values_m3: ArrayLike, rollover_m3: float | None = None) -> FloatArray:
    """Non-negative volume increments between consecutive readings of a counter [m³].

    The first increment is 0. A decrease is a counter reset (power loss, replaced meter):
    counting restarts from the new value and that step adds 0 (the volume between the two
    readings is unknown; under-counting is preferred to inventing water). If the register
    wraps at ``rollover_m3`` and the decrease is more than half of it, the step is a
    rollover instead and adds ``rollover_m3 − previous + new``.

    :param values_m3: counter readings in time order [m³].
    :param rollover_m3: register capacity [m³], if it wraps.
    """
    v = np.asarray(values_m3, dtype=np.float64)
    if v.size == 0:
        return np.zeros(0)
    prev = np.concatenate([v[:1], v[:-1]])
    step = v - prev
    back = step < 0.0
    if rollover_m3 is not None:
        wrapped = back & (prev - v > rollover_m3 / 2.0)
        step = np.where(wrapped, rollover_m3 - prev + v, step)
        back &= ~wrapped
    return np.where(back, 0.0, step)


def daily_counter_volume_m3(
    *,
    ts_ms: ArrayLike,
    values_m3: ArrayLike,
    first_day: date,
    n_days: int,
    rollover_m3: float | None = None,
) -> FloatArray:
    """Volume through a counter per CST day [m³], never negative.

    Increments (:func:`counter_increments_m3`) are accumulated and the cumulative volume is
    linearly interpolated in time at each day boundary, so an increment spanning a gap in
    reports (or midnight) is shared among the days of the gap in proportion to time. Days
    outside the first..last reading get 0. NaN readings are dropped.

    :param ts_ms: reading timestamps [UTC ms] (any order).
    :param values_m3: counter readings [m³].
    :param first_day: first CST day of the result.
    :param n_days: number of days.
    :param rollover_m3: register capacity [m³], if it wraps.
    :returns: volume per day [m³].
    """
    ts = np.asarray(ts_ms, dtype=np.int64)
    v = np.asarray(values_m3, dtype=np.float64)
    keep = np.isfinite(v)
    ts, v = ts[keep], v[keep]
    if ts.size < 2:
        return np.zeros(n_days)
    order = np.argsort(ts, kind="stable")
    ts, v = ts[order], v[order]
    cum = np.cumsum(counter_increments_m3(values_m3=v, rollover_m3=rollover_m3))
    start = cst_midnight_ms(first_day)
    edges = start + DAY_MS * np.arange(n_days + 1, dtype=np.int64)
    at_edges = np.interp(edges.astype(np.float64), ts.astype(np.float64), cum)
    return np.maximum(np.diff(at_edges), 0.0)


def irrigation_depth_mm(*, volume_m3: ArrayLike, area_mu: float) -> FloatArray:
    """Depth of a volume spread over a field: mm = 1000 · m³ / (亩 · 666.67 m²/亩)."""
    if area_mu <= 0.0:
        raise ValueError("area_mu must be > 0")
    return np.asarray(1000.0 * np.asarray(volume_m3, np.float64) / (area_mu * M2_PER_MU))


# -- soil-moisture probes -----------------------------------------------------------------


def root_zone_theta(
    *, theta_by_probe: ArrayLike, depth_cm: ArrayLike, zr_m: ArrayLike
) -> FloatArray:
    """Daily mean θ over the probes inside the root zone (depth ≤ 100·Zr) [m³/m³].

    :param theta_by_probe: daily mean θ, shape (n_probes, n_days), NaN = no data [m³/m³].
    :param depth_cm: install depth of each probe [cm].
    :param zr_m: root depth per day [m].
    :returns: θobs per day, NaN where no probe in the root zone reported.
    """
    theta = np.atleast_2d(np.asarray(theta_by_probe, dtype=np.float64))
    depth = np.asarray(depth_cm, dtype=np.float64).reshape(-1, 1)
    zr = np.asarray(zr_m, dtype=np.float64).reshape(1, -1)
    use = (depth <= 100.0 * zr + 1e-9) & np.isfinite(theta)
    n = use.sum(axis=0)
    total = np.where(use, theta, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(n > 0, total / n, np.nan))


def observed_depletion_mm(
    *, theta: ArrayLike, theta_fc: float, zr_m: ArrayLike, taw_mm: ArrayLike
) -> FloatArray:
    """Depletion from a measured θ: Dr,obs = 1000 (θFC − θ) Zr (FAO-56 Eq. 87 form) [mm].

    Clipped to [0, TAW] (wetter than field capacity → 0); NaN θ gives NaN.
    """
    dr = 1000.0 * (theta_fc - np.asarray(theta, np.float64)) * np.asarray(zr_m, np.float64)
    return np.asarray(np.clip(dr, 0.0, np.asarray(taw_mm, np.float64)))


def assimilate_depletion_mm(
    *, dr_model_mm: ArrayLike, dr_obs_mm: ArrayLike, gain: float, taw_mm: ArrayLike
) -> FloatArray:
    """Nudge modelled depletion toward observed: Dr = Dr,model + k (Dr,obs − Dr,model) [mm].

    Clipped to [0, TAW]; where Dr,obs is NaN the model value is kept.

    :param gain: k in [0, 1] (1 = replace by the observation, 0 = ignore it).
    :raises ValueError: if ``gain`` is outside [0, 1].
    """
    if not 0.0 <= gain <= 1.0:
        raise ValueError(f"gain must be in [0, 1], got {gain}")
    model = np.asarray(dr_model_mm, np.float64)
    obs = np.asarray(dr_obs_mm, np.float64)
    nudged = np.where(np.isfinite(obs), model + gain * (obs - model), model)
    return np.asarray(np.clip(nudged, 0.0, np.asarray(taw_mm, np.float64)))


# -- the balance --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BalanceSeries:
    """Daily series of :func:`root_zone_balance` (all of length n_days)."""

    zr_m: FloatArray
    """Root depth Zr [m]."""
    taw_mm: FloatArray
    """Total available water TAW [mm] (Eq. 82)."""
    raw_mm: FloatArray
    """Readily available water RAW [mm] (Eq. 83)."""
    p: FloatArray
    """Depletion fraction p used each day [-] (tabulated, or adjusted for ETc)."""
    kc: FloatArray
    """Crop coefficient Kc [-]."""
    etc_mm: FloatArray
    """ETc = Kc · ET0 under standard conditions [mm/day]."""
    ks: FloatArray
    """Water stress coefficient Ks from the previous day's Dr [-] (Eq. 84)."""
    etc_adj_mm: FloatArray
    """Actual crop ET ETc,adj = Ks · Kc · ET0 [mm/day] (Eq. 81)."""
    effective_rain_mm: FloatArray
    """Rain entering the balance (small rain dropped, minus runoff) [mm]."""
    irrigation_mm: FloatArray
    """Net irrigation I [mm]."""
    deep_percolation_mm: FloatArray
    """Deep percolation DP [mm] (Eq. 88)."""
    depletion_model_mm: FloatArray
    """End-of-day Dr from the balance, before the probe correction [mm]."""
    observed_depletion_mm: FloatArray
    """Dr,obs from the probes [mm], NaN without probe data."""
    depletion_mm: FloatArray
    """End-of-day Dr after the probe correction [mm] (carried to the next day)."""


def _as_days(x: ArrayLike, n: int) -> FloatArray:
    return np.asarray(np.broadcast_to(np.asarray(x, dtype=np.float64), (n,)), dtype=np.float64)


def root_zone_balance(
    *,
    et0_mm: ArrayLike,
    kc: ArrayLike,
    rain_mm: ArrayLike,
    irrigation_mm: ArrayLike,
    zr_m: ArrayLike,
    theta_fc: float,
    theta_wp: float,
    p: float,
    initial_depletion_mm: float = 0.0,
    runoff_mm: ArrayLike = 0.0,
    observed_theta: ArrayLike | None = None,
    gain: float = DEFAULT_GAIN,
    apply_water_stress: bool = True,
    p_adjust_for_etc: bool = False,
) -> BalanceSeries:
    """Daily root-zone depletion with probe nudging — steps 1-6 of the module docstring.

    :param et0_mm: daily ET0 [mm], finite.
    :param kc: daily Kc [-].
    :param rain_mm: daily rain P [mm] (NaN → 0).
    :param irrigation_mm: daily net irrigation I [mm] (NaN → 0).
    :param zr_m: daily root depth Zr [m].
    :param theta_fc: θFC [m³/m³].
    :param theta_wp: θWP [m³/m³].
    :param p: depletion fraction without stress [-].
    :param initial_depletion_mm: Dr before the first day [mm] (0 = at field capacity).
    :param runoff_mm: daily surface runoff RO [mm].
    :param observed_theta: daily root-zone θobs [m³/m³], NaN where none; None = no probes.
    :param gain: nudging gain k [-].
    :param apply_water_stress: False forces Ks = 1.
    :param p_adjust_for_etc: adjust p daily for ETc = Kc · ET0, p = p + 0.04 (5 − ETc)
        clamped to 0.1..0.8 (FAO-56 Table 22 footnote); default False (p as given).
    :raises ValueError: for a non-finite ET0 or an empty series.
    """
    et0 = np.asarray(et0_mm, dtype=np.float64).reshape(-1)
    n = et0.shape[0]
    if n == 0 or not np.all(np.isfinite(et0)):
        raise ValueError("et0_mm must be a non-empty series of finite values")
    kc_a, zr = _as_days(kc, n), _as_days(zr_m, n)
    rain, irr = np.nan_to_num(_as_days(rain_mm, n)), np.nan_to_num(_as_days(irrigation_mm, n))
    counted = np.where(rain >= SMALL_RAIN_FRACTION * et0, rain, 0.0)
    eff_rain = np.maximum(counted - _as_days(runoff_mm, n), 0.0)
    taw = np.asarray(total_available_water_mm(theta_fc=theta_fc, theta_wp=theta_wp, root_depth_m=zr))
    p_day = (np.asarray(adjusted_depletion_fraction(p_table=p, etc_mm_day=kc_a * et0))
             if p_adjust_for_etc else np.full(n, float(p)))
    raw = np.asarray(readily_available_water_mm(taw_mm=taw, p=p_day))
    theta_obs = np.full(n, np.nan) if observed_theta is None else _as_days(observed_theta, n)
    dr_obs = observed_depletion_mm(theta=theta_obs, theta_fc=theta_fc, zr_m=zr, taw_mm=taw)

    ks, etc_adj, dp, dr_model, dr = (np.zeros(n) for _ in range(5))
    dr_prev = float(initial_depletion_mm)
    for i in range(n):
        dr_prev = min(max(dr_prev, 0.0), float(taw[i]))
        if apply_water_stress:
            ks[i] = water_stress_coefficient(dr_mm=dr_prev, taw_mm=taw[i], raw_mm=raw[i])
        else:
            ks[i] = 1.0
        etc_adj[i] = ks[i] * kc_a[i] * et0[i]
        step = root_zone_depletion_mm(
            dr_prev_mm=dr_prev,
            precip_mm=eff_rain[i],
            etc_mm=etc_adj[i],
            taw_mm=taw[i],
            irrigation_mm=irr[i],
        )
        dr_model[i], dp[i] = step.depletion_mm, step.deep_percolation_mm
        dr[i] = assimilate_depletion_mm(
            dr_model_mm=dr_model[i], dr_obs_mm=dr_obs[i], gain=gain, taw_mm=taw[i]
        )
        dr_prev = float(dr[i])

    return BalanceSeries(
        zr_m=zr,
        taw_mm=taw,
        raw_mm=raw,
        p=p_day,
        kc=kc_a,
        etc_mm=kc_a * et0,
        ks=ks,
        etc_adj_mm=etc_adj,
        effective_rain_mm=eff_rain,
        irrigation_mm=irr,
        deep_percolation_mm=dp,
        depletion_model_mm=dr_model,
        observed_depletion_mm=dr_obs,
        depletion_mm=dr,
    )


# -- store-backed field balance -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldBalance:
    """A field's daily balance over consecutive CST days, with what went into it."""

    site_id: str
    area_mu: float
    p: float
    days: tuple[date, ...]
    et0_mm: FloatArray
    """ET0 used [mm/day] (missing days interpolated)."""
    et0_methods: tuple[Et0Method, ...]
    """ET0 method per day; ``"missing"`` = interpolated from neighbouring days."""
    rain_mm: FloatArray
    """Measured rain [mm] (NaN = no report)."""
    irrigation_m3: FloatArray
    """Metered net irrigation volume [m³]."""
    series: BalanceSeries


def meter_daily_volume_m3(
    *, store: TelemetryStore, meter: FlowMeterSpec, first_day: date, n_days: int
) -> FloatArray:
    """Daily volume through one meter [m³] from its raw ``volume_m3`` counter readings.

    Reads a few days beyond the period on both sides so that day-boundary interpolation
    (:func:`daily_counter_volume_m3`) has readings to interpolate between; within the meter's
    ``span`` only (the time it stood on its site), so water metered elsewhere is not counted.
    """
    margin = _COUNTER_MARGIN_DAYS * DAY_MS
    start = cst_midnight_ms(first_day)
    lo, hi = start - margin, start + n_days * DAY_MS + margin
    if meter.span is not None:
        lo, hi = max(lo, meter.span[0]), min(hi, meter.span[1])
    points = query_raw_all(
        store=store,
        device_id=meter.device_id,
        quantity="volume_m3",
        start_ms=lo,
        end_ms=hi,
    ) if hi > lo else []
    ts, values = series_arrays(points)
    return daily_counter_volume_m3(
        ts_ms=ts,
        values_m3=values,
        first_day=first_day,
        n_days=n_days,
        rollover_m3=meter.rollover_m3,
    )


def probe_daily_theta(
    *, store: TelemetryStore, probes: Sequence[ProbeSpec], first_day: date, n_days: int
) -> FloatArray:
    """Daily mean θ of each probe [m³/m³] (``vwc_pct`` / 100), shape (n_probes, n_days)."""
    rows = np.full((len(probes), n_days), np.nan)
    for j, probe in enumerate(probes):
        mean_pct, _ = DailyReader(store, probe.device_id, first_day, n_days,
                                  probe.span).mean_count("vwc_pct")
        rows[j] = mean_pct / 100.0
    return rows


def _filled_et0(weather: Sequence[DailyWeather]) -> FloatArray:
    """ET0 per day, missing days linearly interpolated (nearest value at the ends)."""
    et0 = np.asarray([np.nan if w.et0_mm is None else w.et0_mm for w in weather], np.float64)
    ok = np.isfinite(et0)
    if not ok.any():
        raise ValueError("no day of the period has an ET0")
    x = np.arange(et0.shape[0], dtype=np.float64)
    return np.asarray(np.interp(x, x[ok], et0[ok]))


def _check_consecutive(days: Sequence[date]) -> None:
    expected = [days[0] + timedelta(days=i) for i in range(len(days))]
    if list(days) != expected:
        raise ValueError("weather must cover consecutive days, oldest first")


def field_water_balance(
    *,
    store: TelemetryStore,
    field: FieldSpec,
    weather: Sequence[DailyWeather],
    initial_depletion_mm: float = 0.0,
    gain: float = DEFAULT_GAIN,
    runoff_mm: ArrayLike = 0.0,
) -> FieldBalance:
    """Run the balance of a field over the days of ``weather`` (consecutive CST days).

    Kc and Zr follow the field's crop and planting date; irrigation is the sum of the
    field meters' daily volumes over the field area; probes nudge the depletion (module
    docstring). Days without ET0 are interpolated from their neighbours.

    :param store: telemetry store with the meters' and probes' readings.
    :param field: the field.
    :param weather: daily weather of the field's station (:func:`station_daily_weather`).
    :param initial_depletion_mm: Dr before the first day [mm].
    :param gain: probe nudging gain k [-].
    :param runoff_mm: daily runoff RO [mm] (scalar or per day).
    :raises ValueError: on empty or non-consecutive weather, or no ET0 at all.
    """
    if not weather:
        raise ValueError("weather is empty")
    days = [w.day for w in weather]
    _check_consecutive(days)
    n = len(days)
    volume = np.zeros(n)
    for meter in field.meters:
        volume += meter_daily_volume_m3(store=store, meter=meter, first_day=days[0], n_days=n)
    zr = root_depth_m(
        day_after_planting=days_after_planting(days=days, planting_date=field.planting_date),
        l_ini=field.crop.l_ini,
        l_dev=field.crop.l_dev,
        zr_min_m=field.zr_min_m,
        zr_max_m=field.root_depth_max_m,
    )
    theta_obs = None
    if field.probes:
        theta = probe_daily_theta(store=store, probes=field.probes, first_day=days[0], n_days=n)
        depths = [p.depth_cm for p in field.probes]
        theta_obs = root_zone_theta(theta_by_probe=theta, depth_cm=depths, zr_m=zr)
    et0 = _filled_et0(weather)
    rain = np.asarray([np.nan if w.rain_mm is None else w.rain_mm for w in weather])
    series = root_zone_balance(
        et0_mm=et0,
        kc=kc_series(crop=field.crop, planting_date=field.planting_date, days=days),
        rain_mm=rain,
        irrigation_mm=irrigation_depth_mm(volume_m3=volume, area_mu=field.area_mu),
        zr_m=zr,
        theta_fc=field.soil.theta_fc,
        theta_wp=field.soil.theta_wp,
        p=field.depletion_fraction,
        initial_depletion_mm=initial_depletion_mm,
        runoff_mm=runoff_mm,
        observed_theta=theta_obs,
        gain=gain,
        p_adjust_for_etc=field.p_adjust_for_etc,
    )
    return FieldBalance(
        site_id=field.site_id,
        area_mu=field.area_mu,
        p=field.depletion_fraction,
        days=tuple(days),
        et0_mm=et0,
        et0_methods=tuple(w.method for w in weather),
        rain_mm=rain,
        irrigation_m3=volume,
        series=series,
    )
