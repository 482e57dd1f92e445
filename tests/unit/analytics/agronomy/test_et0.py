"""Reference evapotranspiration against FAO-56 worked examples (Allen et al., 1998, Ch. 4).

Note on numbering: in FAO-56, Example 17 is the MONTHLY calculation (Bangkok, April,
5.72 mm/day), Example 18 the DAILY one (Brussels, 6 July, 3.9 mm/day) and Example 19 the
HOURLY one (N'Diaye, Senegal). FAO-56 has no numbered worked example for Hargreaves (Eq. 52).
"""

import numpy as np
import pytest

from analytics.agronomy import (
    daylight_hours_h,
    et0_daily_mm,
    et0_hargreaves_mm,
    et0_hourly_mm,
    extraterrestrial_radiation_mj_m2_day,
    solar_radiation_angstrom_mj_m2_day,
    wind_speed_2m_m_s,
)

BRUSSELS_LAT = 50 + 48 / 60
BANGKOK_LAT = 13 + 44 / 60
NDIAYE = {
    "lat_deg": 16 + 13 / 60,
    "lon_deg": -16.25,  # 16°15'W, degrees EAST convention
    # FAO-56 Example 19 computes with Lz = 15° W (UTC-1) although Senegal keeps UTC; we
    # reproduce the published example, so the zone centre is -15° east.
    "tz_lon_deg": -15.0,
    "elevation_m": 8,
    "day_of_year": 274,  # 1 October
}


def _brussels_rs() -> float:
    ra = extraterrestrial_radiation_mj_m2_day(lat_deg=BRUSSELS_LAT, day_of_year=187)
    n_max = daylight_hours_h(lat_deg=BRUSSELS_LAT, day_of_year=187)
    return float(
        solar_radiation_angstrom_mj_m2_day(sunshine_h=9.25, daylight_h=n_max, ra_mj_m2_day=ra)
    )


def test_example_18_daily_et0_brussels():
    # FAO-56 Example 18 (p. 72): Brussels 50°48'N, 100 m, 6 July; Tmax 21.5, Tmin 12.3 °C,
    # RHmax 84 %, RHmin 63 %, wind 10 km/h at 10 m, n = 9.25 h -> ET0 = 3.9 mm/day.
    # Unrounded chain: 3.88 mm/day; abs = 0.05 is the printed 1-decimal resolution.
    et0 = et0_daily_mm(
        t_max_c=21.5,
        t_min_c=12.3,
        rh_max_pct=84,
        rh_min_pct=63,
        wind_2m_m_s=wind_speed_2m_m_s(wind_m_s=10 / 3.6, height_m=10),
        solar_rad_mj_m2_day=_brussels_rs(),
        lat_deg=BRUSSELS_LAT,
        elevation_m=100,
        day_of_year=187,
    )
    assert et0 == pytest.approx(3.9, abs=0.05)
    # The worked example's own intermediate values (ea 1.409 kPa, Rs 22.07) give the same.
    et0_ea = et0_daily_mm(
        t_max_c=21.5,
        t_min_c=12.3,
        ea_kpa=1.409,
        wind_2m_m_s=2.078,
        solar_rad_mj_m2_day=22.07,
        lat_deg=BRUSSELS_LAT,
        elevation_m=100,
        day_of_year=187,
    )
    assert et0_ea == pytest.approx(et0, abs=0.005)


def test_example_17_monthly_et0_bangkok_april():
    # FAO-56 Example 17 (p. ≈70): Bangkok 13°44'N, 2 m, April (J = 105): Tmax 34.8,
    # Tmin 25.6 °C, ea 2.85 kPa, u2 2 m/s, n 8.5 h/day, Tmarch 29.2 °C -> G = 0.14·(30.2 −
    # 29.2) = 0.14 MJ m-2 day-1 (Eq. 44) -> ET0 = 5.72 mm/day. Printed to 0.01 but built from
    # rounded intermediates (Rs 22.65, Rn 14.33), so abs = 0.01.
    ra = extraterrestrial_radiation_mj_m2_day(lat_deg=BANGKOK_LAT, day_of_year=105)
    n_max = daylight_hours_h(lat_deg=BANGKOK_LAT, day_of_year=105)
    assert ra == pytest.approx(38.06, abs=0.005)
    rs = solar_radiation_angstrom_mj_m2_day(sunshine_h=8.5, daylight_h=n_max, ra_mj_m2_day=ra)
    assert rs == pytest.approx(22.65, abs=0.005)
    et0 = et0_daily_mm(
        t_max_c=34.8,
        t_min_c=25.6,
        ea_kpa=2.85,
        wind_2m_m_s=2.0,
        solar_rad_mj_m2_day=rs,
        lat_deg=BANGKOK_LAT,
        elevation_m=2,
        day_of_year=105,
        soil_heat_flux_mj_m2_day=0.14,
    )
    assert et0 == pytest.approx(5.72, abs=0.01)


def test_example_19_hourly_et0_senegal_day_and_night():
    # FAO-56 Example 19 (p. 75), N'Diaye, Senegal, 1 October:
    #   14-15 h: T 38 °C, RH 52 %, u2 3.3 m/s, Rs 2.450 MJ m-2 h-1 -> ET0 = 0.63 mm/h
    #   02-03 h: T 28 °C, RH 90 %, u2 1.9 m/s, Rs 0, Rs/Rso = 0.8 -> ET0 = 0.0 mm/h
    # Day abs = 0.005 (2 decimals printed); night abs = 0.01 (printed "0.0"; the unrounded
    # value is +0.004 mm/h because Rn − G ≈ −0.05 MJ m-2 h-1 nearly cancels the aerodynamic
    # term).
    et0 = et0_hourly_mm(
        t_c=np.array([38.0, 28.0]),
        rh_pct=np.array([52.0, 90.0]),
        wind_2m_m_s=np.array([3.3, 1.9]),
        solar_rad_mj_m2_h=np.array([2.450, 0.0]),
        hour_mid=np.array([14.5, 2.5]),
        night_rs_rso=0.8,
        **NDIAYE,
    )
    assert et0.shape == (2,)
    assert et0[0] == pytest.approx(0.63, abs=0.005)
    assert et0[1] == pytest.approx(0.0, abs=0.01)


def test_hourly_et0_uses_night_ratio_only_at_night():
    night = {
        "t_c": 28.0,
        "rh_pct": 90.0,
        "wind_2m_m_s": 1.9,
        "solar_rad_mj_m2_h": 0.0,
        "hour_mid": 2.5,
    }
    cloudy_night = et0_hourly_mm(night_rs_rso=0.3, **night, **NDIAYE)
    clear_night = et0_hourly_mm(night_rs_rso=0.8, **night, **NDIAYE)
    # Clearer sky -> more long-wave loss -> lower ET0 at night.
    assert clear_night < cloudy_night
    day = {**night, "solar_rad_mj_m2_h": 2.45, "hour_mid": 14.5, "t_c": 38.0, "rh_pct": 52.0}
    assert et0_hourly_mm(night_rs_rso=0.3, **day, **NDIAYE) == et0_hourly_mm(
        night_rs_rso=0.8, **day, **NDIAYE
    )


def test_hargreaves_lyon_by_hand():
    # FAO-56 Eq. 52 with the Lyon data of Examples 15/20 (45°43'N, July, J = 196,
    # Tmax 26.6, Tmin 14.8 °C; Example 15 prints Ra = 40.6 MJ m-2 day-1).
    # By hand: 0.0023·(20.7 + 17.8)·√11.8·0.408·40.6 = 0.0023·38.5·3.4351·16.565 = 5.04 mm/day.
    # Ra rounding (±0.05 of 40.6 = ±0.12 %) allows ±0.006 mm/day -> abs = 0.01.
    lat = 45 + 43 / 60
    assert extraterrestrial_radiation_mj_m2_day(lat_deg=lat, day_of_year=196) == pytest.approx(
        40.6, abs=0.05
    )
    et0 = et0_hargreaves_mm(t_max_c=26.6, t_min_c=14.8, lat_deg=lat, day_of_year=196)
    assert et0 == pytest.approx(5.04, abs=0.01)


def test_hargreaves_no_negative_range():
    # Tmax < Tmin (bad data) is floored to a zero range instead of NaN.
    assert et0_hargreaves_mm(t_max_c=10.0, t_min_c=12.0, lat_deg=38.0, day_of_year=180) == 0.0


def test_daily_et0_requires_humidity_or_ea():
    with pytest.raises(ValueError, match="ea_kpa"):
        et0_daily_mm(
            t_max_c=25.0,
            t_min_c=12.0,
            wind_2m_m_s=2.0,
            solar_rad_mj_m2_day=20.0,
            lat_deg=38.0,
            elevation_m=800,
            day_of_year=150,
        )


def test_daily_et0_vectorised_over_days_and_stations():
    # 5 days x 3 stations, Shanxi-like inputs; output shape follows the broadcast inputs.
    rng = np.random.default_rng(0)
    t_max = rng.uniform(20, 32, size=(5, 3))
    t_min = t_max - rng.uniform(8, 15, size=(5, 3))
    doy = np.arange(150, 155)[:, None]
    et0 = et0_daily_mm(
        t_max_c=t_max,
        t_min_c=t_min,
        rh_max_pct=80.0,
        rh_min_pct=35.0,
        wind_2m_m_s=2.0,
        solar_rad_mj_m2_day=22.0,
        lat_deg=np.array([37.9, 38.5, 36.1]),
        elevation_m=np.array([778.0, 1000.0, 450.0]),
        day_of_year=doy,
    )
    assert et0.shape == (5, 3)
    assert np.all((et0 > 2.0) & (et0 < 10.0))
    # Element-wise identical to scalar calls.
    one = et0_daily_mm(
        t_max_c=t_max[2, 1],
        t_min_c=t_min[2, 1],
        rh_max_pct=80.0,
        rh_min_pct=35.0,
        wind_2m_m_s=2.0,
        solar_rad_mj_m2_day=22.0,
        lat_deg=38.5,
        elevation_m=1000.0,
        day_of_year=152,
    )
    assert isinstance(one, float)
    assert et0[2, 1] == pytest.approx(one, rel=1e-12)


def test_hourly_et0_full_day_series():
    hours = np.arange(24) + 0.5
    t = 20 + 8 * np.sin((hours - 9) / 24 * 2 * np.pi)
    rs = np.clip(np.sin((hours - 6) / 12 * np.pi), 0, None) * 3.0
    et0 = et0_hourly_mm(
        t_c=t,
        rh_pct=60.0,
        wind_2m_m_s=2.0,
        solar_rad_mj_m2_h=rs,
        lat_deg=37.87,
        lon_deg=112.55,
        tz_lon_deg=120.0,
        elevation_m=778,
        day_of_year=172,
        hour_mid=hours,
    )
    assert et0.shape == (24,)
    assert np.all(np.isfinite(et0))
    assert et0[12] > 0.3 > et0[0]


def test_hourly_et0_is_the_same_on_a_utc_and_a_cst_clock():
    # 07:00-08:00 CST = 23:00-24:00 UTC the day before at 112° E: the sun is up (Ra 2.006,
    # see test_radiation), so G = 0.1 Rn and Rs/Rso is measured. Before the hour angle was
    # wrapped, the UTC clock put the hour at night (|ω| > ωs): G = 0.5 Rn, Rs/Rso = 0.8.
    hour = {"t_c": 18.0, "rh_pct": 60.0, "wind_2m_m_s": 2.0, "solar_rad_mj_m2_h": 0.9,
            "lat_deg": 38.0, "lon_deg": 112.0, "elevation_m": 1100.0, "day_of_year": 171}
    cst = et0_hourly_mm(**hour, tz_lon_deg=120.0, hour_mid=7.5)
    utc = et0_hourly_mm(**hour, tz_lon_deg=0.0, hour_mid=23.5)
    assert utc == pytest.approx(cst, abs=1e-9)
    assert cst > 0.05
