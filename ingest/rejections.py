"""Why a message or reading was refused: reason codes, which of them may be replayed, and the
rejection record."""

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
    CONFLICTING_VALUE = "conflicting_value"  # another value stands for device, quantity, ts
    STORE_TYPE_CONFLICT = "store_type_conflict"  # the store holds the quantity as another type


REPLAYABLE: frozenset[Reason] = frozenset({
    Reason.CLOCK_FUTURE,  # the server's (or the device's) clock is fixed later
    Reason.UNKNOWN_DEVICE,  # the device is registered a little after it first reported
    Reason.NOT_GATEWAY_CHILD,  # the child is put behind its gateway a little later
    Reason.STORE_REJECTED,  # the store's refusal (schema, field type) is fixed later
    Reason.STORE_TYPE_CONFLICT,  # an operator fixes the field's type in the store
})
"""Refusals whose cause may be fixed later: their messages keep their full payload in the
replay area (``ingest.deadletters``) and can be replayed through the API."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """One refused message, record or reading, with enough context to act on it."""

    reason: Reason
    detail: str
    topic: str
    device_id: str | None = None
    quantity: str | None = None
