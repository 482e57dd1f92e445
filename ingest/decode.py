"""Decode and validate one MQTT message into canonical ``Reading`` objects and rejections.

The contract is in ``devices.contract``. Validation is per reading: good readings of a record are
kept even when a sibling reading is refused; a record with a bad timestamp is refused whole.
Clock policy, against the receive time (the server's clock): a timestamp up to
``suspect_future_ms`` (5 min) ahead is fine (clock jitter, report intervals); up to
``max_future_ms`` (15 min) ahead it is stored with the ``CLOCK_SUSPECT`` quality flag (one of
the two clocks is off, but by little: a server clock stepped 10 min back loses nothing); beyond
that it is refused (``clock_future``), a replayable dead letter. Older than ``max_age_ms`` is
refused (``too_old``); older than ``late_after_ms`` is accepted with the ``LATE`` quality flag
(gateway backlogs are legitimate).

Refusals before a device is known (malformed JSON, bad schema, oversized) name no device
here; their dead letter is attributed to the topic's device (``ingest.deadletters``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from devices.catalogue import DEVICE_TYPES, QUANTITIES, UNIT_CONVERSIONS
from devices.contract import parse_topic, parse_ts_ms
from devices.directory import DeviceInfo
from ingest.rejections import Reason, Rejection
from storage.telemetry import Quality, Reading

MAX_RECORDS_PER_MESSAGE = 10_000
_ALLOWED_QUANTITIES = {name: frozenset(t.quantities) for name, t in DEVICE_TYPES.items()}
# per device type: quantity -> (minimum, maximum) in canonical units, for the fast path
_BOUNDS = {
    name: {q: (QUANTITIES[q].minimum, QUANTITIES[q].maximum) for q in t.quantities
           if math.isfinite(QUANTITIES[q].minimum) and math.isfinite(QUANTITIES[q].maximum)}
    for name, t in DEVICE_TYPES.items()
}
_GOOD, _LATE, _SUSPECT = int(Quality.GOOD), int(Quality.LATE), int(Quality.CLOCK_SUSPECT)
_new_tuple = tuple.__new__  # Reading(...) without the named tuple's Python-level __new__


@dataclass(frozen=True, slots=True)
class DecodePolicy:
    """Limits applied while decoding [bytes, ms]."""

    max_payload_bytes: int = 256 * 1024
    suspect_future_ms: int = 5 * 60 * 1000
    max_future_ms: int = 15 * 60 * 1000
    max_age_ms: int = 365 * 24 * 3600 * 1000
    late_after_ms: int = 3600 * 1000


@dataclass(slots=True)
class Decoded:
    """What one message yields."""

    readings: list[Reading] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    records: int = 0


DeviceLookup = Callable[[str], DeviceInfo | None]


def _canonical_value(
    quantity: str, raw: Any
) -> tuple[float, None] | tuple[None, tuple[Reason, str]]:
    """Canonical-unit float for a raw reading value, or the reason it is refused."""
    unit: Any = None
    if isinstance(raw, dict):
        unit = raw.get("unit")
        raw = raw.get("value")
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None, (Reason.NON_NUMERIC, f"{quantity}: value is {type(raw).__name__}")
    value = float(raw)
    if unit is not None:
        convert = UNIT_CONVERSIONS.get((quantity, unit)) if isinstance(unit, str) else None
        if convert is None:
            return None, (Reason.BAD_UNIT, f"{quantity}: cannot convert unit {unit!r}")
        value = convert(value)
    if not math.isfinite(value):
        return None, (Reason.NOT_FINITE, f"{quantity}: {value}")
    q = QUANTITIES[quantity]
    if not q.minimum <= value <= q.maximum:
        return None, (
            Reason.OUT_OF_RANGE,
            f"{quantity}={value:g} {q.unit} outside [{q.minimum:g}, {q.maximum:g}]",
        )
    return value, None


class MessageDecoder:
    """Turns (topic, payload) into readings; never raises on bad input."""

    def __init__(self, lookup: DeviceLookup, policy: DecodePolicy | None = None) -> None:
        self._lookup = lookup
        self._policy = policy or DecodePolicy()

    def decode(self, topic: str, payload: bytes, now_ms: int) -> Decoded:
        """Decode one message received at ``now_ms`` [UTC ms]."""
        out = Decoded()
        policy = self._policy
        if len(payload) > policy.max_payload_bytes:
            out.rejections.append(
                Rejection(Reason.OVERSIZED_PAYLOAD, f"{len(payload)} bytes > "
                          f"{policy.max_payload_bytes}", topic)
            )
            return out
        parsed = parse_topic(topic)
        if parsed is None:
            out.rejections.append(Rejection(Reason.UNKNOWN_TOPIC, "not a farmtel topic", topic))
            return out
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            out.rejections.append(Rejection(Reason.MALFORMED_JSON, str(exc)[:200], topic))
            return out
        records = self._records_of(doc, topic, parsed.kind, out)
        if records is None:
            return out
        sender = self._sender(parsed.sender_id, parsed.farm_id, topic, out)
        if sender is None:
            return out
        for rec in records:
            self._decode_record(rec, parsed.kind, sender, topic, now_ms, out)
        return out

    def _records_of(
        self, doc: Any, topic: str, kind: str, out: Decoded
    ) -> list[Any] | None:
        if not isinstance(doc, dict):
            out.rejections.append(Rejection(Reason.BAD_SCHEMA, "payload is not an object", topic))
            return None
        if "records" in doc:
            records = doc["records"]
            if not isinstance(records, list) or not records:
                out.rejections.append(
                    Rejection(Reason.BAD_SCHEMA, "records must be a non-empty list", topic)
                )
                return None
            if len(records) > MAX_RECORDS_PER_MESSAGE:
                out.rejections.append(
                    Rejection(Reason.BAD_SCHEMA, f"more than {MAX_RECORDS_PER_MESSAGE} records",
                              topic)
                )
                return None
            return records
        if kind == "gateway":
            out.rejections.append(Rejection(Reason.BAD_SCHEMA, "gateway payload needs records",
                                            topic))
            return None
        return [doc]

    def _sender(self, sender_id: str, farm_id: str, topic: str, out: Decoded) -> DeviceInfo | None:
        info = self._lookup(sender_id)
        if info is None:
            out.rejections.append(
                Rejection(Reason.UNKNOWN_DEVICE, f"{sender_id} is not registered", topic, sender_id)
            )
            return None
        if info.revoked:
            out.rejections.append(
                Rejection(Reason.REVOKED_DEVICE, f"{sender_id} is revoked", topic, sender_id)
            )
            return None
        if info.farm_id != farm_id:
            out.rejections.append(
                Rejection(Reason.WRONG_FARM, f"{sender_id} belongs to farm {info.farm_id}", topic,
                          sender_id)
            )
            return None
        return info

    def _device_of_record(
        self, rec: dict[str, Any], kind: str, sender: DeviceInfo, topic: str, out: Decoded
    ) -> DeviceInfo | None:
        claimed = rec.get("device_id")
        if kind == "telemetry":
            if claimed is not None and claimed != sender.device_id:
                out.rejections.append(
                    Rejection(Reason.DEVICE_MISMATCH, f"record claims {claimed!r}", topic,
                              sender.device_id)
                )
                return None
            return sender
        if not isinstance(claimed, str):
            out.rejections.append(
                Rejection(Reason.BAD_SCHEMA, "gateway record needs device_id", topic,
                          sender.device_id)
            )
            return None
        child = self._lookup(claimed)
        if child is None:
            out.rejections.append(
                Rejection(Reason.UNKNOWN_DEVICE, f"{claimed} is not registered", topic, claimed)
            )
            return None
        if child.gateway_id != sender.device_id:
            out.rejections.append(
                Rejection(Reason.NOT_GATEWAY_CHILD,
                          f"{claimed} is not behind gateway {sender.device_id}", topic, claimed)
            )
            return None
        if child.revoked:
            out.rejections.append(
                Rejection(Reason.REVOKED_DEVICE, f"{claimed} is revoked", topic, claimed)
            )
            return None
        return child

    def _decode_record(
        self, rec: Any, kind: str, sender: DeviceInfo, topic: str, now_ms: int, out: Decoded
    ) -> None:
        if not isinstance(rec, dict):
            out.rejections.append(Rejection(Reason.BAD_SCHEMA, "record is not an object", topic,
                                            sender.device_id))
            return
        out.records += 1
        device = self._device_of_record(rec, kind, sender, topic, out)
        if device is None:
            return
        did = device.device_id
        ts_ms = parse_ts_ms(rec.get("ts"))
        if ts_ms is None:
            out.rejections.append(
                Rejection(Reason.BAD_TIMESTAMP, f"ts {str(rec.get('ts'))[:60]!r} is not RFC 3339 "
                          "with offset", topic, did)
            )
            return
        policy = self._policy
        if ts_ms > now_ms + policy.max_future_ms:
            out.rejections.append(
                Rejection(Reason.CLOCK_FUTURE, f"ts {ts_ms - now_ms} ms ahead of receive time",
                          topic, did)
            )
            return
        if ts_ms < now_ms - policy.max_age_ms:
            out.rejections.append(Rejection(Reason.TOO_OLD, "ts older than the retention window",
                                            topic, did))
            return
        seq = rec.get("seq", 0)
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**63:
            out.rejections.append(Rejection(Reason.BAD_SCHEMA, "seq must be a non-negative int",
                                            topic, did))
            return
        readings = rec.get("readings")
        if not isinstance(readings, dict) or not readings:
            out.rejections.append(Rejection(Reason.BAD_SCHEMA, "readings must be a non-empty "
                                            "object", topic, did))
            return
        quality = _LATE if ts_ms < now_ms - policy.late_after_ms else _GOOD
        if ts_ms > now_ms + policy.suspect_future_ms:
            quality |= _SUSPECT
        dtype, site_id, farm_id, county = (device.device_type, device.site_id, device.farm_id,
                                           device.county)
        bounds = _BOUNDS[dtype]
        append = out.readings.append
        for quantity, raw in readings.items():
            # fast path: a bare number within range (NaN fails the comparison, so it doesn't)
            b = bounds.get(quantity)
            if b is not None and (type(raw) is float or type(raw) is int) and \
                    b[0] <= raw <= b[1]:
                append(_new_tuple(Reading, (did, quantity, float(raw), ts_ms, seq, quality,
                                            dtype, site_id, farm_id, county)))
                continue
            if quantity not in _ALLOWED_QUANTITIES[dtype]:
                out.rejections.append(
                    Rejection(Reason.UNKNOWN_QUANTITY,
                              f"{str(quantity)[:64]!r} is not reported by {dtype}",
                              topic, did, str(quantity)[:64])
                )
                continue
            value, problem = _canonical_value(quantity, raw)
            if problem is not None:
                out.rejections.append(Rejection(problem[0], problem[1], topic, did, quantity))
                continue
            assert value is not None
            append(Reading(did, quantity, value, ts_ms, seq, quality, dtype, site_id, farm_id,
                           county))
