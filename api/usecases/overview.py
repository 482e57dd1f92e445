"""The overview: per visible county, devices, online devices and unresolved alerts."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from api.auth import Principal
from api.usecases.alerts import SEVERITIES, unresolved_counts
from api.usecases.devices import device_statuses
from api.usecases.registry import visible_counties
from storage.telemetry import TelemetryStore


@dataclass
class CountyRow:
    """One county (or the total) on the overview."""

    id: str
    name_zh: str
    name_en: str
    plan_group: str
    devices: int = 0
    online: int = 0
    alerts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))

    @property
    def online_pct(self) -> float | None:
        """Online share [%]; None without devices."""
        return None if self.devices == 0 else 100.0 * self.online / self.devices

    def add(self, other: CountyRow) -> None:
        """Count ``other`` into this row (for totals)."""
        self.devices += other.devices
        self.online += other.online
        for severity, n in other.alerts.items():
            self.alerts[severity] = self.alerts.get(severity, 0) + n


def county_overview(session: Session, store: TelemetryStore,
                    principal: Principal) -> list[CountyRow]:
    """Live devices, online devices and unresolved alerts by severity, per visible county."""
    rows = {c.id: CountyRow(c.id, c.name_zh, c.name_en, c.plan_group)
            for c in visible_counties(session, principal)}
    for d in device_statuses(session, store, principal, retired=False):
        row = rows.get(d.county_id)
        if row is None or d.revoked:
            continue
        row.devices += 1
        row.online += d.online
    for county, by_severity in unresolved_counts(session, principal).items():
        if county in rows:
            rows[county].alerts.update(by_severity)
    return list(rows.values())
