"""The telemetry store contract: the ``Reading`` type, query results, errors and the protocol.

Both backends (``storage.sqlite``, ``storage.influx``) and the tests' in-memory fake implement
``TelemetryStore`` and pass one shared contract test suite
(``tests/integration/test_store_contract.py``). The naming rules of ids, quantities and tag
values are part of the contract: ``storage.naming``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntFlag, StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple, Protocol, Self

if TYPE_CHECKING:
    from storage.rollups import Maintenance


class Quality(IntFlag):
    """Quality flags carried by every reading (0 = good)."""

    GOOD = 0
    CLOCK_SUSPECT = 1  # device timestamp disagrees with the receive time beyond tolerance
    LATE = 2  # arrived long after its timestamp (backlog flush); value is fine


class Reading(NamedTuple):
    """One value of one quantity from one device at one instant.

    ``ts_ms`` is UTC epoch milliseconds from the device; ``value`` is in the catalogue's
    canonical unit; the site/farm/county tags come from the registry at ingest. A named
    tuple, immutable like a frozen dataclass but about three times cheaper to create: ingest
    makes one per reading (tens of thousands a second).
    """

    device_id: str
    quantity: str
    value: float
    ts_ms: int
    seq: int = 0
    quality: int = Quality.GOOD
    device_type: str = ""
    site_id: str = ""
    farm_id: str = ""
    county: str = ""


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One (possibly aggregated) point of a series: window start for aggregates [UTC ms]."""

    device_id: str
    quantity: str
    ts_ms: int
    value: float


class Aggregation(StrEnum):
    """Aggregations a range query may apply per time window."""

    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    COUNT = "count"


@dataclass(frozen=True, slots=True)
class RangeQuery:
    """A range query over one device or every device of one site.

    Exactly one of ``device_id`` and ``site_id`` is set. ``every_s`` with ``agg`` groups the
    range into windows aligned to the epoch; without them raw points are returned, oldest first,
    at most ``limit`` of them. Windows of whole hours are answered from the rollups where they
    exist (exactly: means are sum / count); raw points exist within the raw retention only.
    """

    quantity: str
    start_ms: int
    end_ms: int
    device_id: str | None = None
    site_id: str | None = None
    every_s: int | None = None
    agg: Aggregation | None = None
    limit: int = 100_000

    def __post_init__(self) -> None:
        if (self.device_id is None) == (self.site_id is None):
            raise ValueError("set exactly one of device_id and site_id")
        if (self.every_s is None) != (self.agg is None):
            raise ValueError("every_s and agg go together")
        if self.every_s is not None and self.every_s <= 0:
            raise ValueError("every_s must be positive")
        if self.end_ms <= self.start_ms:
            raise ValueError("end must be after start")


class StoreError(Exception):
    """Base of telemetry store errors."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now: retry later, spool meanwhile; data is not lost."""


class StoreRejected(StoreError):
    """The store refused the data itself (it will refuse it again): dead-letter it."""


def finite_value(r: Reading) -> float:
    """The reading's value as a finite float; ``StoreRejected`` for NaN, ±inf or a non-number."""
    try:
        value = float(r.value)
    except (TypeError, ValueError) as exc:
        raise StoreRejected(f"non-numeric value {r.value!r} for {r.device_id}") from exc
    if value - value != 0.0:  # NaN or ±inf: neither store has a spelling for them
        raise StoreRejected(f"non-finite value {value!r} for {r.device_id}/{r.quantity}")
    return value


class TelemetryStore(Protocol):
    """Where readings rest. Writes are idempotent on (device_id, quantity, ts_ms)."""

    def write(self, readings: Sequence[Reading]) -> None:
        """Store a batch durably; raises ``StoreUnavailable`` or ``StoreRejected``."""
        ...

    def latest(
        self, device_ids: Sequence[str] | None = None, quantity: str | None = None
    ) -> list[Reading]:
        """The newest reading per (device, quantity), optionally narrowed."""
        ...

    def query(self, q: RangeQuery) -> list[SeriesPoint]:
        """Raw or window-aggregated points in ``[start_ms, end_ms)``, oldest first."""
        ...

    def count_devices_since(self, since_ms: int) -> int:
        """How many distinct devices have a reading at or after ``since_ms``."""
        ...

    def window_counts(
        self, quantity: str, start_ms: int, end_ms: int, *, every_s: int,
        device_ids: Sequence[str] | None = None,
    ) -> list[tuple[str, int, int]]:
        """Readings of ``quantity`` per device and epoch-aligned window of ``every_s`` [s] in
        ``[start_ms, end_ms)``: ``(device_id, window start [UTC ms], count)``, ordered by device
        then window, windows without readings left out. Every device, or only ``device_ids``."""
        ...

    def raw_series(
        self, quantity: str, start_ms: int, end_ms: int, *,
        device_ids: Sequence[str] | None = None,
    ) -> list[tuple[str, int, float]]:
        """Every reading of ``quantity`` in ``[start_ms, end_ms)`` as ``(device_id, ts_ms,
        value)``, ordered by device then time. Every device, or only ``device_ids``."""
        ...

    def maintain(self, now_ms: int) -> Maintenance:
        """Roll up closed hours and days, recompute hours that received late data, delete raw
        readings older than the retention (``storage.rollups`` states the rules); idempotent.
        Aggregated queries over rolled-up whole hours read the rollups from then on."""
        ...

    def ping(self) -> None:
        """Return when the store answers a trivial query now; ``StoreUnavailable`` if not."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


class ClosedOnExit:
    """Mixin for a store: ``with store:`` calls its ``close()`` on the way out."""

    def close(self) -> None:
        """Release connections and files."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
