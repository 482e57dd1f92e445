"""Sector weights and official denominators: versioned data files with their sources.

``analytics/data/sector_weights_shuozhou_2020.json``: each production sector's share of
agricultural output value, for the weighted 农业生产数字化水平. ``analytics/data/
denominators_shuozhou.json``: official county figures (farmland [亩], facility area [亩],
livestock [head], service units [count]) where known; the registry fills the gaps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Any

WEIGHTS_FILE = "sector_weights_shuozhou_2020.json"
DENOMINATORS_FILE = "denominators_shuozhou.json"


class Sector(StrEnum):
    """Production sectors of the digitisation level."""

    FIELD_CROPS = "field_crops"
    FACILITY = "facility"
    LIVESTOCK = "livestock"
    AQUACULTURE = "aquaculture"


class DenominatorKey(StrEnum):
    """What an official denominator counts, with its unit in the name."""

    FARMLAND_MU = "farmland_mu"
    FACILITY_MU = "facility_mu"
    LIVESTOCK_HEAD = "livestock_head"
    SERVICE_UNITS = "service_units"


@dataclass(frozen=True, slots=True)
class SourcedValue:
    """A number and where it comes from."""

    value: float
    source: str
    basis: str = "official"


@dataclass(frozen=True, slots=True)
class SectorWeights:
    """Shares of agricultural output value per sector [0-1], city-wide and per-county overrides."""

    version: str
    method: str
    city: Mapping[Sector, SourcedValue]
    counties: Mapping[str, Mapping[Sector, SourcedValue]] = field(default_factory=dict)

    def for_county(self, county_id: str) -> Mapping[Sector, SourcedValue]:
        """The county's own weights if given, else the city's."""
        return self.counties.get(county_id, self.city)


@dataclass(frozen=True, slots=True)
class Denominators:
    """Official denominators per county, and city totals kept for reference only."""

    version: str
    counties: Mapping[str, Mapping[DenominatorKey, SourcedValue]]
    city_reference: Mapping[str, SourcedValue]

    def official(self, county_id: str, key: DenominatorKey) -> SourcedValue | None:
        """The county's official figure for ``key``, if the data has one."""
        return self.counties.get(county_id, {}).get(key)


def _read(name: str) -> dict[str, Any]:
    text = resources.files("analytics.data").joinpath(name).read_text(encoding="utf-8")
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError(f"{name}: expected a JSON object")
    return doc


def _sourced(raw: Any, what: str) -> SourcedValue:
    if not isinstance(raw, dict) or "source" not in raw:
        raise ValueError(f"{what}: needs a value and a source")
    try:
        value = float(raw["value"] if "value" in raw else raw["share"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{what}: value must be a number") from exc
    if not value >= 0:
        raise ValueError(f"{what}: value must be a non-negative number")
    return SourcedValue(value, str(raw["source"]), str(raw.get("basis", "official")))


def _weights(rows: Any, what: str) -> Mapping[Sector, SourcedValue]:
    if not isinstance(rows, list):
        raise ValueError(f"{what}: weights must be a list")
    out = {Sector(r["sector"]): _sourced(r, f"{what} {r.get('sector')}") for r in rows}
    total = sum(w.value for w in out.values())
    if not 0.99 <= total <= 1.01:
        raise ValueError(f"{what}: shares must add up to 1, not {total:.3f}")
    return MappingProxyType(out)


def parse_sector_weights(doc: Mapping[str, Any]) -> SectorWeights:
    """Validated sector weights from a weights document."""
    counties = {cid: _weights(rows, f"weights of {cid}")
                for cid, rows in (doc.get("counties") or {}).items()}
    return SectorWeights(str(doc["version"]), str(doc.get("method", "")),
                         _weights(doc["weights"], "weights"), MappingProxyType(counties))


def parse_denominators(doc: Mapping[str, Any]) -> Denominators:
    """Validated denominators from a denominators document."""
    counties = {
        cid: MappingProxyType({DenominatorKey(k): _sourced(v, f"{cid}.{k}") for k, v in entries.items()})
        for cid, entries in (doc.get("counties") or {}).items()
    }
    city = {k: _sourced(v, f"city_reference.{k}") for k, v in (doc.get("city_reference") or {}).items()}
    return Denominators(str(doc["version"]), MappingProxyType(counties), MappingProxyType(city))


def load_sector_weights(name: str = WEIGHTS_FILE) -> SectorWeights:
    """The packaged sector weights."""
    return parse_sector_weights(_read(name))


def load_denominators(name: str = DENOMINATORS_FILE) -> Denominators:
    """The packaged denominators."""
    return parse_denominators(_read(name))
