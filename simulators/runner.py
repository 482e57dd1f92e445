"""The demo fleet's runner: steps the device families on a simulated clock and publishes.

Devices report at their catalogue interval; the first report of each falls within
``first_report_within_s`` real seconds of the start (a seeded jitter). Records carry per-device
sequence numbers; children of a gateway (collars, barn sensors) go out as one gateway batch per
gateway and step, the others as single records. Water metered by a field's flow meter reaches
that field's soil probes (one :class:`~simulators.models.IrrigationPlan`), so irrigation shows
in the soil. Families are stepped as the city simulator steps them (:class:`~simulators.
schedule.Schedule`), so the same seed and fleet give the same records however the clock moves.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import sessionmaker

from devices.catalogue import DEVICE_TYPES
from devices.contract import record
from devices.mqtt_publisher import ReliablePublisher
from simulators.county_weather import CountyWeather
from simulators.fleet import COUNTY_IDS, FleetDevice, load_fleet
from simulators.models import Collars, IrrigationPlan, build_family
from simulators.models.irrigation import IrrigationSession
from simulators.noise import derive_seed
from simulators.schedule import Schedule, ScheduledFamily
from simulators.weather_driver import SHUOZHOU_COUNTIES as LOCATIONS
from simulators.weather_driver import DrySpell
from storage.clock import now_ms

__all__ = ["FleetRunner", "RecordSink"]



class RecordSink(Protocol):
    """Where a fleet's records go: MQTT (``ReliablePublisher``) or a store (``StoreSink``)."""

    def connect(self) -> None: ...

    def publish_record(self, farm_id: str, device_id: str, ts_ms: int, seq: int,
                       readings: dict[str, float]) -> int: ...

    def publish_gateway(self, farm_id: str, gateway_id: str,
                        records: list[dict[str, Any]]) -> int: ...

    def flush(self, timeout: float = 30.0) -> None: ...

    def close(self, flush_timeout: float | None = 30.0) -> None: ...


@dataclass(slots=True)
class _Group:
    """The devices of one type and their scheduled family."""

    devices: list[FleetDevice]
    run: ScheduledFamily


def _metered_fields(devices: Sequence[FleetDevice]) -> list[str]:
    """Site ids of the fields with a field flow meter, in order."""
    return sorted({d.site_id for d in devices
                   if d.device_type == "flow_meter" and d.attributes.get("role") != "source"})


def _inputs(device_type: str, members: list[FleetDevice], field_index: dict[str, int],
            all_devices: Sequence[FleetDevice]) -> dict[str, NDArray[Any]]:
    """The per-device inputs :func:`~simulators.models.build_family` needs, from attributes."""
    if device_type == "livestock_collar":
        barns = {s: i for i, s in enumerate(sorted({d.site_id for d in members}))}
        return {"barn": np.array([barns[d.site_id] for d in members], dtype=np.int64)}
    if device_type == "soil_moisture":
        return {"depth_cm": np.array([float(d.attributes.get("depth_cm", 20)) for d in members]),
                "field": np.array([field_index.get(d.site_id, -1) for d in members],
                                  dtype=np.int64)}
    if device_type == "flow_meter":
        rows = []
        for d in members:
            if d.attributes.get("role") == "source":
                rows.append([field_index[m.site_id] for m in all_devices
                             if m.device_type == "flow_meter"
                             and m.attributes.get("source_site_id") == d.site_id
                             and m.site_id in field_index])
            else:
                rows.append([field_index[d.site_id]])
        width = max(1, *(len(r) for r in rows))
        return {"fields": np.array([r + [-1] * (width - len(r)) for r in rows], dtype=np.int64),
                "source": np.array([d.attributes.get("role") == "source" for d in members])}
    if device_type == "weather_station":
        offsets = []
        for d in members:
            base = LOCATIONS[d.county_id.capitalize()].elevation_m
            offsets.append(float(d.attributes.get("elevation_m", base)) - base)
        return {"elevation_offset_m": np.array(offsets),
                "wind_height_m": np.array([float(d.attributes.get("wind_height_m", 10))
                                           for d in members])}
    return {}


class FleetRunner:
    """Publishes a fleet's readings at each device's report interval on a simulated clock.

    ``speed`` simulated seconds pass per real second (``>1`` backfills faster than real time).
    Every device reports once within its first ``first_report_within_s`` real seconds.
    """

    def __init__(self, devices: Sequence[FleetDevice], publisher: RecordSink, *,
                 seed: int = 42, speed: float = 1.0, duration_s: float = 0.0,
                 start_ms: int | None = None, first_report_within_s: float = 20.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._publisher = publisher
        self._speed = speed
        self._duration_s = duration_s
        self._start_ms = start_ms if start_ms is not None else now_ms()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.records_published = 0
        self.messages_published = 0
        #: the simulated devices, in the order given
        self.devices: tuple[FleetDevice, ...] = tuple(devices)
        #: the county weather drivers (``COUNTY_IDS`` order) every device feels
        self.weather = CountyWeather.for_counties(seed, COUNTY_IDS)
        county_of = {c: i for i, c in enumerate(COUNTY_IDS)}
        area = {d.site_id: d.site_area_mu for d in self.devices}
        fields = _metered_fields(self.devices)
        self._field_index = {site: i for i, site in enumerate(fields)}
        field_county = {d.site_id: county_of[d.county_id] for d in self.devices}
        self.irrigation: IrrigationPlan | None = None
        if fields:
            self.irrigation = IrrigationPlan(
                seed, np.array([field_county[f] for f in fields], dtype=np.int8),
                np.array([area[f] or 100.0 for f in fields]), self.weather)
        spread_ms = int(first_report_within_s * 1000 * speed)
        self._groups: list[_Group] = []
        self._where: dict[str, tuple[_Group, int]] = {}
        for device_type in sorted({d.device_type for d in self.devices}):
            members = [d for d in self.devices if d.device_type == device_type]
            interval = DEVICE_TYPES[device_type].report_interval_s * 1000
            offset = np.array([derive_seed(seed, d.device_id, "t0") % max(1, min(interval,
                                                                                spread_ms))
                               for d in members], dtype=np.int64)
            first = self._start_ms + offset
            county = np.array([county_of[d.county_id] for d in members], dtype=np.int8)
            model = build_family(device_type, seed, county, first - interval, self.weather,
                                 _inputs(device_type, members, self._field_index, self.devices),
                                 self.irrigation)
            group = _Group(members, ScheduledFamily(model, Schedule(first, interval)))
            self._groups.append(group)
            self._where.update({d.device_id: (group, i) for i, d in enumerate(members)})
        self._window_ms = min((g.run.schedule.interval_ms for g in self._groups), default=1)
        self._now = self._start_ms - 1  # reports due at the start are published too

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

    # ------------------------------------------------------------------ scenario controls

    def add_dry_spell(self, start_ms: int, end_ms: int, heat_c: float = 4.0, *,
                      county: str | None = None) -> list[DrySpell]:
        """No rain, clear skies, ``heat_c`` [°C] hotter days in [start_ms, end_ms) [UTC ms],
        in ``county`` (a county id such as ``"shuocheng"``) or everywhere."""
        where = None if county is None else COUNTY_IDS.index(county)
        return self.weather.add_dry_spell(start_ms, end_ms, heat_c, county=where)

    def start_irrigation(self, meter_id: str, duration_s: float, *, rate_m3_h: float,
                         start_ms: int) -> IrrigationSession:
        """Open the valve behind field flow meter ``meter_id`` at ``start_ms`` [UTC ms] for
        ``duration_s`` [s] at ``rate_m3_h`` [m³/h]; the meter and the field's probes see it."""
        group, i = self._where[meter_id]
        field = self._field_index.get(group.devices[i].site_id)
        if group.run.model.device_type != "flow_meter" or field is None or self.irrigation is None:
            raise ValueError(f"{meter_id} is not a field flow meter")
        return self.irrigation.start_irrigation(field, start_ms, duration_s, rate_m3_h)

    def start_fever(self, collar_id: str, start_ms: int, *, peak_c: float = 40.5,
                    onset_h: float = 6.0, duration_h: float = 72.0) -> None:
        """The cow wearing ``collar_id`` falls ill at ``start_ms`` [UTC ms]
        (:meth:`~simulators.models.Collars.start_fever`)."""
        group, i = self._where[collar_id]
        collars = group.run.model
        if not isinstance(collars, Collars):
            raise ValueError(f"{collar_id} is not a collar")
        collars.start_fever(np.array([i]), start_ms, peak_c=peak_c, onset_h=onset_h,
                                duration_h=duration_h)

    # ------------------------------------------------------------------ clock

    def sim_now_ms(self, real_elapsed_s: float) -> int:
        """Simulated time after ``real_elapsed_s`` real seconds [UTC ms]."""
        return self._start_ms + int(real_elapsed_s * 1000 * self._speed)

    def step(self, sim_now_ms: int) -> int:
        """Publish every report due by ``sim_now_ms`` [UTC ms]; returns records published."""
        n = 0
        while self._now < sim_now_ms:
            b = min(sim_now_ms, self._now + self._window_ms)
            n += self._window(self._now, b)
            self._now = b
        self.records_published += n
        return n

    def _window(self, a: int, b: int) -> int:
        """Publish the reports in ``(a, b]``, in time order; returns records published."""
        due: list[tuple[int, FleetDevice, int, dict[str, float]]] = []
        for g in self._groups:
            r = g.run.step(a, b)
            if r is None:
                continue
            quantities = g.run.model.quantities
            for i, t, seq, row in zip(r.idx.tolist(), r.ts_ms.tolist(), r.seq.tolist(),
                                      r.values.tolist(), strict=True):
                due.append((t, g.devices[i], seq, dict(zip(quantities, row, strict=True))))
        due.sort(key=lambda r: r[0])
        by_gateway: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for t, dev, seq, readings in due:
            if dev.gateway_id is not None:
                by_gateway[(dev.farm_id, dev.gateway_id)].append(
                    record(t, seq, readings, device_id=dev.device_id))
            else:
                self._publisher.publish_record(dev.farm_id, dev.device_id, t, seq, readings)
                self.messages_published += 1
        for (farm_id, gateway_id), recs in by_gateway.items():
            self._publisher.publish_gateway(farm_id, gateway_id, recs)
            self.messages_published += 1
        return len(due)

    # ------------------------------------------------------------------ running

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
        return (f"simulated {len(self.devices)} devices: {self.records_published} records in "
                f"{self.messages_published} messages")
