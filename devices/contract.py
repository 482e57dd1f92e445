"""The MQTT contract between devices and farmtel: topics and payload shape.

Topics::

    farmtel/{farm_id}/{device_id}/telemetry   a device's own records
    farmtel/{farm_id}/{gateway_id}/gateway    records of devices behind a gateway
    farmtel/alerts/{farm_id}/{site_id}        alert transitions (published by farmtel)

Telemetry payload (UTF-8 JSON)::

    {"ts": "2026-05-01T06:00:00Z", "seq": 17, "readings": {"vwc_pct": 23.1, "soil_temp_c": 11.4}}
    {"records": [ <record>, ... ]}                      # buffered backlog, same device
    {"records": [{"device_id": "sm-1", "ts": ..., "seq": ..., "readings": {...}}, ...]}  # gateway

A reading value is a number in the catalogue's canonical unit, or ``{"value": 0.231,
"unit": "m3/m3"}`` in any unit the catalogue can convert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from storage.clock import from_ms

TOPIC_ROOT = "farmtel"
TELEMETRY = "telemetry"
GATEWAY = "gateway"

TopicKind = Literal["telemetry", "gateway"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed device topic."""

    farm_id: str
    sender_id: str
    kind: TopicKind


def telemetry_topic(farm_id: str, device_id: str) -> str:
    """The topic a device publishes its own records on."""
    return f"{TOPIC_ROOT}/{farm_id}/{device_id}/{TELEMETRY}"


def gateway_topic(farm_id: str, gateway_id: str) -> str:
    """The topic a gateway publishes its children's records on."""
    return f"{TOPIC_ROOT}/{farm_id}/{gateway_id}/{GATEWAY}"


def alert_topic(farm_id: str, site_id: str) -> str:
    """The topic farmtel publishes alert transitions on."""
    return f"{TOPIC_ROOT}/alerts/{farm_id}/{site_id}"


def subscription_topics(shared_group: str | None = None) -> list[str]:
    """Topic filters ingest subscribes to, optionally as an MQTT 5/Mosquitto shared subscription."""
    filters = [f"{TOPIC_ROOT}/+/+/{TELEMETRY}", f"{TOPIC_ROOT}/+/+/{GATEWAY}"]
    if shared_group:
        return [f"$share/{shared_group}/{f}" for f in filters]
    return filters


def parse_topic(topic: str) -> Topic | None:
    """Split a device topic; ``None`` when it is not one of ours."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != TOPIC_ROOT or not parts[1] or not parts[2]:
        return None
    kind = parts[3]
    if kind == TELEMETRY:
        return Topic(parts[1], parts[2], "telemetry")
    if kind == GATEWAY:
        return Topic(parts[1], parts[2], "gateway")
    return None


def format_ts(ts_ms: int) -> str:
    """RFC 3339 UTC with milliseconds, as devices are asked to send it."""
    dt = from_ms(ts_ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def record(
    ts_ms: int,
    seq: int,
    readings: Mapping[str, float | Mapping[str, Any]],
    device_id: str | None = None,
) -> dict[str, Any]:
    """One record as the contract spells it (``device_id`` only behind a gateway)."""
    rec: dict[str, Any] = {"ts": format_ts(ts_ms), "seq": seq, "readings": dict(readings)}
    if device_id is not None:
        rec["device_id"] = device_id
    return rec


def parse_ts_ms(value: Any) -> int | None:
    """RFC 3339 timestamp with an explicit offset -> UTC epoch ms; ``None`` if invalid."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return (dt - _EPOCH) // _ONE_MS
