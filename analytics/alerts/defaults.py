"""Default alert rules per device type, each with its source and Chinese/English titles.

Thresholds are starting points for the Shuozhou deployment, to be tuned per site with
overrides (:func:`apply_overrides`). Where a number is farmtel's own engineering choice rather
than a published threshold, its ``source`` says so.

Site kinds map to device types as in :data:`SITE_KIND_DEVICE_TYPES`; rules are keyed by device
type because a reading carries its device type, not its site kind.
"""

from __future__ import annotations

from functools import cache

from analytics.alerts.overrides import RuleOverrides, apply_overrides
from analytics.alerts.rules import (
    WATER_BALANCE_DEVICE_TYPE,
    BaselineDropRule,
    DepletionRule,
    Direction,
    FrostRule,
    HumidityHoursRule,
    Indicator,
    IndicatorRule,
    NoDataRule,
    RateOfChangeRule,
    Rule,
    Season,
    Severity,
    StuckSensorRule,
    ThresholdRule,
    Trend,
)
from devices.catalogue import DEVICE_TYPES
from devices.registry import SiteKind

__all__ = ["SITE_KIND_DEVICE_TYPES", "apply_overrides", "default_rules", "rules_for_site",
           "rules_for_site_kind"]

SITE_KIND_DEVICE_TYPES: dict[SiteKind, frozenset[str]] = {
    SiteKind.FIELD: frozenset({"soil_moisture", "weather_station", "flow_meter", "gateway",
                               WATER_BALANCE_DEVICE_TYPE}),
    SiteKind.GREENHOUSE: frozenset({"greenhouse_climate", "soil_moisture", "gateway"}),
    SiteKind.BARN: frozenset({"barn_climate", "livestock_collar", "gateway"}),
    SiteKind.WATER_SOURCE: frozenset({"flow_meter", "gateway"}),
}
"""Device types that typically sit on each kind of site."""

_SRC_NO_DATA = (
    "farmtel policy: 3 missed reports (3 × the catalogue report interval) tolerate one or two "
    "lost LoRa/NB-IoT uplinks before a person is bothered.")
_SRC_BATTERY = (
    "farmtel heuristic for the 1-cell Li-ion + solar packs of the field nodes (4.2 V full, "
    "~3.3 V empty): below ~3.5 V the cell is in its low-charge knee; 4 consecutive reports "
    "ignore radio-load and cold-night dips; clears at 3.65 V once the panel has recharged.")
_SRC_STUCK = (
    "Adapted from the persistence (minimum variability) test of Zahumenský, I. (2004), "
    "Guidelines on Quality Control Procedures for Data from Automatic Weather Stations, WMO "
    "CBS/OPAG-IOS (≥ 0.1 °C change of air temperature expected within 60 min); farmtel uses "
    "longer windows per quantity to avoid false alarms on calm nights and in deep soil.")
_SRC_VWC_DROP = (
    "farmtel heuristic from FAO-56 (Allen et al., 1998): hourly ET rarely exceeds ~1 mm/h, "
    "i.e. < 0.5 %vol/h over a 20 cm layer, so a VWC fall ≥ 5 %vol/h is not water use: probe "
    "lifted/air gap, cable fault or drainage of a broken pipe.")
_SRC_GH_COLD = (
    "Chilling injury of warm-season crops (tomato, cucumber, pepper) below ~10-12 °C: Lyons, "
    "J.M. (1973), Chilling injury in plants, Annu. Rev. Plant Physiol. 24:445-466. The 4 °C/h "
    "cooling rate below 12 °C (heating or thermal-blanket failure at night) is a farmtel "
    "heuristic; daytime venting from warm levels is excluded by the 12 °C gate.")
_SRC_VPD = (
    "Prenger, J.J., Ling, P.P. (2001), Greenhouse Condensation Control: Understanding and Using "
    "Vapor Pressure Deficit (VPD), Ohio State Univ. Extension Fact Sheet AEX-804: 0.45-1.25 kPa "
    "is the healthy range, low VPD means condensation and fungal disease risk, high VPD water "
    "stress. The upper alert (1.6 kPa for ≥ 60 min) adds a margin so routine midday peaks in "
    "the dry Shanxi climate do not alarm (farmtel choice).")
_SRC_VPD_LOW = _SRC_VPD + (
    " The lower alert is evaluated 10:00-15:00 CST only, the core of the light period in every "
    "season (farmtel choice, reviewed on a simulated December: a closed solar greenhouse sits "
    "below 0.45 kPa from quilt-down, about 16:00, to quilt-up, about 09:30, so an all-day rule "
    "fired every evening in every greenhouse). The night's condensation and Botrytis risk is "
    "what gh.humidity_hours (hours of RH ≥ 90 %) measures.")
_SRC_HUMID_HOURS = (
    "Yunis, H., Shtienberg, D., Elad, Y., Mahrer, Y. (1994), Qualitative approach for modelling "
    "outbreaks of grey mould epidemics in non-heated cucumber greenhouses, Crop Protection "
    "13:99-104: Botrytis outbreaks when foliage wetness exceeds 7 h/day. RH ≥ 90 % as a "
    "leaf-wetness surrogate: Sentelhas, P.C. et al. (2008), Agric. For. Meteorol. 148:392-400.")
_SRC_THI = (
    "THI (NRC, 1971) bands for dairy cattle: Armstrong, D.V. (1994), Heat stress interaction "
    "with shade and cooling, J. Dairy Sci. 77:2044-2050 — 72-78 mild, 79-88 moderate, ≥ 89 "
    "severe. For high-yielding cows override levels to start at 68 (Zimbelman, R.B. et al., "
    "2009, Proc. 24th Southwest Nutrition Conf., pp. 158-169). Clear margin 2 THI (farmtel).")
_SRC_NH3 = (
    "Occupational limit 25 ppm (8 h TWA; 35 ppm short-term): NIOSH Pocket Guide to Chemical "
    "Hazards (ammonia) and ACGIH TLV; CIGR (1984/1994) Climatization of animal houses "
    "recommends ≤ 20 ppm for livestock, used as the clear level. China GBZ 2.1-2019: "
    "PC-TWA 20 mg/m³ (≈ 28 ppm).")
_SRC_FEVER = (
    "Fever ≥ 39.5 °C: Burfeind, O., Suthar, V.S., Heuwieser, W. (2012), Effect of heat stress "
    "on body temperature in healthy early postpartum dairy cows, Theriogenology 78:2031-2038 "
    "(fever thresholds in use 39.4-39.7 °C). Two consecutive reports (30 min) filter single "
    "spikes (farmtel); assumes the collar reports a core-equivalent temperature.")
_SRC_RUMINATION = (
    "Daily rumination falls days before clinical diagnosis of metabolic and digestive "
    "disorders: Stangaferro, M.L. et al. (2016), J. Dairy Sci. 99:7395-7410. The ≥ 30 % drop "
    "below the cow's own 7-day mean (clear < 20 %) is a farmtel starting point; calibrate per "
    "herd.")
_SRC_GH_HOT = (
    "Heat injury of greenhouse fruiting vegetables: FAO (2013), Good Agricultural Practices for "
    "greenhouse vegetable crops, FAO Plant Production and Protection Paper 217, ch. 'Greenhouse "
    "climate control' (tomato and cucumber day optimum about 22-28 °C; pollen viability and "
    "fruit set fall above 30-35 °C); Sato, S., Peet, M.M., Thomas, J.F. (2000), Plant, Cell & "
    "Environment 23: 719-726 (chronic 32 °C days already cut tomato fruit set). Default: "
    "≥ 35 °C held for 30 min opens (vent, shade, mist), below 32 °C clears."
)
_SRC_FROST = (
    "Radiation-frost forecasting from the night cooling trend: Snyder, R.L., de Melo-Abreu, "
    "J.P. (2005), Frost Protection: fundamentals, practice and economics, Vol. 1, FAO "
    "Environment and Natural Resources Series 10. Cooling slows through the night (their "
    "square-root law), so the linear trend is trusted for at most 4 h ahead and only from "
    "20:00 (≈ 2 h after sunset) to 06:00 local time (farmtel simplification).")
_SRC_DEPLETION = (
    "FAO-56 (Allen et al., 1998) Eq. 83-84: water stress (Ks < 1) begins when root-zone "
    "depletion Dr exceeds RAW = p·TAW; irrigate before Dr reaches RAW.")


def _device_rules() -> tuple[Rule, ...]:
    return (
        NoDataRule(
            id="device.no_data", device_types=frozenset(DEVICE_TYPES), multiple=3.0,
            clear_hold_s=0, severity=Severity.WARNING, source=_SRC_NO_DATA,
            title_zh="设备 {device_id} 已 {value:.0f} 分钟无数据",
            title_en="Device {device_id}: no data for {value:.0f} min"),
        ThresholdRule(
            id="device.battery_low",
            device_types=frozenset({"soil_moisture", "greenhouse_climate"}),
            quantity="battery_v", direction=Direction.BELOW, set_value=3.5, clear_value=3.65,
            min_reports=4, severity=Severity.WARNING, source=_SRC_BATTERY,
            title_zh="设备 {device_id} 电池电压低（{value:.2f} V）",
            title_en="Device {device_id}: low battery ({value:.2f} V)"),
    )


def _stuck(rule_id: str, device_type: str, quantity: str, reports: int, epsilon: float,
           zh: str, en: str) -> StuckSensorRule:
    return StuckSensorRule(
        id=rule_id, device_types=frozenset({device_type}), quantity=quantity, reports=reports,
        epsilon=epsilon, severity=Severity.WARNING, source=_SRC_STUCK,
        title_zh=f"设备 {{device_id}} {zh}读数长时间不变，疑似传感器故障",
        title_en=f"Device {{device_id}}: {en} reading stuck (sensor fault?)")


def _stuck_rules() -> tuple[Rule, ...]:
    return (
        _stuck("soil.vwc_stuck", "soil_moisture", "vwc_pct", 192, 0.0, "土壤含水量", "soil VWC"),
        _stuck("soil.temp_stuck", "soil_moisture", "soil_temp_c", 192, 0.0, "土壤温度",
               "soil temperature"),
        _stuck("gh.air_temp_stuck", "greenhouse_climate", "air_temp_c", 24, 0.05, "气温",
               "air temperature"),
        _stuck("barn.air_temp_stuck", "barn_climate", "air_temp_c", 24, 0.05, "舍内温度",
               "barn temperature"),
        _stuck("ws.air_temp_stuck", "weather_station", "air_temp_c", 18, 0.05, "气温",
               "air temperature"),
        _stuck("collar.body_temp_stuck", "livestock_collar", "body_temp_c", 16, 0.05, "体温",
               "body temperature"),
    )


def _crop_rules() -> tuple[Rule, ...]:
    return (
        RateOfChangeRule(
            id="soil.vwc_drop", device_types=frozenset({"soil_moisture"}), quantity="vwc_pct",
            trend=Trend.FALLING, rate_per_h=5.0, clear_rate_per_h=2.0, window_s=3600,
            min_points=3, severity=Severity.WARNING, source=_SRC_VWC_DROP,
            title_zh="设备 {device_id} 土壤含水量骤降 {value:.1f} %/h，请检查探头",
            title_en="Device {device_id}: soil VWC falling {value:.1f} %/h, check the probe"),
        RateOfChangeRule(
            id="gh.air_temp_falling", device_types=frozenset({"greenhouse_climate"}),
            quantity="air_temp_c", trend=Trend.FALLING, rate_per_h=4.0, clear_rate_per_h=1.5,
            window_s=3600, min_points=4, gate_value=12.0, severity=Severity.CRITICAL,
            source=_SRC_GH_COLD,
            title_zh="温室 {site_id} 低温且快速降温（{value:.1f} °C/h），检查加温和保温被",
            title_en="Greenhouse {site_id}: cold and cooling {value:.1f} °C/h, check heating"),
        ThresholdRule(
            id="gh.air_temp_high", device_types=frozenset({"greenhouse_climate"}),
            quantity="air_temp_c", direction=Direction.ABOVE, set_value=35.0, clear_value=32.0,
            min_duration_s=1800, min_reports=2, severity=Severity.WARNING, source=_SRC_GH_HOT,
            title_zh="温室 {site_id} 气温过高（{value:.1f} °C ≥ {threshold:.0f} °C），请放风、遮阳",
            title_en="Greenhouse {site_id}: too hot ({value:.1f} °C ≥ {threshold:.0f} °C), "
                     "vent and shade"),
        IndicatorRule(
            id="gh.vpd_low", device_types=frozenset({"greenhouse_climate"}),
            indicator=Indicator.VPD_KPA, direction=Direction.BELOW, levels=(0.45,),
            band_severities=(Severity.WARNING,), clear_margin=0.1, min_duration_s=3600,
            source=_SRC_VPD_LOW, local_hours=(10.0, 15.0),
            title_zh="温室 {site_id} 饱和差过低（{value:.2f} kPa），结露和病害风险",
            title_en="Greenhouse {site_id}: VPD low ({value:.2f} kPa), condensation/disease risk"),
        IndicatorRule(
            id="gh.vpd_high", device_types=frozenset({"greenhouse_climate"}),
            indicator=Indicator.VPD_KPA, direction=Direction.ABOVE, levels=(1.6,),
            band_severities=(Severity.WARNING,), clear_margin=0.2, min_duration_s=3600,
            source=_SRC_VPD,
            title_zh="温室 {site_id} 饱和差过高（{value:.2f} kPa），作物水分胁迫",
            title_en="Greenhouse {site_id}: VPD high ({value:.2f} kPa), crop water stress"),
        HumidityHoursRule(
            id="gh.humidity_hours", device_types=frozenset({"greenhouse_climate"}),
            rh_threshold_pct=90.0, hours=7.0, clear_margin_h=2.0, window_s=24 * 3600,
            max_step_s=900, severity=Severity.WARNING, source=_SRC_HUMID_HOURS,
            title_zh="温室 {site_id} 近24小时高湿（RH≥90%）{value:.1f} 小时，灰霉病风险",
            title_en="Greenhouse {site_id}: {value:.1f} h of RH ≥ 90 % in 24 h, grey mould risk"),
        FrostRule(
            id="field.frost_risk", device_types=frozenset({"weather_station"}),
            threshold_c=0.0, clear_margin_c=1.0, trend_window_s=3 * 3600, min_points=4,
            max_lead_h=4.0, night_start_local_h=20.0, sunrise_local_h=6.0, utc_offset_h=8.0,
            severity=Severity.WARNING, observed_severity=Severity.CRITICAL,
            source=_SRC_FROST, season=Season.CROP_IN_FIELD,
            title_zh="站点 {site_id} 霜冻风险：气温预计降至 {value:.1f} °C",
            title_en="Site {site_id}: frost risk, air temperature heading to {value:.1f} °C"),
        DepletionRule(
            id="field.depletion_raw", device_types=frozenset({WATER_BALANCE_DEVICE_TYPE}),
            set_fraction=1.0, clear_fraction=0.9, clear_hold_s=0, severity=Severity.WARNING,
            source=_SRC_DEPLETION, season=Season.CROP_IN_FIELD,
            title_zh="地块 {site_id} 根区亏缺 {value:.0f} mm 已达易利用水量，需要灌溉",
            title_en="Field {site_id}: root-zone depletion {value:.0f} mm reached RAW, "
                     "irrigate"),
    )


def _livestock_rules() -> tuple[Rule, ...]:
    return (
        IndicatorRule(
            id="barn.thi", device_types=frozenset({"barn_climate"}), indicator=Indicator.THI,
            direction=Direction.ABOVE, levels=(72.0, 79.0, 89.0),
            band_severities=(Severity.INFO, Severity.WARNING, Severity.CRITICAL),
            clear_margin=2.0, min_duration_s=1800, severity=Severity.INFO, source=_SRC_THI,
            title_zh="畜舍 {site_id} 热应激：THI {value:.0f}（≥{threshold:.0f}）",
            title_en="Barn {site_id}: heat stress, THI {value:.0f} (≥ {threshold:.0f})"),
        ThresholdRule(
            id="barn.nh3_high", device_types=frozenset({"barn_climate"}), quantity="nh3_ppm",
            direction=Direction.ABOVE, set_value=25.0, clear_value=20.0, min_duration_s=900,
            severity=Severity.WARNING, source=_SRC_NH3,
            title_zh="畜舍 {site_id} 氨气浓度高（{value:.0f} ppm），请通风",
            title_en="Barn {site_id}: ammonia high ({value:.0f} ppm), ventilate"),
        ThresholdRule(
            id="collar.fever", device_types=frozenset({"livestock_collar"}),
            quantity="body_temp_c", direction=Direction.ABOVE, set_value=39.5,
            clear_value=39.2, min_reports=2, severity=Severity.CRITICAL, source=_SRC_FEVER,
            title_zh="项圈 {device_id} 体温 {value:.1f} °C，疑似发热",
            title_en="Collar {device_id}: body temperature {value:.1f} °C, possible fever"),
        BaselineDropRule(
            id="collar.rumination_drop", device_types=frozenset({"livestock_collar"}),
            quantity="rumination_min", drop_fraction=0.30, clear_fraction=0.20,
            baseline_days=7, min_baseline_days=3, utc_offset_h=8.0,
            severity=Severity.WARNING, source=_SRC_RUMINATION,
            title_zh="项圈 {device_id} 反刍时间 {value:.0f} 分钟，低于个体基线 30% 以上",
            title_en="Collar {device_id}: rumination {value:.0f} min, ≥ 30 % below baseline"),
    )


@cache
def default_rules() -> tuple[Rule, ...]:
    """Every default rule (built once; rules are immutable)."""
    return _device_rules() + _stuck_rules() + _crop_rules() + _livestock_rules()


def rules_for_site_kind(kind: SiteKind | str) -> tuple[Rule, ...]:
    """Default rules that apply to some device type typical of ``kind`` (for the override UI)."""
    types = SITE_KIND_DEVICE_TYPES[SiteKind(kind)]
    return tuple(r for r in default_rules() if r.device_types & types)


def rules_for_site(overrides: RuleOverrides | None = None) -> tuple[Rule, ...]:
    """The default rules with one site's overrides applied (``ValueError`` if invalid)."""
    return apply_overrides(default_rules(), overrides or {})
