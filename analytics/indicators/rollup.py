"""Completeness rolled up from devices to site, farm, township, county and city (pure).

A group's completeness pools its devices: Σ received / Σ expected [%] (a device expected to
report three times as often weighs three times as much); ``n_active`` counts its active devices
and ``longest_gap_s`` is the longest gap of any of them.

Levels above the device are summed site by site: one pass over the devices gives each site's
totals (200,000 devices), the groups then add up sites (tens of thousands).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from analytics.indicators.completeness import DeviceCompleteness
from analytics.indicators.measure import FleetCompleteness
from analytics.indicators.registry_view import DeviceRef, RegistryView, SiteRef

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


def site_totals(view: RegistryView, fleet: FleetCompleteness) -> dict[str, list[int]]:
    """Per site with measured devices: [devices, active, expected, received, longest gap [s],
    gap resolution [s]] (one pass over the arrays of the fleet's ``DeviceTable``)."""
    table = fleet.devices
    codes: dict[str, int] = {}
    devices = view.devices
    site = np.fromiter((codes.setdefault(devices[d].site_id, len(codes)) for d in table.device_ids),
                       np.int64, len(table))
    n = len(codes)
    columns = [np.bincount(site, minlength=n), np.bincount(site, weights=table.active, minlength=n),
               np.bincount(site, weights=table.expected, minlength=n),
               np.bincount(site, weights=table.received, minlength=n)]
    gap, res = np.zeros(n, np.int64), np.zeros(n, np.int64)
    np.maximum.at(gap, site, table.longest_gap_s)
    np.maximum.at(res, site, table.gap_resolution_s)
    rows = np.stack([*(np.rint(c).astype(np.int64) for c in columns), gap, res], axis=1).tolist()
    return dict(zip(codes, rows, strict=True))


def _site_key(view: RegistryView, level: Level) -> Callable[[SiteRef], str]:
    keys: dict[Level, Callable[[SiteRef], str]] = {
        Level.SITE: lambda s: s.site_id,
        Level.FARM: lambda s: s.farm_id,
        Level.TOWNSHIP: lambda s: view.farms[s.farm_id].service_unit,
        Level.COUNTY: lambda s: s.county_id,
        Level.CITY: lambda _s: CITY,
    }
    return keys[level]


def _rows_from_sites(view: RegistryView, totals: dict[str, list[int]],
                     level: Level) -> dict[str, CompletenessRow]:
    key_of = _site_key(view, level)
    groups: dict[str, list[SiteRef]] = defaultdict(list)
    for site_id in totals:
        site = view.sites[site_id]
        groups[key_of(site)].append(site)
    rows = {}
    for key, sites in groups.items():
        counties = {s.county_id for s in sites}
        t = [totals[s.site_id] for s in sites]
        rows[key] = CompletenessRow(
            level=level, key=key, county_id=next(iter(counties)) if len(counties) == 1 else None,
            n_farms=len({s.farm_id for s in sites}), n_sites=len(sites),
            n_devices=sum(x[0] for x in t), n_active=sum(x[1] for x in t),
            expected=sum(x[2] for x in t), received=sum(x[3] for x in t),
            longest_gap_s=max(x[4] for x in t), gap_resolution_s=max(x[5] for x in t))
    return rows


def rollup(view: RegistryView, fleet: FleetCompleteness, level: Level,
           totals: dict[str, list[int]] | None = None) -> list[CompletenessRow]:
    """One row per group at ``level``, sorted by key; every county appears at county level.
    ``totals`` (:func:`site_totals` of the same fleet) saves the pass over the devices when
    several levels are rolled up."""
    if level is Level.DEVICE:
        rows = {d: _row(level, d, [(view.devices[d], c)]) for d, c in fleet.devices.items()}
    else:
        rows = _rows_from_sites(view, site_totals(view, fleet) if totals is None else totals,
                                level)
    if level is Level.COUNTY:
        for cid in view.counties:
            rows.setdefault(cid, CompletenessRow(level, cid, cid, 0, 0, 0, 0, 0, 0, 0, 0))
    return [rows[k] for k in sorted(rows)]
