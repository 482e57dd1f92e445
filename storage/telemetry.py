"""The telemetry store contract: the ``Reading`` type, query results, errors and the protocol.

Both backends (``storage.sqlite``, ``storage.influx``) and the tests' in-memory fake implement
``TelemetryStore`` and pass one shared contract test suite
(``tests/integration/test_store_contract.py``). The naming rules of ids, quantities and tag
values are part of the contract: ``storage.naming``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntFlag, StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol, Self

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


TIME_MIN_MS: Final = -9_223_372_036_854
"""The earliest instant every backend can hold and query, 1677-09-21T00:12:43.145Z [UTC ms]
(InfluxDB's nanosecond int64 range, ``models.MinNanoTime``; SQLite has none)."""
TIME_MAX_MS: Final = 9_223_372_036_854
"""The end (exclusive) of what every backend can query, 2262-04-11T23:47:16.854Z [UTC ms]
(InfluxQL refuses a bound past it as an overflowed duration)."""


def clamp_range(start_ms: int, end_ms: int) -> tuple[int, int] | None:
    """``[start_ms, end_ms)`` cut to the representable time range ``[TIME_MIN_MS,
    TIME_MAX_MS)``, or None when nothing of it is representable: every store answers such a
    range as empty, none sends it to its database."""
    start, end = max(int(start_ms), TIME_MIN_MS), min(int(end_ms), TIME_MAX_MS)
    return (start, end) if start < end else None


class Refused(StrEnum):
    """Why a store refused single readings of a batch it otherwise wrote."""

    CONFLICTING_VALUE = "conflicting_value"
    """Another value is stored (or came first in the batch) for the same device, quantity and
    instant: the first value stands."""
    TYPE_CONFLICT = "store_type_conflict"
    """The database holds this quantity with another type (InfluxDB: an integer field)."""


class Refusal(NamedTuple):
    """A reading a store refused while writing the rest of its batch."""

    reading: Reading
    why: Refused
    detail: str
    stored_value: float | None = None  # CONFLICTING_VALUE: the value that stands


@dataclass(slots=True)
class WriteResult:
    """What ``TelemetryStore.write`` did with a batch: ``stored`` readings newly stored,
    ``duplicates`` readings whose identical value was already there (or earlier in the batch),
    and the ``refused`` readings (conflicting values, type conflicts). The three add up to the
    batch's length."""

    stored: int = 0
    duplicates: int = 0
    refused: list[Refusal] = field(default_factory=list)


def conflict(r: Reading, stored_value: float) -> Refusal:
    """The refusal of ``r`` because ``stored_value`` stands for its device, quantity, instant."""
    return Refusal(r, Refused.CONFLICTING_VALUE,
                   f"{r.quantity} of {r.device_id} at {r.ts_ms} ms: {stored_value!r} is stored, "
                   f"{r.value!r} (seq {r.seq}) refused", stored_value)


def first_wins(readings: Sequence[Reading],
               stored_value: Callable[[tuple[str, str, int]], float | None],
               ) -> tuple[list[Reading], WriteResult]:
    """The write rule of every store: the first value of ``(device_id, quantity, ts_ms)``
    stands, an identical later one is a duplicate, a different later one is refused
    (``CONFLICTING_VALUE``). ``stored_value(key)`` is what the store already holds (None:
    nothing); within the batch the first reading in order wins. Returns the readings to store
    and the result (``stored`` = their number)."""
    kept: dict[tuple[str, str, int], float] = {}
    new: list[Reading] = []
    result = WriteResult()
    for r in readings:
        key = (r.device_id, r.quantity, r.ts_ms)
        first = kept.get(key)
        if first is None:
            first = stored_value(key)
        if first is None:
            kept[key] = r.value
            new.append(r)
        elif first == r.value:
            result.duplicates += 1
        else:
            result.refused.append(conflict(r, first))
    result.stored = len(new)
    return new, result


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
    """Where readings rest. Writes are idempotent on (device_id, quantity, ts_ms): the first
    value stored for a key stands (``first_wins``). Reads of instants outside ``TIME_MIN_MS``
    .. ``TIME_MAX_MS`` answer empty (``clamp_range``)."""

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        """Store a batch durably; what was stored, duplicate or refused reading by reading is
        in the result. Raises ``StoreUnavailable`` (nothing stored) or ``StoreRejected``
        (the batch as such is refused: an unstorable reading; nothing stored)."""
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
