"""Sector weights and official denominators: data with their sources.

Sector weights (each production sector's share of agricultural output value, for the weighted
农业生产数字化水平) come with a jurisdiction (``analytics/data/jurisdiction.json`` names the
packaged one's file). Official denominators (farmland [亩], facility area [亩], livestock
[head], service units [count]) of the jurisdiction and of its units are versioned rows of
the metadata database (:mod:`analytics.jurisdictions.store`); a unit without one is shown as
coverage of what is registered (登记覆盖率), never as coverage of the unit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Any

DEFAULT_JURISDICTION_FILE = "jurisdiction.json"


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
    """Official denominators per county (unit) and for the jurisdiction as a whole (``city``,
    keyed by :class:`DenominatorKey` value)."""

    version: str
    counties: Mapping[str, Mapping[DenominatorKey, SourcedValue]]
    city: Mapping[str, SourcedValue]

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


def load_sector_weights() -> SectorWeights:
    """The packaged jurisdiction's sector weights."""
    name = _read(DEFAULT_JURISDICTION_FILE)["sector_weights"]
    return parse_sector_weights(_read(name) if isinstance(name, str) else name)
