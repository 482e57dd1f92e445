"""Fakes of farmtel's own protocols (never of paho or the databases)."""

from __future__ import annotations

from collections.abc import Sequence

from storage.telemetry import (
    RangeQuery,
    Reading,
    SeriesPoint,
    StoreRejected,
    StoreUnavailable,
)


class MemoryStore:
    """A TelemetryStore in a dict, with switches to simulate an outage or a refusal."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, int], Reading] = {}
        self.available = True
        self.reject_quantity: str | None = None
        self.writes = 0

    def write(self, readings: Sequence[Reading]) -> None:
        if not self.available:
            raise StoreUnavailable("switched off")
        if self.reject_quantity and any(r.quantity == self.reject_quantity for r in readings):
            raise StoreRejected(f"{self.reject_quantity} refused")
        self.writes += 1
        for r in readings:
            self.rows.setdefault((r.device_id, r.quantity, r.ts_ms), r)

    def latest(self, device_ids=None, quantity=None) -> list[Reading]:
        best: dict[tuple[str, str], Reading] = {}
        for r in self.rows.values():
            if device_ids is not None and r.device_id not in device_ids:
                continue
            if quantity is not None and r.quantity != quantity:
                continue
            k = (r.device_id, r.quantity)
            if k not in best or r.ts_ms > best[k].ts_ms:
                best[k] = r
        return list(best.values())

    def query(self, q: RangeQuery) -> list[SeriesPoint]:
        raise NotImplementedError

    def count_devices_since(self, since_ms: int) -> int:
        return len({r.device_id for r in self.rows.values() if r.ts_ms >= since_ms})

    def close(self) -> None:
        pass
