"""Why a message or reading was refused: reason codes and the rejection record."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Dead-letter reason codes (stable: they are API and metric labels)."""

    OVERSIZED_PAYLOAD = "oversized_payload"
    MALFORMED_JSON = "malformed_json"
    BAD_SCHEMA = "bad_schema"
    UNKNOWN_TOPIC = "unknown_topic"
    UNKNOWN_DEVICE = "unknown_device"
    REVOKED_DEVICE = "revoked_device"
    WRONG_FARM = "wrong_farm"
    DEVICE_MISMATCH = "device_mismatch"
    NOT_GATEWAY_CHILD = "not_gateway_child"
    BAD_TIMESTAMP = "bad_timestamp"
    CLOCK_FUTURE = "clock_future"
    TOO_OLD = "too_old"
    UNKNOWN_QUANTITY = "unknown_quantity"
    NON_NUMERIC = "non_numeric"
    NOT_FINITE = "not_finite"
    BAD_UNIT = "bad_unit"
    OUT_OF_RANGE = "out_of_range"
    STORE_REJECTED = "store_rejected"


@dataclass(frozen=True, slots=True)
class Rejection:
    """One refused message, record or reading, with enough context to act on it."""

    reason: Reason
    detail: str
    topic: str
    device_id: str | None = None
    quantity: str | None = None
