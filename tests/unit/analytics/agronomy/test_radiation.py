"""Radiation terms against FAO-56 worked examples (Allen et al., 1998, Chapter 3).

Tolerances: half a unit of the last digit printed in the example, unless stated.
"""

import numpy as np
import pytest

from analytics.agronomy import (
    clear_sky_radiation_mj_m2,
    daylight_hours_h,
    extraterrestrial_radiation_mj_m2_day,
    extraterrestrial_radiation_mj_m2_h,
    inverse_relative_distance_earth_sun,
    net_longwave_radiation_mj_m2_day,
    net_longwave_radiation_mj_m2_h,
    net_shortwave_radiation_mj_m2,
    solar_declination_rad,
    solar_radiation_angstrom_mj_m2_day,
    sunset_hour_angle_rad,
)

RIO_LAT = -(22 + 54 / 60)  # Rio de Janeiro, 22°54'S (Examples 10-12)


def test_example_8_extraterrestrial_radiation_20s_3_september():
    # FAO-56 Example 8 (p. ≈47): 20°S, 3 September (J = 246): dr = 0.985, δ = 0.120 rad,
    # ωs = 1.527 rad, Ra = 32.2 MJ m-2 day-1.
    assert inverse_relative_distance_earth_sun(day_of_year=246) == pytest.approx(0.985, abs=5e-4)
    assert solar_declination_rad(day_of_year=246) == pytest.approx(0.120, abs=5e-4)
    assert sunset_hour_angle_rad(lat_deg=-20, day_of_year=246) == pytest.approx(1.527, abs=5e-4)
    ra = extraterrestrial_radiation_mj_m2_day(lat_deg=-20, day_of_year=246)
    assert ra == pytest.approx(32.2, abs=0.05)


def test_example_9_daylight_hours():
    # FAO-56 Example 9 (p. ≈48): same place and date -> N = 24·1.527/π = 11.7 h.
    assert daylight_hours_h(lat_deg=-20, day_of_year=246) == pytest.approx(11.7, abs=0.05)


def test_example_10_solar_radiation_from_sunshine_rio_may():
    # FAO-56 Example 10 (p. ≈50): Rio de Janeiro, 15 May (J = 135), 220 h of sunshine in May
    # (n = 220/31 = 7.1 h/day): Ra = 25.1 MJ m-2 day-1, N = 10.9 h, Rs = 14.5 MJ m-2 day-1.
    ra = extraterrestrial_radiation_mj_m2_day(lat_deg=RIO_LAT, day_of_year=135)
    n_max = daylight_hours_h(lat_deg=RIO_LAT, day_of_year=135)
    assert ra == pytest.approx(25.1, abs=0.05)
    assert n_max == pytest.approx(10.9, abs=0.05)
    rs = solar_radiation_angstrom_mj_m2_day(sunshine_h=220 / 31, daylight_h=n_max, ra_mj_m2_day=ra)
    assert rs == pytest.approx(14.5, abs=0.05)


def test_example_11_clear_sky_and_net_longwave_radiation():
    # FAO-56 Example 11 (p. ≈52): Rio, May: Tmax 25.1 °C, Tmin 19.1 °C, ea 2.1 kPa,
    # Rs 14.5; Rso = 0.75·25.1 = 18.8 MJ m-2 day-1 (sea level, Eq. 37); Rnl = 3.5 MJ m-2 day-1.
    rso = clear_sky_radiation_mj_m2(ra_mj_m2=25.1, elevation_m=0)
    assert rso == pytest.approx(18.8, abs=0.05)
    rnl = net_longwave_radiation_mj_m2_day(
        t_max_c=25.1, t_min_c=19.1, ea_kpa=2.1, rs_rso=14.5 / 18.8
    )
    assert rnl == pytest.approx(3.5, abs=0.05)


def test_example_12_net_radiation():
    # FAO-56 Example 12 (p. ≈53): Rns = 0.77·14.5 = 11.165 (printed as 11.1, i.e. truncated,
    # hence abs = 0.1), Rn = Rns − Rnl = 7.6 MJ m-2 day-1.
    rns = net_shortwave_radiation_mj_m2(solar_rad_mj_m2=14.5)
    assert rns == pytest.approx(11.1, abs=0.1)
    rnl = net_longwave_radiation_mj_m2_day(
        t_max_c=25.1, t_min_c=19.1, ea_kpa=2.1, rs_rso=14.5 / 18.8
    )
    assert rns - rnl == pytest.approx(7.6, abs=0.1)


def test_example_18_radiation_intermediates_brussels():
    # FAO-56 Example 18 (p. 72): Brussels 50°48'N, 100 m, 6 July (J = 187), n = 9.25 h:
    # Ra = 41.09, N = 16.1 h, Rs = 22.07, Rso = 30.90, Rns = 17.00, Rnl = 3.71 MJ m-2 day-1.
    lat = 50 + 48 / 60
    ra = extraterrestrial_radiation_mj_m2_day(lat_deg=lat, day_of_year=187)
    n_max = daylight_hours_h(lat_deg=lat, day_of_year=187)
    rs = solar_radiation_angstrom_mj_m2_day(sunshine_h=9.25, daylight_h=n_max, ra_mj_m2_day=ra)
    rso = clear_sky_radiation_mj_m2(ra_mj_m2=ra, elevation_m=100)
    assert ra == pytest.approx(41.09, abs=0.005)
    assert n_max == pytest.approx(16.1, abs=0.05)
    assert rs == pytest.approx(22.07, abs=0.005)
    assert rso == pytest.approx(30.90, abs=0.005)
    assert net_shortwave_radiation_mj_m2(solar_rad_mj_m2=rs) == pytest.approx(17.00, abs=0.005)
    rnl = net_longwave_radiation_mj_m2_day(
        t_max_c=21.5, t_min_c=12.3, ea_kpa=1.409, rs_rso=rs / rso
    )
    assert rnl == pytest.approx(3.71, abs=0.005)


def test_example_19_hourly_extraterrestrial_radiation_senegal():
    # FAO-56 Example 19 (p. 75): N'Diaye, Senegal, 16°13'N, 16°15'W, 1 October (J = 274),
    # 14:00-15:00 -> Ra = 3.543 MJ m-2 h-1. The example computes with Lz = 15° W (a UTC-1
    # zone); in this package's east-positive convention lon = -16.25, tz_lon = -15.
    ra = extraterrestrial_radiation_mj_m2_h(
        lat_deg=16 + 13 / 60, lon_deg=-16.25, tz_lon_deg=-15.0, day_of_year=274, hour_mid=14.5
    )
    assert ra == pytest.approx(3.543, abs=5e-4)
    # Rso = (0.75 + 2e-5·8)·3.543 = 2.658 MJ m-2 h-1.
    assert clear_sky_radiation_mj_m2(ra_mj_m2=ra, elevation_m=8) == pytest.approx(2.658, abs=5e-4)


def test_example_19_night_net_longwave():
    # FAO-56 Example 19 (p. 75), 02:00-03:00: T = 28 °C, ea = 3.402 kPa, Rs/Rso = 0.8 ->
    # Rnl = 0.100 MJ m-2 h-1 (σ/24 = 2.043e-10 MJ K-4 m-2 h-1).
    rnl = net_longwave_radiation_mj_m2_h(t_c=28.0, ea_kpa=3.402, rs_rso=0.8)
    assert rnl == pytest.approx(0.100, abs=5e-4)


def test_hourly_ra_night_is_zero_and_sums_to_daily():
    lat, lon, j = 37.87, 112.55, 172  # Taiyuan, Shanxi, summer solstice; China time (120° E)
    hours = np.arange(24) + 0.5
    ra_h = extraterrestrial_radiation_mj_m2_h(
        lat_deg=lat, lon_deg=lon, tz_lon_deg=120.0, day_of_year=j, hour_mid=hours
    )
    assert ra_h.shape == (24,)
    assert ra_h[0] == 0.0 and ra_h[23] == 0.0  # midnight
    assert np.all(ra_h >= 0.0)
    # Integrating the clipped hourly values over the day reproduces Eq. 21 (equation of time
    # and the longitude offset only shift the curve within the day).
    ra_d = extraterrestrial_radiation_mj_m2_day(lat_deg=lat, day_of_year=j)
    assert ra_h.sum() == pytest.approx(ra_d, rel=1e-9)


def test_east_longitude_convention_shifts_solar_noon():
    # A site 7.45° west of its zone meridian (Taiyuan 112.55° E vs 120° E) reaches solar noon
    # ~30 min after 12:00 clock time, so 12:00-13:00 receives more Ra than 11:00-12:00.
    kw = {"lat_deg": 37.87, "lon_deg": 112.55, "tz_lon_deg": 120.0, "day_of_year": 80}
    before = extraterrestrial_radiation_mj_m2_h(hour_mid=11.5, **kw)
    after = extraterrestrial_radiation_mj_m2_h(hour_mid=12.5, **kw)
    assert after > before


def test_polar_latitudes_do_not_produce_nan():
    ra = extraterrestrial_radiation_mj_m2_day(lat_deg=[80.0, -80.0], day_of_year=172)
    assert np.all(np.isfinite(ra))
    assert ra[1] == pytest.approx(0.0, abs=1e-9)  # polar night
    assert daylight_hours_h(lat_deg=80.0, day_of_year=172) == pytest.approx(24.0)


def test_radiation_vectorised():
    lat = np.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]])
    out = extraterrestrial_radiation_mj_m2_day(lat_deg=lat, day_of_year=100)
    assert out.shape == (2, 3)
    days = np.arange(1, 366)
    assert extraterrestrial_radiation_mj_m2_day(lat_deg=38.0, day_of_year=days).shape == (365,)


# refet 0.5.0 ``refet.calcs.ra_hourly(lat_rad, lon_rad, doy, utc_time_mid, method="asce")``
# (ASCE-EWRI 2005 Eqs. 48-57, which wrap ω into [-π, π)), read once on 2026-12-08 with
# refet installed in the venv: (lat, lon E, tz lon E, J, clock hour mid, Ra [MJ m-2 h-1]).
REFET_RA_HOURLY = (
    (38.0, 112.0, 0.0, 171, 23.5, 2.0062),  # UTC clock, 07:28 local solar time: was 0.0
    (38.0, 112.0, 120.0, 171, 7.5, 2.0062),  # the same instant on the CST clock
    (38.0, 112.0, 0.0, 171, 0.5, 2.8389),
    (38.0, 112.0, 120.0, 171, 14.5, 4.1624),
    (40.0, -105.0, 0.0, 200, 20.5, 4.2629),
    (-20.0, 30.0, 0.0, 246, 22.5, 0.0),  # night
)


@pytest.mark.parametrize(("lat", "lon", "tz", "doy", "hour", "expected"), REFET_RA_HOURLY)
def test_hourly_ra_matches_refet_on_any_clock(lat, lon, tz, doy, hour, expected):
    ra = extraterrestrial_radiation_mj_m2_h(lat_deg=lat, lon_deg=lon, tz_lon_deg=tz,
                                            day_of_year=doy, hour_mid=hour)
    assert ra == pytest.approx(expected, abs=5e-4)


def test_hour_angle_wraps_into_minus_pi_pi_hand_worked():
    # FAO-56 Eqs. 31-33, J = 171: b = 2π(171 − 81)/364 = 1.553535; Sc = 0.1645 sin 2b −
    # 0.1255 cos b − 0.025 sin b = 0.005678 − 0.002166 − 0.024996 = −0.021485 h (Eq. 32).
    # UTC 23.5 h at 112° E (Lz = 0°): ω = π/12 (23.5 + 112/15 − 0.021485 − 12) = π/12 ·
    # 18.945182 = 4.959837 rad > π, i.e. 4.959837 − 2π = −1.323348 rad (07:28 solar time).
    from analytics.agronomy import solar_hour_angle_rad

    w = solar_hour_angle_rad(lon_deg=112, tz_lon_deg=0, day_of_year=171, hour_mid=23.5)
    assert w == pytest.approx(-1.323348, abs=1e-5)
    cst = solar_hour_angle_rad(lon_deg=112, tz_lon_deg=120, day_of_year=171, hour_mid=7.5)
    assert w == pytest.approx(cst, abs=1e-9)
    # Eq. 28 with ω1,2 = ω ∓ π/24, φ = 38°, δ = 0.409 sin(2π·171/365 − 1.39) = 0.409339,
    # dr = 1 + 0.033 cos(2π·171/365) = 0.967497:
    # Ra = 12·60/π · 0.0820 · dr · [(π/12) sin φ sin δ + cos φ cos δ (sin ω2 − sin ω1)]
    phi, delta, dr = np.deg2rad(38.0), 0.409 * np.sin(2 * np.pi * 171 / 365 - 1.39), \
        1 + 0.033 * np.cos(2 * np.pi * 171 / 365)
    w1, w2 = w - np.pi / 24, w + np.pi / 24
    hand = 12 * 60 / np.pi * 0.0820 * dr * (
        (w2 - w1) * np.sin(phi) * np.sin(delta)
        + np.cos(phi) * np.cos(delta) * (np.sin(w2) - np.sin(w1)))
    assert hand == pytest.approx(2.006, abs=5e-4)
    ra = extraterrestrial_radiation_mj_m2_h(lat_deg=38, lon_deg=112, tz_lon_deg=0,
                                            day_of_year=171, hour_mid=23.5)
    assert ra == pytest.approx(hand, abs=1e-9)
