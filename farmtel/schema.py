"""Every table of the metadata database, listed.

The migrations (``farmtel/migrations``, run by ``farmtel.migrate.upgrade_schema``) create
exactly these tables; nothing is discovered by import side effect. A new table is added here
(a test fails otherwise) and with a new revision (``farmtel db revision -m ...``).
"""

from __future__ import annotations

from typing import Final

from analytics.alerts.service import SiteRuleOverride
from analytics.alerts.store import Alert, AlertEvent
from analytics.indicators.hourly.table import HourlyCountDay
from analytics.indicators.snapshots import IndicatorSnapshot, SnapshotEvidence, SnapshotValue
from analytics.indicators.targets import PlanTarget, TargetSet
from analytics.jurisdictions.tables import (
    Jurisdiction,
    JurisdictionUnit,
    OfficialDenominator,
    ReportedValue,
)
from analytics.scheduling.runs import JobRun
from analytics.water.records import FieldAdvice, FieldDay, HarvestRecord, StationDay
from api.auth import ApiToken
from api.sessions import WebSession
from devices.registry import County, Device, DevicePlacement, Farm, RegistryVersion, Site
from ingest.deadletters import DeadLetter, DeadLetterReplay
from ingest.stats_store import IngestWorkerStats
from storage.metadata import Base, SchemaVersion

__all__ = ["TABLES"]

TABLES: Final[tuple[type[Base], ...]] = (
    SchemaVersion,
    # registry
    County, Farm, Site, Device, DevicePlacement, RegistryVersion,
    # API
    ApiToken, WebSession,
    # ingest
    DeadLetter, DeadLetterReplay, IngestWorkerStats,
    # alerts
    Alert, AlertEvent, SiteRuleOverride,
    # field water
    StationDay, FieldDay, FieldAdvice, HarvestRecord,
    # indicators
    HourlyCountDay, TargetSet, PlanTarget, IndicatorSnapshot, SnapshotValue, SnapshotEvidence,
    # jurisdictions
    Jurisdiction, JurisdictionUnit, OfficialDenominator, ReportedValue,
    # scheduler
    JobRun,
)
"""Every table of the metadata database, parents before children."""
