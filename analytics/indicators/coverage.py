"""Sector coverage per county and city-wide: what share is under active monitoring (pure).

Per county, from the registry and the set of active devices:

* field crops: area [亩] of fields with an active ``soil_moisture`` probe ÷ farmland [亩];
* facility: area [亩] of greenhouses with an active ``greenhouse_climate`` node ÷ facility area;
* livestock: head in barns with an active ``barn_climate`` sensor (environment monitoring), and
  animals wearing an active ``livestock_collar`` (one collar = one animal, at most the barn's
  head count), each ÷ head count; "any monitoring" counts a barn's whole herd when its climate
  is monitored, else its collared animals;
* metered irrigation: area [亩] of fields with an active field flow meter (``role=field``) ÷
  farmland; its numerator is farmtel's 高效节水灌溉面积;
* service units: townships (or farms without a township) with at least one active device ÷
  service units.

Denominators are the official figures of the data file where present, else what is
registered. City-wide figures add up the counties' numerators and denominators.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from analytics.indicators.reference import DenominatorKey, Denominators
from analytics.indicators.registry_view import RegistryView, SiteRef

CITY = "city"
REGISTRY = "registry"


@dataclass(frozen=True, slots=True)
class Ratio:
    """numerator ÷ denominator, in ``unit``, with where the denominator comes from."""

    numerator: float
    denominator: float
    unit: str
    denominator_source: str
    covered: tuple[str, ...] = ()
    """Ids of the sites (or service units) counted in the numerator."""

    @property
    def pct(self) -> float | None:
        """100 × numerator / denominator [%]; None when the denominator is 0."""
        return None if self.denominator <= 0 else 100.0 * self.numerator / self.denominator


@dataclass(frozen=True, slots=True)
class SectorFigures:
    """Every coverage figure of one county (or the city)."""

    scope: str
    field_crops: Ratio
    facility: Ratio
    livestock: Ratio
    livestock_barn: Ratio
    livestock_individual: Ratio
    metered_irrigation: Ratio
    service_units: Ratio
    high_standard_registered_mu: float
    """Area of fields flagged high-standard [亩]."""
    high_standard_monitored_mu: float
    """Area of flagged fields with at least one active device [亩]."""


@dataclass(slots=True)
class _SiteState:
    active_types: set[str]
    active_field_meters: int = 0
    active_collars: int = 0


def _site_states(view: RegistryView, active: Collection[str]) -> dict[str, _SiteState]:
    devices = view.devices
    refs = [devices[d] for d in active]
    states: dict[str, _SiteState] = {}
    for site_id, device_type in {(r.site_id, r.device_type) for r in refs}:
        state = states.get(site_id)
        if state is None:
            states[site_id] = _SiteState({device_type})
        else:
            state.active_types.add(device_type)
    for site_id, n in Counter(r.site_id for r in refs if r.device_type == "flow_meter"
                              and (r.role or "field") == "field").items():
        states[site_id].active_field_meters = n
    for site_id, n in Counter(r.site_id for r in refs if r.device_type == "livestock_collar").items():
        states[site_id].active_collars = n
    return states


def _denominator(official: Denominators, county_id: str, key: DenominatorKey,
                 registered: float, what: str) -> tuple[float, str]:
    given = official.official(county_id, key)
    if given is not None:
        return given.value, given.source
    return registered, f"{REGISTRY}: {what}"


def _county(view: RegistryView, county_id: str, sites: list[SiteRef],
            states: Mapping[str, _SiteState], official: Denominators) -> SectorFigures:
    nothing = _SiteState(set())  # of sites without an active device (read, never changed)

    def state(site: SiteRef) -> _SiteState:
        return states.get(site.site_id, nothing)

    fields = [s for s in sites if s.kind == "field"]
    houses = [s for s in sites if s.kind == "greenhouse"]
    barns = [s for s in sites if s.kind == "barn"]
    probed = [s for s in fields if "soil_moisture" in state(s).active_types]
    climate = [s for s in houses if "greenhouse_climate" in state(s).active_types]
    metered = [s for s in fields if state(s).active_field_meters > 0]
    barn_on = [s for s in barns if "barn_climate" in state(s).active_types]
    barn_on_ids = {s.site_id for s in barn_on}
    collared = {s.site_id: min(state(s).active_collars, s.head_count) for s in barns}
    any_heads = sum(s.head_count if s.site_id in barn_on_ids else collared[s.site_id]
                    for s in barns)

    farmland, farmland_src = _denominator(official, county_id, DenominatorKey.FARMLAND_MU,
                                          sum(s.area_mu for s in fields), "Σ area of fields")
    facility, facility_src = _denominator(official, county_id, DenominatorKey.FACILITY_MU,
                                          sum(s.area_mu for s in houses), "Σ area of greenhouses")
    heads, heads_src = _denominator(official, county_id, DenominatorKey.LIVESTOCK_HEAD,
                                    float(sum(s.head_count for s in barns)), "Σ head of barns")
    farms = [f for f in view.farms.values() if f.county_id == county_id]
    units = sorted({f.service_unit for f in farms})
    active_units = sorted({view.farms[s.farm_id].service_unit for s in sites
                           if state(s).active_types})
    n_units, units_src = _denominator(official, county_id, DenominatorKey.SERVICE_UNITS,
                                      float(len(units)), "townships of registered farms")
    flagged = [s for s in fields if s.high_standard]
    return SectorFigures(
        scope=county_id,
        field_crops=Ratio(sum(s.area_mu for s in probed), farmland, "亩", farmland_src,
                          tuple(s.site_id for s in probed)),
        facility=Ratio(sum(s.area_mu for s in climate), facility, "亩", facility_src,
                       tuple(s.site_id for s in climate)),
        livestock=Ratio(float(any_heads), heads, "head", heads_src,
                        tuple(s.site_id for s in barns
                              if s.site_id in barn_on_ids or collared[s.site_id])),
        livestock_barn=Ratio(float(sum(s.head_count for s in barn_on)), heads, "head", heads_src,
                             tuple(s.site_id for s in barn_on)),
        livestock_individual=Ratio(float(sum(collared.values())), heads, "head", heads_src,
                                   tuple(k for k, v in collared.items() if v)),
        metered_irrigation=Ratio(sum(s.area_mu for s in metered), farmland, "亩", farmland_src,
                                 tuple(s.site_id for s in metered)),
        service_units=Ratio(float(len(active_units)), n_units, "unit", units_src,
                            tuple(active_units)),
        high_standard_registered_mu=sum(s.area_mu for s in flagged),
        high_standard_monitored_mu=sum(s.area_mu for s in flagged if state(s).active_types),
    )


def _sum(ratios: list[Ratio]) -> Ratio:
    sources = {r.denominator_source.split(":")[0] for r in ratios}
    return Ratio(
        numerator=sum(r.numerator for r in ratios),
        denominator=sum(r.denominator for r in ratios),
        unit=ratios[0].unit if ratios else "",
        denominator_source="Σ counties (" + ", ".join(sorted(sources)) + ")",
        covered=tuple(c for r in ratios for c in r.covered),
    )


def city_figures(counties: Mapping[str, SectorFigures]) -> SectorFigures:
    """City-wide figures: Σ numerators ÷ Σ denominators over the counties."""
    parts = list(counties.values())
    return SectorFigures(
        scope=CITY,
        field_crops=_sum([p.field_crops for p in parts]),
        facility=_sum([p.facility for p in parts]),
        livestock=_sum([p.livestock for p in parts]),
        livestock_barn=_sum([p.livestock_barn for p in parts]),
        livestock_individual=_sum([p.livestock_individual for p in parts]),
        metered_irrigation=_sum([p.metered_irrigation for p in parts]),
        service_units=_sum([p.service_units for p in parts]),
        high_standard_registered_mu=sum(p.high_standard_registered_mu for p in parts),
        high_standard_monitored_mu=sum(p.high_standard_monitored_mu for p in parts),
    )


def sector_figures(view: RegistryView, active: Collection[str],
                   official: Denominators) -> dict[str, SectorFigures]:
    """Figures per county of ``view`` and for the city (key ``"city"``)."""
    states = _site_states(view, active)
    by_county: dict[str, list[SiteRef]] = defaultdict(list)
    for site in view.sites.values():
        by_county[site.county_id].append(site)
    counties = {cid: _county(view, cid, by_county.get(cid, []), states, official)
                for cid in view.counties}
    return {**counties, CITY: city_figures(counties)}
