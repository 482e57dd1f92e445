"""A record sink that writes a fleet's records straight into a telemetry store.

For backfills, scenarios and analytics tests: no broker, but the same canonical ``Reading``
objects, tagged from the registry exactly as ingest would tag them; ``on_written`` sees each
written batch (as ingest's ``on_durable`` does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from devices.contract import parse_ts_ms
from devices.directory import DeviceInfo
from storage.telemetry import Reading, TelemetryStore


class StoreSink:
    """Buffers records and writes them to ``store`` in batches of ``batch`` readings."""

    def __init__(self, store: TelemetryStore, devices: Mapping[str, DeviceInfo], *,
                 batch: int = 5000,
                 on_written: Callable[[list[Reading]], None] | None = None) -> None:
        self._store = store
        self._on_written = on_written
        self._devices = devices
        self._batch = batch
        self._pending: list[Reading] = []
        self.records = 0

    def connect(self) -> None:
        """Nothing to connect."""

    def _add(self, device_id: str, ts_ms: int, seq: int, readings: dict[str, float]) -> None:
        info = self._devices[device_id]
        self._pending.extend(
            Reading(device_id, q, float(v), ts_ms, seq, 0, info.device_type, info.site_id,
                    info.farm_id, info.county)
            for q, v in readings.items()
        )
        self.records += 1
        if len(self._pending) >= self._batch:
            self.flush()

    def publish_record(self, farm_id: str, device_id: str, ts_ms: int, seq: int,
                       readings: dict[str, float]) -> int:
        """Store one device record."""
        del farm_id
        self._add(device_id, ts_ms, seq, readings)
        return 0

    def publish_gateway(self, farm_id: str, gateway_id: str,
                        records: list[dict[str, Any]]) -> int:
        """Store the records a gateway would forward."""
        del farm_id, gateway_id
        for rec in records:
            ts = parse_ts_ms(rec["ts"])
            assert ts is not None
            self._add(rec["device_id"], ts, rec["seq"], rec["readings"])
        return 0

    def flush(self, timeout: float = 30.0) -> None:
        """Write what is buffered."""
        del timeout
        if self._pending:
            self._store.write(self._pending)
            if self._on_written is not None:
                self._on_written(self._pending)
            self._pending = []

    def close(self, flush_timeout: float | None = 30.0) -> None:
        """Flush."""
        del flush_timeout
        self.flush()
