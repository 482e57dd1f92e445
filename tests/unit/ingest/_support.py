"""Shared constants of the ingest tests: a fixed registry and a clock."""

from __future__ import annotations

from devices.directory import DeviceInfo

NOW_MS = 1_780_000_000_000  # 2026-05-28T...Z

DEVICES = {
    "sm-1": DeviceInfo("sm-1", "soil_moisture", "field-1", "farm-a", "shuocheng", None, False),
    "gh-1": DeviceInfo("gh-1", "greenhouse_climate", "gh-site", "farm-a", "shuocheng", "gw-1",
                       False),
    "gw-1": DeviceInfo("gw-1", "gateway", "field-1", "farm-a", "shuocheng", None, False),
    "col-9": DeviceInfo("col-9", "livestock_collar", "barn-1", "farm-b", "youyu", None, False),
    "old-1": DeviceInfo("old-1", "soil_moisture", "field-1", "farm-a", "shuocheng", None, True),
}
