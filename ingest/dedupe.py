"""Drop repeated records (same device, timestamp and sequence) seen recently.

Writes are idempotent in both stores, so this is an optimisation and a counter, not the
guarantee: evicting an old key can only let a duplicate reach the store, where it is a no-op.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from storage.telemetry import Reading


class RecentKeys:
    """A bounded FIFO set of ``(device_id, ts_ms, seq)`` keys."""

    def __init__(self, capacity: int = 500_000) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._keys: OrderedDict[tuple[str, int, int], None] = OrderedDict()

    def add(self, key: tuple[str, int, int]) -> bool:
        """Remember ``key``; False if it was already there (a duplicate)."""
        keys = self._keys
        if key in keys:
            return False
        keys[key] = None
        if len(keys) > self._capacity:
            keys.popitem(last=False)
        return True

    def fresh(self, readings: Iterable[Reading]) -> tuple[list[Reading], int]:
        """The readings whose record was not seen recently, and how many records were.

        One key per record: its readings come together and share (device, timestamp, seq).
        """
        seen_add = self.add
        fresh: list[Reading] = []
        duplicates = 0
        last_key: tuple[str, int, int] | None = None
        last_new = True
        for r in readings:
            key = (r.device_id, r.ts_ms, r.seq)
            if key != last_key:
                last_new = seen_add(key)
                if not last_new:
                    duplicates += 1
                last_key = key
            if last_new:
                fresh.append(r)
        return fresh, duplicates

    def __len__(self) -> int:
        return len(self._keys)
