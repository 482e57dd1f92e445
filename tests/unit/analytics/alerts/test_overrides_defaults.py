"""Default rules and per-site overrides."""

from __future__ import annotations

import json
from typing import Any

import pytest

from analytics.alerts import (
    AlertEngine,
    TransitionKind,
    apply_overrides,
    default_rules,
    rules_for_site,
    rules_for_site_kind,
)
from analytics.alerts.rules import TITLE_FIELDS, IndicatorRule, Rule, Severity, ThresholdRule
from devices.catalogue import DEVICE_TYPES
from devices.registry import SiteKind
from storage.telemetry import Reading
from tests.unit.analytics.alerts.helpers import MIN, T0, feed, kinds, reading


def by_id(rules: tuple[Rule, ...], rule_id: str) -> Any:
    return next(r for r in rules if r.id == rule_id)


def test_every_default_rule_is_cited_titled_and_unique() -> None:
    rules = default_rules()
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids))
    for r in rules:
        assert len(r.source) > 40, r.id
        for template in (r.title_zh, r.title_en):
            template.format(**dict.fromkeys(TITLE_FIELDS, 1.0))
        assert any("\u4e00" <= ch <= "\u9fff" for ch in r.title_zh), r.id
        known = set(DEVICE_TYPES) | {"water_balance"}
        assert r.device_types <= known, r.id
    assert by_id(rules, "device.no_data").device_types == frozenset(DEVICE_TYPES)


def test_rules_for_site_kind() -> None:
    barn = {r.id for r in rules_for_site_kind(SiteKind.BARN)}
    assert {"barn.thi", "barn.nh3_high", "collar.fever", "collar.rumination_drop",
            "device.no_data"} <= barn
    assert "gh.vpd_low" not in barn
    assert "field.depletion_raw" in {r.id for r in rules_for_site_kind("field")}


def test_overrides_from_json_replace_parameters() -> None:
    stored = json.loads(json.dumps({
        "barn.thi": {"levels": [68, 72, 80], "band_severities": ["info", "warning", "critical"],
                     "min_duration_s": 900},
        "barn.nh3_high": {"set_value": 30, "clear_value": 22.5, "severity": "critical"},
        "device.battery_low": {"enabled": False},
    }))
    rules = apply_overrides(default_rules(), stored)
    thi = by_id(rules, "barn.thi")
    assert isinstance(thi, IndicatorRule)
    assert thi.levels == (68.0, 72.0, 80.0) and thi.min_duration_s == 900
    assert thi.band_severities == (Severity.INFO, Severity.WARNING, Severity.CRITICAL)
    nh3 = by_id(rules, "barn.nh3_high")
    assert isinstance(nh3, ThresholdRule)
    assert (nh3.set_value, nh3.clear_value, nh3.severity) == (30.0, 22.5, Severity.CRITICAL)
    assert by_id(rules, "device.battery_low").enabled is False
    # untouched rules are the very same objects; the defaults are unchanged
    assert by_id(rules, "collar.fever") is by_id(default_rules(), "collar.fever")
    assert by_id(default_rules(), "barn.nh3_high").set_value == 25.0
    assert [r.id for r in rules] == [r.id for r in default_rules()]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"barn.nh3_high": {"set_pont": 30}}, "unknown parameter 'set_pont'"),
    ({"no.such.rule": {"set_value": 1}}, "unknown rule ids"),
    ({"barn.nh3_high": {"id": "x"}}, "cannot be overridden"),
    ({"barn.nh3_high": {"set_value": "thirty"}}, "expected a number"),
    ({"barn.nh3_high": {"set_value": True}}, "expected a number"),
    ({"barn.nh3_high": {"min_duration_s": 1.5}}, "expected an integer"),
    ({"barn.nh3_high": {"severity": "panic"}}, "expected one of"),
    ({"barn.nh3_high": {"clear_value": 40}}, "clear_value <= set_value"),
    ({"barn.thi": {"levels": [72, 79]}}, "same length"),
    ({"barn.thi": {"levels": 72}}, "expected a list"),
    ({"barn.nh3_high": {"title_en": "{oops}"}}, "unknown fields"),
    ({"barn.nh3_high": [1, 2]}, "must be an object"),
])
def test_invalid_overrides_raise_value_error(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        apply_overrides(default_rules(), overrides)


def test_optional_parameter_can_be_set_and_cleared() -> None:
    rules = rules_for_site({"gh.air_temp_falling": {"gate_value": None},
                            "device.no_data": {"interval_s": 120}})
    assert by_id(rules, "gh.air_temp_falling").gate_value is None
    assert by_id(rules, "device.no_data").interval_s == 120


def test_engine_applies_overrides_per_site_only() -> None:
    engine = AlertEngine(default_rules(),
                         site_overrides={"barn-a": {"barn.nh3_high": {"set_value": 30,
                                                                      "min_duration_s": 0}}})

    def nh3(site: str, v: float, i: int) -> Reading:
        return reading("nh3_ppm", v, T0 + i * 5 * MIN, device_id=f"s-{site}", site_id=site)

    out = feed(engine, [nh3("barn-a", 27, i) for i in range(6)])
    assert out == []  # 27 ppm is below barn-a's own SET of 30
    out = feed(engine, [nh3("barn-b", 27, i) for i in range(6)])
    assert kinds(out) == [TransitionKind.OPENED]  # default SET 25 for 15 min
    assert by_id(engine.rules_for_site("barn-a"), "barn.nh3_high").set_value == 30
    # invalid overrides are refused and leave the site as it was
    with pytest.raises(ValueError):
        engine.set_site_overrides("barn-a", {"barn.nh3_high": {"bogus": 1}})
    assert by_id(engine.rules_for_site("barn-a"), "barn.nh3_high").set_value == 30
    engine.set_site_overrides("barn-a", {})
    assert by_id(engine.rules_for_site("barn-a"), "barn.nh3_high").set_value == 25
