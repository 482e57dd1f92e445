"""Completeness rolled up from devices to site, farm, township, county and city (pure).

A group's completeness pools its devices: Σ received / Σ expected [%] (a device expected to
report three times as often weighs three times as much); ``n_active`` counts its active devices
and ``longest_gap_s`` is the longest gap of any of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from analytics.indicators.completeness import DeviceCompleteness
from analytics.indicators.measure import FleetCompleteness
from analytics.indicators.registry_view import DeviceRef, RegistryView

CITY = "city"


class Level(StrEnum):
    """Where completeness is rolled up to."""

    DEVICE = "device"
    SITE = "site"
    FARM = "farm"
    TOWNSHIP = "township"
    COUNTY = "county"
    CITY = "city"


@dataclass(frozen=True, slots=True)
class CompletenessRow:
    """Completeness of one group of devices in a period."""

    level: Level
    key: str
    county_id: str | None
    n_farms: int
    n_sites: int
    n_devices: int
    n_active: int
    expected: int
    """Reports expected [count]."""
    received: int
    """Reports received [count]."""
    longest_gap_s: int
    """Longest gap of any device of the group [s]."""
    gap_resolution_s: int
    """Coarsest window the gaps were measured on [s]."""

    @property
    def completeness_pct(self) -> float | None:
        """Σ received / Σ expected [%]; None when nothing was expected."""
        return None if self.expected == 0 else 100.0 * self.received / self.expected

    @property
    def active_pct(self) -> float | None:
        """Share of devices that are active [%]; None without devices."""
        return None if self.n_devices == 0 else 100.0 * self.n_active / self.n_devices


def _group_key(view: RegistryView, level: Level) -> Callable[[DeviceRef], str]:
    keys: dict[Level, Callable[[DeviceRef], str]] = {
        Level.DEVICE: lambda d: d.device_id,
        Level.SITE: lambda d: d.site_id,
        Level.FARM: lambda d: d.farm_id,
        Level.TOWNSHIP: lambda d: view.farms[d.farm_id].service_unit,
        Level.COUNTY: lambda d: d.county_id,
        Level.CITY: lambda _d: CITY,
    }
    return keys[level]


def _row(level: Level, key: str, members: list[tuple[DeviceRef, DeviceCompleteness]]) -> CompletenessRow:
    counties = {d.county_id for d, _ in members}
    return CompletenessRow(
        level=level,
        key=key,
        county_id=next(iter(counties)) if len(counties) == 1 else None,
        n_farms=len({d.farm_id for d, _ in members}),
        n_sites=len({d.site_id for d, _ in members}),
        n_devices=len(members),
        n_active=sum(c.active for _, c in members),
        expected=sum(c.expected for _, c in members),
        received=sum(c.received for _, c in members),
        longest_gap_s=max((c.longest_gap_s for _, c in members), default=0),
        gap_resolution_s=max((c.gap_resolution_s for _, c in members), default=0),
    )


def rollup(view: RegistryView, fleet: FleetCompleteness, level: Level) -> list[CompletenessRow]:
    """One row per group at ``level``, sorted by key; every county appears at county level."""
    key_of = _group_key(view, level)
    groups: dict[str, list[tuple[DeviceRef, DeviceCompleteness]]] = defaultdict(list)
    for device_id, result in fleet.devices.items():
        dev = view.devices[device_id]
        groups[key_of(dev)].append((dev, result))
    rows = {key: _row(level, key, members) for key, members in groups.items()}
    if level is Level.COUNTY:
        for cid in view.counties:
            rows.setdefault(cid, CompletenessRow(level, cid, cid, 0, 0, 0, 0, 0, 0, 0, 0))
    return [rows[k] for k in sorted(rows)]
