"""What the engine emits (:class:`Transition`) and what it restores from (:class:`ActiveAlert`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from analytics.alerts.rules import Severity, SubjectType
from devices.contract import format_ts

__all__ = ["OUT_OF_SEASON_NOTE", "SYSTEM_NOTES", "ActiveAlert", "Transition", "TransitionKind"]


OUT_OF_SEASON_NOTE: Final = "out_of_season"
"""Audit note of an alert the engine resolved because its field's crop is not in the field."""
SYSTEM_NOTES: Final = frozenset({OUT_OF_SEASON_NOTE})
"""Notes the system writes as codes; the pages show them in the reader's language."""


class TransitionKind(StrEnum):
    """A change of an alert.

    The engine emits OPENED, SEVERITY_CHANGED and RESOLVED; ACKNOWLEDGED (and RESOLVED by
    hand) come from people, through the repository.
    """

    OPENED = "opened"
    SEVERITY_CHANGED = "severity_changed"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Transition:
    """One alert change for one (rule, subject), at ``ts_ms`` (UTC epoch ms).

    ``ts_ms`` is the timestamp of the reading that caused it (``now_ms`` of the tick for
    no-data). ``value``/``threshold`` are in the units the rule kind documents.
    ``alert_id`` is filled in by ``AlertRepository.apply``.
    """

    kind: TransitionKind
    rule_id: str
    subject_type: SubjectType
    subject_id: str
    severity: Severity
    ts_ms: int
    value: float | None
    threshold: float | None
    title_zh: str
    title_en: str
    device_id: str = ""
    site_id: str = ""
    farm_id: str = ""
    county_id: str = ""
    previous_severity: Severity | None = None
    actor: str | None = None
    note: str | None = None
    alert_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (webhook and MQTT payload)."""
        return {
            "kind": self.kind.value,
            "alert_id": self.alert_id,
            "rule_id": self.rule_id,
            "subject_type": self.subject_type.value,
            "subject_id": self.subject_id,
            "device_id": self.device_id,
            "site_id": self.site_id,
            "farm_id": self.farm_id,
            "county_id": self.county_id,
            "severity": self.severity.value,
            "previous_severity": (
                self.previous_severity.value if self.previous_severity is not None else None
            ),
            "ts_ms": self.ts_ms,
            "ts": format_ts(self.ts_ms),
            "value": self.value,
            "threshold": self.threshold,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "actor": self.actor,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """An open or acknowledged alert as the engine needs it to resume after a restart.

    ``opened_ms`` is UTC epoch ms; ``value`` is the value at opening (for no-data: the silence
    [min], from which the engine recovers when the device was last seen).
    """

    rule_id: str
    subject_type: SubjectType
    subject_id: str
    severity: Severity
    opened_ms: int
    value: float | None = None
    device_id: str = ""
    site_id: str = ""
    farm_id: str = ""
    county_id: str = ""
