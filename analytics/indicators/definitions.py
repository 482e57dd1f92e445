"""The indicators farmtel computes: key, names, unit (targets come from the target set)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IndicatorDef:
    """An indicator farmtel measures."""

    key: str
    name_zh: str
    name_en: str
    unit: str


DIGITISATION = "digitisation_level_pct"
SERVICE_COVERAGE = "info_service_coverage_pct"
IRRIGATION_COEFFICIENT = "irrigation_coefficient"
WATER_SAVING_AREA = "water_saving_irrigation_area"
FACILITY_AREA = "facility_agriculture_area"
HIGH_STANDARD_AREA = "high_standard_farmland_area"
COVERAGE_FIELD = "coverage_field_crops_pct"
COVERAGE_FACILITY = "coverage_facility_pct"
COVERAGE_LIVESTOCK = "coverage_livestock_pct"
COVERAGE_LIVESTOCK_BARN = "coverage_livestock_barn_pct"
COVERAGE_LIVESTOCK_INDIVIDUAL = "coverage_livestock_individual_pct"
COVERAGE_METERED = "coverage_metered_irrigation_pct"
DEVICE_COMPLETENESS = "device_completeness_pct"
ACTIVE_DEVICES = "active_devices_pct"

INDICATORS: tuple[IndicatorDef, ...] = (
    IndicatorDef(DIGITISATION, "农业生产数字化水平", "agricultural production digitisation level", "%"),
    IndicatorDef(SERVICE_COVERAGE, "信息化管理服务机构覆盖率",
                 "information management service coverage", "%"),
    IndicatorDef(IRRIGATION_COEFFICIENT, "农田灌溉水有效利用系数",
                 "irrigation water effective-use coefficient", "1"),
    IndicatorDef(WATER_SAVING_AREA, "高效节水灌溉面积",
                 "metered (high-efficiency water-saving) irrigation area", "万亩"),
    IndicatorDef(FACILITY_AREA, "设施农业面积", "facility agriculture area under monitoring", "万亩"),
    IndicatorDef(HIGH_STANDARD_AREA, "高标准农田建设面积",
                 "high-standard farmland area under monitoring", "万亩"),
    IndicatorDef(COVERAGE_FIELD, "大田种植信息化率", "field crops under soil-moisture monitoring", "%"),
    IndicatorDef(COVERAGE_FACILITY, "设施栽培信息化率", "facility area under climate monitoring", "%"),
    IndicatorDef(COVERAGE_LIVESTOCK, "畜禽养殖信息化率", "livestock under any monitoring", "%"),
    IndicatorDef(COVERAGE_LIVESTOCK_BARN, "畜禽养殖环境监测覆盖率",
                 "livestock in barns with environment monitoring", "%"),
    IndicatorDef(COVERAGE_LIVESTOCK_INDIVIDUAL, "个体体征智能监测覆盖率",
                 "animals with individual (collar) monitoring", "%"),
    IndicatorDef(COVERAGE_METERED, "计量灌溉覆盖率", "farmland under metered irrigation", "%"),
    IndicatorDef(DEVICE_COMPLETENESS, "设备数据完整率", "report completeness of devices", "%"),
    IndicatorDef(ACTIVE_DEVICES, "设备在线率", "share of devices active", "%"),
)

BY_KEY = {d.key: d for d in INDICATORS}
