"""Demo scenarios: days of simulated history written straight to the store, with the daily
field-water job and the alert engine running as they would have, day by day.

``summer-drought`` (default 14 days from 10 July): a hot dry spell over the whole city. Soil
dries, the field-water job advises irrigation and opens depletion alerts; a simulated farmer
reads the day's advice and follows it the next morning through the field's flow meter, and
the alerts clear. The farmer applies the advised net depth divided by the field application
efficiency of the field's irrigation method (``APPLICATION_EFFICIENCY``), so part of the water
percolates below the roots; the well's source meter sees the fields' water plus the conveyance
losses (:class:`~simulators.models.FlowMeters`), so the head–tail η is computable. The
barns' hot afternoons raise THI alerts. Everything lands in the API exactly as live data would.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from analytics.alerts.service import AlertService
from analytics.water.job import field_water_job
from devices.directory import DeviceDirectory
from devices.registry import Site
from simulators.fleet import load_fleet
from simulators.runner import FleetRunner
from simulators.sink import StoreSink
from storage.clock import DAY_MS, HOUR_MS, MINUTE_MS, cst_date, cst_midnight_ms
from storage.telemetry import TelemetryStore

log = logging.getLogger(__name__)


class Metadata(Protocol):
    """What a scenario needs of the metadata database (``farmtel.runtime.Metadata`` fits)."""

    @property
    def sessions(self) -> sessionmaker[Any]: ...


STEP_MS = 10 * MINUTE_MS
APPLICATION_EFFICIENCY: dict[str | None, float] = {
    "surface": 0.60, "low_pressure_pipe": 0.65, "sprinkler": 0.75, "micro": 0.90, None: 0.60}
"""Field application efficiency by irrigation method [-]: surface 60 %, sprinkler 75 %, drip
90 % (Brouwer et al., 1989, FAO Irrigation Water Management Training Manual 4, Ch. 6); a low-
pressure pipe delivers to a surface-irrigated field (a little better levelled: 65 %); an
undeclared method is taken as surface."""
FARMER_START_H = 6  # the farmer opens the valve at 06:00 local time of the day after the advice
FARMER_HOURS = 6.0  # and delivers the advised volume over six hours


@dataclass
class ScenarioReport:
    """What a scenario produced."""

    days: int
    records: int = 0
    advice_days: int = 0
    irrigations: list[tuple[date, str, float]] = field(default_factory=list)
    """(day advised, site, m³ applied at the field inlet)."""


def run_summer_drought(meta: Metadata, store: TelemetryStore, alerts: AlertService, *,
                       devices: int, seed: int = 42, days: int = 14,
                       start: date | None = None, heat_c: float = 6.0) -> ScenarioReport:
    """Simulate ``days`` days of drought for the first ``devices`` demo devices."""
    start = start or date(datetime.now(UTC).year, 7, 10)
    directory = DeviceDirectory(meta.sessions)
    directory.reload()
    sink = StoreSink(store, directory.snapshot(), on_written=alerts.submit_readings)
    fleet = load_fleet(meta.sessions, devices)
    t0 = cst_midnight_ms(start)
    runner = FleetRunner(fleet, sink, seed=seed, start_ms=t0, first_report_within_s=0.001)
    runner.add_dry_spell(t0, t0 + days * DAY_MS, heat_c=heat_c)
    meters = {d.site_id: d.device_id for d in fleet
              if d.device_type == "flow_meter" and d.attributes.get("role") == "field"}
    efficiency = _application_efficiency(meta, meters)
    report = ScenarioReport(days=days)
    valve_opens: dict[str, int] = {}  # site -> when the farmer opens its valve [UTC ms]
    now = t0
    for day in range(days):
        end = t0 + (day + 1) * DAY_MS
        while now < end:
            now += STEP_MS
            report.records += runner.step(now)
        sink.flush()
        alerts.wait_idle(60)
        today = cst_date(end)
        advice = _advise(meta, store, alerts, today)
        report.advice_days += 1
        for site_id, volume in advice:
            meter = meters.get(site_id)
            if meter is None or valve_opens.get(site_id, 0) > end:  # none, or already planned
                continue
            valve_opens[site_id] = end + DAY_MS + FARMER_START_H * HOUR_MS
            applied = volume / efficiency[site_id]
            runner.start_irrigation(meter, FARMER_HOURS * 3600, rate_m3_h=applied / FARMER_HOURS,
                                    start_ms=valve_opens[site_id])
            report.irrigations.append((today, site_id, applied))
    alerts.wait_idle(60)
    log.info("scenario summer-drought: %d days, %d records, %d irrigations", days,
             report.records, len(report.irrigations))
    return report


def _application_efficiency(meta: Metadata, sites: Iterable[str]) -> dict[str, float]:
    """Field application efficiency of each site [-] from its declared irrigation method."""
    with meta.sessions() as session:
        rows = session.execute(select(Site.id, Site.irrigation_method)
                               .where(Site.id.in_(list(sites)))).all()
    return {site: APPLICATION_EFFICIENCY.get(method, APPLICATION_EFFICIENCY[None])
            for site, method in rows}


def _advise(meta: Metadata, store: TelemetryStore, alerts: AlertService,
            today: date) -> list[tuple[str, float]]:
    """Run the daily job for ``today``; the fields to irrigate with their volumes [m³]."""
    run = field_water_job(meta.sessions, store, alerts, today=lambda: today)
    alerts.wait_idle(60)
    return [(a.site_id, a.volume_m3) for a in run.advice if a.irrigate]
