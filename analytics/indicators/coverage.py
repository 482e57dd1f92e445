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

Denominators are the official figures of the scope where present (``basis`` ``official``),
else what is registered (``basis`` ``registry``): a figure over the registry is coverage of
the registered sites (登记覆盖率), not of the county's agriculture, and never counts toward a
target. City-wide (and plan-group) figures add up the counties' numerators; the denominator
is the jurisdiction's official total where it has one, else the sum of the counties'
(official only when every county's is).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from analytics.indicators.reference import DenominatorKey, Denominators, SourcedValue
from analytics.indicators.registry_view import RegistryView, SiteRef

CITY = "city"
REGISTRY = "registry"
OFFICIAL = "official"
GROUP_PREFIX = "group:"


@dataclass(frozen=True, slots=True)
class Ratio:
    """numerator ÷ denominator, in ``unit``, with where the denominator comes from."""

    numerator: float
    denominator: float
    unit: str
    denominator_source: str
    covered: tuple[str, ...] = ()
    """Ids of the sites (or service units) counted in the numerator."""
    basis: str = OFFICIAL
    """``official``: the denominator is an official figure; ``registry``: what is registered."""

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


def outdated(official: float, registered: float, source: str) -> str:
    """The source of a registered denominator that exceeds the official figure."""
    return (f"{REGISTRY}: registered {registered:g} exceeds the official {official:g} ({source}); "
            "the official figure is out of date, enter a newer one")


def _denominator(official: Denominators, county_id: str, key: DenominatorKey,
                 registered: float, what: str) -> tuple[float, str, str]:
    """The official figure, else what is registered; also what is registered when it exceeds
    the official figure (coverage cannot pass 100 %: the figure is out of date)."""
    given = official.official(county_id, key)
    if given is not None and given.value >= registered:
        return given.value, given.source, OFFICIAL
    if given is not None:
        return registered, outdated(given.value, registered, given.source), REGISTRY
    return registered, f"{REGISTRY}: {what}", REGISTRY


def _county(view: RegistryView, county_id: str, sites: list[SiteRef],
            states: Mapping[str, _SiteState], official: Denominators,
            period_start_ms: int | None) -> SectorFigures:
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

    farmland, farmland_src, farmland_b = _denominator(
        official, county_id, DenominatorKey.FARMLAND_MU, sum(s.area_mu for s in fields),
        "Σ area of fields")
    facility, facility_src, facility_b = _denominator(
        official, county_id, DenominatorKey.FACILITY_MU, sum(s.area_mu for s in houses),
        "Σ area of greenhouses")
    heads, heads_src, heads_b = _denominator(
        official, county_id, DenominatorKey.LIVESTOCK_HEAD,
        float(sum(s.head_count for s in barns)), "Σ head of barns")
    farms = [f for f in view.farms.values() if f.county_id == county_id
             and _in_service(f.retired_ms, period_start_ms)]
    units = sorted({f.service_unit for f in farms})
    active_units = sorted({view.farms[s.farm_id].service_unit for s in sites
                           if state(s).active_types})
    n_units, units_src, units_b = _denominator(official, county_id, DenominatorKey.SERVICE_UNITS,
                                               float(len(units)), "townships of registered farms")
    flagged = [s for s in fields if s.high_standard]
    return SectorFigures(
        scope=county_id,
        field_crops=Ratio(sum(s.area_mu for s in probed), farmland, "亩", farmland_src,
                          tuple(s.site_id for s in probed), farmland_b),
        facility=Ratio(sum(s.area_mu for s in climate), facility, "亩", facility_src,
                       tuple(s.site_id for s in climate), facility_b),
        livestock=Ratio(float(any_heads), heads, "head", heads_src,
                        tuple(s.site_id for s in barns
                              if s.site_id in barn_on_ids or collared[s.site_id]), heads_b),
        livestock_barn=Ratio(float(sum(s.head_count for s in barn_on)), heads, "head", heads_src,
                             tuple(s.site_id for s in barn_on), heads_b),
        livestock_individual=Ratio(float(sum(collared.values())), heads, "head", heads_src,
                                   tuple(k for k, v in collared.items() if v), heads_b),
        metered_irrigation=Ratio(sum(s.area_mu for s in metered), farmland, "亩", farmland_src,
                                 tuple(s.site_id for s in metered), farmland_b),
        service_units=Ratio(float(len(active_units)), n_units, "unit", units_src,
                            tuple(active_units), units_b),
        high_standard_registered_mu=sum(s.area_mu for s in flagged),
        high_standard_monitored_mu=sum(s.area_mu for s in flagged if state(s).active_types),
    )


def _sum(ratios: list[Ratio], total: SourcedValue | None) -> Ratio:
    """Σ numerators over Σ denominators, or over ``total`` (an official figure) if given and
    not below Σ denominators (else that sum, as registered: the figure is out of date)."""
    numerator = sum(r.numerator for r in ratios)
    unit = ratios[0].unit if ratios else ""
    covered = tuple(c for r in ratios for c in r.covered)
    known = sum(r.denominator for r in ratios)
    if total is not None and total.value >= known:
        return Ratio(numerator, total.value, unit, total.source, covered, OFFICIAL)
    if total is not None:
        return Ratio(numerator, known, unit, outdated(total.value, known, total.source), covered,
                     REGISTRY)
    basis = OFFICIAL if ratios and all(r.basis == OFFICIAL for r in ratios) else REGISTRY
    sources = {r.denominator_source.split(":")[0] for r in ratios}
    return Ratio(numerator, known, unit,
                 "Σ counties (" + ", ".join(sorted(sources)) + ")", covered, basis)


def combined_figures(scope: str, parts: list[SectorFigures],
                     totals: Mapping[str, SourcedValue] | None = None) -> SectorFigures:
    """Figures of several counties together (the city, a plan group): Σ numerators ÷ the
    official ``totals`` of the scope where given, else Σ the counties' denominators."""
    t = totals or {}

    def total(key: DenominatorKey) -> SourcedValue | None:
        return t.get(key.value)

    farmland, heads = total(DenominatorKey.FARMLAND_MU), total(DenominatorKey.LIVESTOCK_HEAD)
    return SectorFigures(
        scope=scope,
        field_crops=_sum([p.field_crops for p in parts], farmland),
        facility=_sum([p.facility for p in parts], total(DenominatorKey.FACILITY_MU)),
        livestock=_sum([p.livestock for p in parts], heads),
        livestock_barn=_sum([p.livestock_barn for p in parts], heads),
        livestock_individual=_sum([p.livestock_individual for p in parts], heads),
        metered_irrigation=_sum([p.metered_irrigation for p in parts], farmland),
        service_units=_sum([p.service_units for p in parts], total(DenominatorKey.SERVICE_UNITS)),
        high_standard_registered_mu=sum(p.high_standard_registered_mu for p in parts),
        high_standard_monitored_mu=sum(p.high_standard_monitored_mu for p in parts),
    )


def group_scope(plan_group: str) -> str:
    """The scope key of a plan group's roll-up."""
    return f"{GROUP_PREFIX}{plan_group}"


def _in_service(retired_ms: int | None, period_start_ms: int | None) -> bool:
    """Whether a site or farm retired at ``retired_ms`` still counts in a period from
    ``period_start_ms`` (one retired during the period counts for it)."""
    return retired_ms is None or period_start_ms is None or retired_ms > period_start_ms


def sector_figures(view: RegistryView, active: Collection[str], official: Denominators, *,
                   period_start_ms: int | None = None) -> dict[str, SectorFigures]:
    """Figures per county of ``view``, per plan group (keys ``group:<name>``) and for the city
    (key ``"city"``); sites and farms retired at or before ``period_start_ms`` are left out
    (one retired during the period counts for it)."""
    states = _site_states(view, active)
    by_county: dict[str, list[SiteRef]] = defaultdict(list)
    for site in view.sites.values():
        if _in_service(site.retired_ms, period_start_ms):
            by_county[site.county_id].append(site)
    counties = {cid: _county(view, cid, by_county.get(cid, []), states, official,
                             period_start_ms) for cid in view.counties}
    groups: dict[str, list[SectorFigures]] = defaultdict(list)
    for cid, ref in view.counties.items():
        if ref.plan_group:
            groups[ref.plan_group].append(counties[cid])
    rolled = {group_scope(g): combined_figures(group_scope(g), parts)
              for g, parts in groups.items()}
    return {**counties, **rolled, CITY: combined_figures(CITY, list(counties.values()),
                                                          official.city)}
