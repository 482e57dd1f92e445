"""A demo fleet: registered in the registry, spread over the six counties, publishing real MQTT.

Each demo farm (``demo-<county>-<nn>``) has three fields, two greenhouses, a dairy barn and a
well, and up to 25 sensor devices (plus a gateway for the barn's collars and climate sensors):

    9 soil-moisture probes (3 fields x 20/40/60 cm), 4 greenhouse nodes, 1 weather station,
    6 collars and 2 barn sensors behind the gateway, 3 flow meters (the well and 2 fields)

Farms are dealt round-robin to the counties. A partial last farm takes the first devices of
the layout, which is ordered so that every device family appears early. Water metered by a
field's flow meter is applied to that field's soil probes, so irrigation shows in the soil.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices.catalogue import DEVICE_TYPES
from devices.contract import record
from devices.provisioning import provision_device
from devices.registry import SHUOZHOU_COUNTIES, Device, Farm, Site
from simulators import SHUOZHOU_COUNTIES as LOCATIONS
from simulators import DeviceModel, WeatherDriver, create_model, derive_seed
from simulators.publisher import ReliablePublisher
from simulators.soil import SoilMoistureModel
from simulators.water import DailyIrrigation, FlowMeterModel

log = logging.getLogger(__name__)

DEMO_PREFIX = "demo-"
COUNTY_IDS = tuple(c[0] for c in SHUOZHOU_COUNTIES)
DEVICES_PER_FARM = 25
MU_M2 = 666.67  # 1 亩 [m²]

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


class RecordSink(Protocol):
    """Where a fleet's records go: MQTT (``ReliablePublisher``) or a store (``StoreSink``)."""

    def connect(self) -> None: ...

    def publish_record(self, farm_id: str, device_id: str, ts_ms: int, seq: int,
                       readings: dict[str, float]) -> int: ...

    def publish_gateway(self, farm_id: str, gateway_id: str,
                        records: list[dict[str, Any]]) -> int: ...

    def flush(self, timeout: float = 30.0) -> None: ...

    def close(self, flush_timeout: float | None = 30.0) -> None: ...


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
                          elevation_m=loc.elevation_m,
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
        session.add(Farm(id=farm_id, name=f"{farm_id} 示范基地", county_id=county_id,
                         township=f"{county_id}-town-{int(farm_id[-2:]) % 3 + 1}"))
        session.add_all(_site_rows(farm_id, county_id, seed))
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


def _model_options(dev: FleetDevice) -> dict[str, Any]:
    if dev.device_type == "soil_moisture":
        return {"depth_cm": float(dev.attributes.get("depth_cm", 20))}
    if dev.device_type == "weather_station":
        return {"wind_height_m": float(dev.attributes.get("wind_height_m", 10))}
    if dev.device_type == "flow_meter":
        role = dev.attributes.get("role", "field")
        rate = 60.0 if role == "source" else 25.0
        return {"role": role, "nominal_rate_m3_h": rate,
                "schedule": (DailyIrrigation(start_hour=6.0, duration_h=2.0, rate_m3_h=rate,
                                             every_days=4, skip_after_rain_mm=5.0),)}
    return {}


@dataclass(slots=True)
class _Sim:
    dev: FleetDevice
    model: DeviceModel
    interval_ms: int
    seq: int = 0
    last_volume: float | None = None
    probes: list[SoilMoistureModel] = field(default_factory=list)


class FleetRunner:
    """Publishes a fleet's readings at each device's report interval on a simulated clock.

    ``speed`` simulated seconds pass per real second (``>1`` backfills faster than real time).
    Every device reports once within its first ``first_report_within_s`` real seconds.
    """

    def __init__(self, devices: list[FleetDevice], publisher: RecordSink, *,
                 seed: int = 42, speed: float = 1.0, duration_s: float = 0.0,
                 start_ms: int | None = None, first_report_within_s: float = 20.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._publisher = publisher
        self._speed = speed
        self._duration_s = duration_s
        self._start_ms = start_ms if start_ms is not None else time.time_ns() // 1_000_000
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.records_published = 0
        self.messages_published = 0
        self.drivers = {c: WeatherDriver(derive_seed(seed, c), LOCATIONS[c.capitalize()])
                        for c in COUNTY_IDS}
        drivers = self.drivers
        self._sims: dict[str, _Sim] = {}
        self._queue: list[tuple[int, str]] = []
        spread_ms = int(first_report_within_s * 1000 * speed)
        for dev in devices:
            model = create_model(dev.device_type, derive_seed(seed, dev.device_id),
                                 drivers[dev.county_id], **_model_options(dev))
            interval = DEVICE_TYPES[dev.device_type].report_interval_s * 1000
            self._sims[dev.device_id] = _Sim(dev, model, interval)
            first = self._start_ms + derive_seed(seed, dev.device_id, "t0") % max(
                1, min(interval, spread_ms))
            self._queue.append((first, dev.device_id))
        heapq.heapify(self._queue)
        for sim in self._sims.values():  # field meters water their field's probes
            if sim.dev.device_type == "flow_meter" and sim.dev.attributes.get("role") == "field":
                sim.probes = [s.model for s in self._sims.values()
                              if s.dev.site_id == sim.dev.site_id
                              and isinstance(s.model, SoilMoistureModel)]

    @classmethod
    def from_registry(cls, sessions: sessionmaker[Any], settings: Any, *, count: int,
                      seed: int = 42, speed: float = 1.0,
                      duration_s: float = 0.0) -> FleetRunner:
        """A runner for the registered demo fleet, publishing to the configured broker."""
        publisher = ReliablePublisher(settings.broker_host, settings.mqtt_port,
                                      client_id=f"farmtel-sim-{seed}",
                                      username=settings.mqtt_username,
                                      password=settings.mqtt_password, max_inflight=1000)
        return cls(load_fleet(sessions, count), publisher, seed=seed, speed=speed,
                   duration_s=duration_s)

    def model(self, device_id: str) -> DeviceModel:
        """The model behind a device (to inject faults, irrigation, fever...)."""
        return self._sims[device_id].model

    def sim_now_ms(self, real_elapsed_s: float) -> int:
        """Simulated time after ``real_elapsed_s`` real seconds [UTC ms]."""
        return self._start_ms + int(real_elapsed_s * 1000 * self._speed)

    def step(self, sim_now_ms: int) -> int:
        """Publish every report due by ``sim_now_ms``; returns records published."""
        by_gateway: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        n = 0
        while self._queue and self._queue[0][0] <= sim_now_ms:
            ts, device_id = heapq.heappop(self._queue)
            sim = self._sims[device_id]
            readings = sim.model.next_readings(ts)
            self._water_probes(sim, readings)
            sim.seq += 1
            dev = sim.dev
            if dev.gateway_id is not None:
                by_gateway[(dev.farm_id, dev.gateway_id)].append(
                    record(ts, sim.seq, readings, device_id=device_id))
            else:
                self._publisher.publish_record(dev.farm_id, device_id, ts, sim.seq, readings)
                self.messages_published += 1
            n += 1
            heapq.heappush(self._queue, (ts + sim.interval_ms, device_id))
        for (farm_id, gateway_id), recs in by_gateway.items():
            self._publisher.publish_gateway(farm_id, gateway_id, recs)
            self.messages_published += 1
        self.records_published += n
        return n

    @staticmethod
    def _water_probes(sim: _Sim, readings: dict[str, float]) -> None:
        if not sim.probes or not isinstance(sim.model, FlowMeterModel):
            return
        volume = readings["volume_m3"]
        if sim.last_volume is not None and volume > sim.last_volume and sim.dev.site_area_mu:
            mm = (volume - sim.last_volume) / (sim.dev.site_area_mu * MU_M2) * 1000
            for probe in sim.probes:
                probe.irrigate(mm)
        sim.last_volume = volume

    def run(self) -> None:
        """Publish until stopped (or ``duration_s`` real seconds), then flush."""
        self._publisher.connect()
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                elapsed = time.monotonic() - started
                if self._duration_s and elapsed >= self._duration_s:
                    break
                self.step(self.sim_now_ms(elapsed))
                self._stop.wait(0.2)
            self._publisher.flush(timeout=60)
        finally:
            self._publisher.close()

    def start(self) -> None:
        """Run on a background thread."""
        self._thread = threading.Thread(target=self.run, name="fleet", daemon=True)
        self._thread.start()

    def join(self) -> None:
        """Wait for a bounded run to end."""
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> None:
        """Stop publishing and wait for outstanding acknowledgements."""
        self._stop.set()
        self.join()

    def summary(self) -> str:
        """A one-line account of what was published."""
        return (f"simulated {len(self._sims)} devices: {self.records_published} records in "
                f"{self.messages_published} messages")
