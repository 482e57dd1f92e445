"""Every table of the metadata database, listed, and the schema version.

``storage.metadata.create_schema(engine, TABLES, SCHEMA_VERSION)`` creates exactly these
tables; nothing is discovered by import side effect. A new table is added here (a test fails
otherwise) and, once the schema has shipped, with a migration and a new ``SCHEMA_VERSION``.
"""

from __future__ import annotations

from typing import Final

from analytics.alerts.service import SiteRuleOverride
from analytics.alerts.store import Alert, AlertEvent
from analytics.indicators.hourly.table import HourlyCountDay
from analytics.indicators.snapshots import IndicatorSnapshot, SnapshotEvidence, SnapshotValue
from analytics.indicators.targets import PlanTarget, TargetSet
from analytics.scheduling.runs import JobRun
from analytics.water.records import FieldAdvice, FieldDay, HarvestRecord, StationDay
from api.auth import ApiToken
from devices.registry import County, Device, DevicePlacement, Farm, RegistryVersion, Site
from ingest.deadletters import DeadLetter
from ingest.stats_store import IngestWorkerStats
from storage.metadata import Base, SchemaVersion

__all__ = ["SCHEMA_VERSION", "TABLES"]

SCHEMA_VERSION: Final = 1
"""Version of the schema below; stored in ``schema_version`` when the schema is created."""

TABLES: Final[tuple[type[Base], ...]] = (
    SchemaVersion,
    # registry
    County, Farm, Site, Device, DevicePlacement, RegistryVersion,
    # API
    ApiToken,
    # ingest
    DeadLetter, IngestWorkerStats,
    # alerts
    Alert, AlertEvent, SiteRuleOverride,
    # field water
    StationDay, FieldDay, FieldAdvice, HarvestRecord,
    # indicators
    HourlyCountDay, TargetSet, PlanTarget, IndicatorSnapshot, SnapshotValue, SnapshotEvidence,
    # scheduler
    JobRun,
)
"""Every table of the metadata database, parents before children."""
