"""A demo fleet: registered in the registry, spread over the six counties, publishing real MQTT.

Each demo farm (``demo-<county>-<nn>``) has three fields, two greenhouses, a dairy barn and a
well, and up to 25 sensor devices (plus a gateway for the barn's collars and climate sensors):

    9 soil-moisture probes (3 fields x 20/40/60 cm), 4 greenhouse nodes, 1 weather station,
    6 collars and 2 barn sensors behind the gateway, 3 flow meters (the well and 2 fields)

Farms are dealt round-robin to the counties. A partial last farm takes the first devices of
the layout, which is ordered so that every device family appears early.
:class:`simulators.runner.FleetRunner` simulates the registered fleet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices.provisioning import create_farm, create_site, provision_device
from devices.registry import SHUOZHOU_COUNTIES, Device, Farm, Site
from simulators.noise import derive_seed
from simulators.weather_driver import SHUOZHOU_COUNTIES as LOCATIONS

log = logging.getLogger(__name__)

DEMO_PREFIX = "demo-"
COUNTY_IDS = tuple(c[0] for c in SHUOZHOU_COUNTIES)
DEVICES_PER_FARM = 25

# (device type, site key, attributes); ordered so that a partial farm still has every family
LAYOUT: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("soil_moisture", "f1", {"depth_cm": 20}),
    ("weather_station", "f1", {"wind_height_m": 10}),
    ("greenhouse_climate", "g1", {}),
    ("livestock_collar", "b1", {}),
    ("barn_climate", "b1", {}),
    ("flow_meter", "w1", {"role": "source"}),
    ("flow_meter", "f1", {"role": "field"}),
    ("soil_moisture", "f1", {"depth_cm": 40}),
    ("soil_moisture", "f2", {"depth_cm": 20}),
    ("greenhouse_climate", "g2", {}),
    ("livestock_collar", "b1", {}),
    ("soil_moisture", "f3", {"depth_cm": 20}),
    ("livestock_collar", "b1", {}),
    ("flow_meter", "f2", {"role": "field"}),
    ("soil_moisture", "f1", {"depth_cm": 60}),
    ("soil_moisture", "f2", {"depth_cm": 40}),
    ("greenhouse_climate", "g1", {}),
    ("livestock_collar", "b1", {}),
    ("barn_climate", "b1", {}),
    ("soil_moisture", "f2", {"depth_cm": 60}),
    ("soil_moisture", "f3", {"depth_cm": 40}),
    ("greenhouse_climate", "g2", {}),
    ("livestock_collar", "b1", {}),
    ("soil_moisture", "f3", {"depth_cm": 60}),
    ("livestock_collar", "b1", {}),
)
BEHIND_GATEWAY = frozenset({"livestock_collar", "barn_climate"})
SHORT = {"soil_moisture": "sm", "greenhouse_climate": "gh", "weather_station": "ws",
         "livestock_collar": "col", "barn_climate": "barn", "flow_meter": "fm"}
CROPS = ("maize", "millet", "potato")
IRRIGATION = ("surface", "low_pressure_pipe", "micro")
"""Irrigation method of fields f1..f3 (f1: flood, not 高效节水; f3 has no meter)."""


@dataclass(frozen=True, slots=True)
class FleetDevice:
    """A simulated device as the registry knows it."""

    device_id: str
    device_type: str
    farm_id: str
    county_id: str
    site_id: str
    gateway_id: str | None
    attributes: dict[str, Any]
    site_area_mu: float | None


def _site_rows(farm_id: str, county_id: str, seed: int) -> list[Site]:
    loc = LOCATIONS[county_id.capitalize()]
    rng = derive_seed(seed, farm_id)
    sites = []
    for n in (1, 2, 3):
        area = 50 + (rng >> (8 * n)) % 250
        sites.append(Site(id=f"{farm_id}-f{n}", farm_id=farm_id, kind="field",
                          name=f"{n}号地块", area_mu=float(area), crop=CROPS[n - 1],
                          planting_date=date(datetime.now(UTC).year, 5, 1),
                          lat_deg=loc.lat_deg + n * 0.01, lon_deg=loc.lon_deg + n * 0.01,
                          elevation_m=loc.elevation_m, irrigation_method=IRRIGATION[n - 1],
                          attributes={"theta_fc": 0.28, "theta_wp": 0.12}))
    for n in (1, 2):
        sites.append(Site(id=f"{farm_id}-g{n}", farm_id=farm_id, kind="greenhouse",
                          name=f"{n}号日光温室", area_mu=1.2, crop="tomato",
                          lat_deg=loc.lat_deg, lon_deg=loc.lon_deg, elevation_m=loc.elevation_m))
    sites.append(Site(id=f"{farm_id}-b1", farm_id=farm_id, kind="barn", name="奶牛舍",
                      head_count=200, species="dairy_cow", lat_deg=loc.lat_deg,
                      lon_deg=loc.lon_deg, elevation_m=loc.elevation_m))
    sites.append(Site(id=f"{farm_id}-w1", farm_id=farm_id, kind="water_source", name="机井",
                      lat_deg=loc.lat_deg, lon_deg=loc.lon_deg, elevation_m=loc.elevation_m))
    return sites


def farm_plan(count: int) -> list[tuple[str, str, int]]:
    """(farm_id, county_id, devices) for a fleet of ``count`` sensor devices."""
    plan = []
    for j in range((count + DEVICES_PER_FARM - 1) // DEVICES_PER_FARM):
        county = COUNTY_IDS[j % len(COUNTY_IDS)]
        farm_id = f"{DEMO_PREFIX}{county}-{j // len(COUNTY_IDS) + 1:02d}"
        plan.append((farm_id, county, min(DEVICES_PER_FARM, count - j * DEVICES_PER_FARM)))
    return plan


def _ensure_farm(session: Session, farm_id: str, county_id: str, n_devices: int,
                 seed: int) -> None:
    if session.get(Farm, farm_id) is None:
        create_farm(session, Farm(id=farm_id, name=f"{farm_id} 示范基地", county_id=county_id,
                                  township=f"{county_id}-town-{int(farm_id[-2:]) % 3 + 1}"))
        for site in _site_rows(farm_id, county_id, seed):
            create_site(session, site)
        session.flush()
    gateway_id = f"gw-{farm_id.removeprefix(DEMO_PREFIX)}"
    needs_gateway = any(t in BEHIND_GATEWAY for t, _, _ in LAYOUT[:n_devices])
    if needs_gateway and session.get(Device, gateway_id) is None:
        provision_device(session, device_id=gateway_id, device_type="gateway",
                         site_id=f"{farm_id}-b1")
        session.flush()
    for i, (dtype, site_key, attrs) in enumerate(LAYOUT[:n_devices]):
        device_id = f"{SHORT[dtype]}-{farm_id.removeprefix(DEMO_PREFIX)}-{i + 1:02d}"
        if dtype == "flow_meter" and attrs.get("role") == "field":
            attrs = {**attrs, "source_site_id": f"{farm_id}-w1"}
        if session.get(Device, device_id) is None:
            provision_device(session, device_id=device_id, device_type=dtype,
                             site_id=f"{farm_id}-{site_key}", attributes=dict(attrs),
                             gateway_id=gateway_id if dtype in BEHIND_GATEWAY else None)


def ensure_fleet(sessions: sessionmaker[Any], count: int, *, seed: int = 42) -> int:
    """Register the demo fleet of ``count`` sensor devices if missing; returns devices added.

    Credentials are not kept: the demo publishes through the broker's local demo mode.
    """
    with sessions() as session, session.begin():
        before = len(session.scalars(select(Device.id)).all())
        for farm_id, county_id, n in farm_plan(count):
            _ensure_farm(session, farm_id, county_id, n, seed)
        session.flush()
        added = len(session.scalars(select(Device.id)).all()) - before
    log.info("demo fleet: %d devices (%d new)", count, added)
    return added


def load_fleet(sessions: sessionmaker[Any], count: int) -> list[FleetDevice]:
    """The first ``count`` demo sensor devices of the registry."""
    farms = {f for f, _, _ in farm_plan(count)}
    with sessions() as session:
        rows = session.execute(
            select(Device, Site.farm_id, Farm.county_id, Site.area_mu)
            .join(Site, Device.site_id == Site.id).join(Farm, Site.farm_id == Farm.id)
            .where(Farm.id.in_(farms), Device.type != "gateway").order_by(Device.id)
        ).all()
    return [FleetDevice(d.id, d.type, farm, county, d.site_id, d.gateway_id,
                        dict(d.attributes or {}), area) for d, farm, county, area in rows]
