"""The JSON format of a jurisdiction (a data file or an API upload), validated.

::

    {"id": "...", "name_zh": "...", "name_en": "...", "level_zh": "地级市", "unit_level_zh": "县(市、区)",
     "source": {"document": "...", ...},
     "units": [{"id": "...", "name_zh": "...", "name_en": "...", "plan_group": "先行示范",
                "townships": ["..."]}, ...],
     "target_set": "<packaged file name>" | {target set document},
     "sector_weights": "<packaged file name>" | {weights document},
     "denominators": [{"scope": "city" | "<unit id>", "key": "farmland_mu", "value": 5756000,
                       "year": 2020, "document": "...", "section": "..."}, ...]}

Every denominator needs its document; units need a unique id; plan groups may be empty.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from analytics.indicators.reference import DenominatorKey, SectorWeights, parse_sector_weights
from analytics.indicators.targets import TargetSetDoc, parse_target_set
from analytics.jurisdictions.tables import CITY_SCOPE

ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
UNITS: Mapping[DenominatorKey, str] = {
    DenominatorKey.FARMLAND_MU: "亩", DenominatorKey.FACILITY_MU: "亩",
    DenominatorKey.LIVESTOCK_HEAD: "head", DenominatorKey.SERVICE_UNITS: "unit",
}


@dataclass(frozen=True, slots=True)
class UnitDoc:
    """A unit of a jurisdiction (registry county)."""

    id: str
    name_zh: str
    name_en: str
    plan_group: str
    townships: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DenominatorDoc:
    """An official figure with its provenance."""

    scope: str
    key: DenominatorKey
    value: float
    year: int
    document: str
    section: str

    @property
    def unit(self) -> str:
        """Unit of ``value``."""
        return UNITS[self.key]


@dataclass(frozen=True, slots=True)
class JurisdictionDoc:
    """A jurisdiction as loaded from data."""

    id: str
    name_zh: str
    name_en: str
    level_zh: str
    unit_level_zh: str
    source: Mapping[str, Any]
    units: tuple[UnitDoc, ...]
    targets: TargetSetDoc
    weights: SectorWeights
    weights_doc: Mapping[str, Any]
    denominators: tuple[DenominatorDoc, ...]


def packaged_json(name: str) -> dict[str, Any]:
    """A JSON object shipped in ``analytics/data``."""
    text = resources.files("analytics.data").joinpath(name).read_text(encoding="utf-8")
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError(f"{name}: expected a JSON object")
    return doc


def _embedded(raw: Any, what: str) -> dict[str, Any]:
    if isinstance(raw, str):
        return packaged_json(raw)
    if isinstance(raw, dict):
        return raw
    raise ValueError(f"{what}: a packaged file name or an object")


def _text(raw: Mapping[str, Any], key: str, what: str, *, required: bool = True) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"{what}.{key}: a non-empty string is required")
    return value.strip()


def parse_denominator(raw: Mapping[str, Any], scopes: set[str]) -> DenominatorDoc:
    """One denominator entry; ``ValueError`` for an unknown scope or key, a negative value or
    no document."""
    what = f"denominator {raw.get('scope')}.{raw.get('key')}"
    scope = _text(raw, "scope", what)
    if scope not in scopes:
        raise ValueError(f"{what}: unknown scope {scope!r}")
    try:
        key = DenominatorKey(str(raw.get("key")))
    except ValueError as exc:
        raise ValueError(f"{what}: key must be one of {[k.value for k in DenominatorKey]}") from exc
    value, year = raw.get("value"), raw.get("year")
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{what}: value must be a non-negative number")
    if isinstance(year, bool) or not isinstance(year, int) or not 1949 <= year <= 2100:
        raise ValueError(f"{what}: year must be a year")
    return DenominatorDoc(scope, key, float(value), year, _text(raw, "document", what),
                          _text(raw, "section", what, required=False))


def parse_jurisdiction(doc: Mapping[str, Any]) -> JurisdictionDoc:
    """A validated jurisdiction; ``ValueError`` on any defect."""
    jid = doc.get("id")
    if not isinstance(jid, str) or not ID_RE.match(jid):
        raise ValueError("id: lower-case letters, digits, _ or -, at most 32")
    units: list[UnitDoc] = []
    for raw in doc.get("units") or []:
        uid = raw.get("id")
        if not isinstance(uid, str) or not ID_RE.match(uid):
            raise ValueError(f"unit id {uid!r}: lower-case letters, digits, _ or -, at most 32")
        towns = raw.get("townships") or []
        if not isinstance(towns, list) or not all(isinstance(t, str) and t for t in towns):
            raise ValueError(f"unit {uid}: townships must be a list of names")
        units.append(UnitDoc(uid, _text(raw, "name_zh", uid), _text(raw, "name_en", uid),
                             _text(raw, "plan_group", uid, required=False), tuple(towns)))
    ids = [u.id for u in units]
    if not ids or len(set(ids)) != len(ids):
        raise ValueError("units must be non-empty with unique ids")
    weights_doc = _embedded(doc.get("sector_weights"), "sector_weights")
    scopes = {CITY_SCOPE, *ids}
    return JurisdictionDoc(
        id=jid, name_zh=_text(doc, "name_zh", jid), name_en=_text(doc, "name_en", jid),
        level_zh=_text(doc, "level_zh", jid), unit_level_zh=_text(doc, "unit_level_zh", jid),
        source=dict(doc.get("source") or {}), units=tuple(units),
        targets=parse_target_set(_embedded(doc.get("target_set"), "target_set")),
        weights=parse_sector_weights(weights_doc), weights_doc=weights_doc,
        denominators=tuple(parse_denominator(r, scopes) for r in doc.get("denominators") or []))
