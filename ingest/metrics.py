"""Ingest counters: exact counts of what came in, what was kept and why the rest was refused."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

BATCH_LATENCY_BOUNDS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds of the batch latency histogram's buckets [s] (a last bucket takes the rest)."""


@dataclass(slots=True)
class LatencyHistogram:
    """Batch latencies in fixed buckets: ``counts[i]`` latencies of at most
    ``BATCH_LATENCY_BOUNDS_S[i]``, above the bound before it; ``counts[-1]`` the rest [s]."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BATCH_LATENCY_BOUNDS_S) + 1))
    sum_s: float = 0.0

    def observe(self, latency_s: float) -> None:
        """Count one latency [s]."""
        self.counts[bisect_left(BATCH_LATENCY_BOUNDS_S, latency_s)] += 1
        self.sum_s += latency_s


@dataclass(slots=True)
class IngestMetrics:
    """Counters of one ingest worker.

    Each counter has one writing thread: the decode side (received, decoded, duplicates,
    decode rejections) or the durable side (stored, refused by the store, spool, acks).
    """

    messages_received: int = 0
    records_received: int = 0
    readings_decoded: int = 0
    readings_refused_by_store: int = 0
    readings_stored: int = 0
    duplicate_records: int = 0
    duplicate_readings: int = 0  # readings the store already held with the same value
    rejected: Counter[str] = field(default_factory=Counter)
    batches_written: int = 0
    batches_spooled: int = 0
    batches_replayed: int = 0
    store_failures: int = 0
    messages_acked: int = 0
    spool_bytes: int = 0
    spool_peak_bytes: int = 0
    spool_batches: int = 0
    spool_full: bool = False
    replay_evicted: int = 0  # replayable dead letters evicted from the full replay area
    last_batch_latency_ms: float = 0.0
    max_batch_latency_ms: float = 0.0
    batch_latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    @property
    def readings_accepted(self) -> int:
        """Readings decoded, not duplicates, and not refused by the store."""
        return self.readings_decoded - self.readings_refused_by_store

    def observe_batch_latency(self, latency_ms: float) -> None:
        """Record the age of the oldest message of a batch when it became durable [ms]."""
        self.last_batch_latency_ms = latency_ms
        self.max_batch_latency_ms = max(self.max_batch_latency_ms, latency_ms)
        self.batch_latency.observe(latency_ms / 1000)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "messages_received": self.messages_received,
            "records_received": self.records_received,
            "readings_accepted": self.readings_accepted,
            "readings_stored": self.readings_stored,
            "duplicate_records": self.duplicate_records,
            "duplicate_readings": self.duplicate_readings,
            "rejected": dict(self.rejected),
            "rejected_total": sum(self.rejected.values()),
            "batches_written": self.batches_written,
            "batches_spooled": self.batches_spooled,
            "batches_replayed": self.batches_replayed,
            "store_failures": self.store_failures,
            "messages_acked": self.messages_acked,
            "spool_bytes": self.spool_bytes,
            "spool_peak_bytes": self.spool_peak_bytes,
            "spool_batches": self.spool_batches,
            "spool_full": self.spool_full,
            "replay_evicted": self.replay_evicted,
            "last_batch_latency_ms": round(self.last_batch_latency_ms, 3),
            "max_batch_latency_ms": round(self.max_batch_latency_ms, 3),
        }


def merge_snapshots(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the counters of several workers (latencies, spool peak: max; spool_full: any)."""
    total: dict[str, Any] = IngestMetrics().snapshot()
    rejected: Counter[str] = Counter()
    for snap in snapshots:
        for key, value in snap.items():
            if key == "rejected":
                rejected.update(value)
            elif key in ("last_batch_latency_ms", "max_batch_latency_ms", "spool_peak_bytes"):
                total[key] = max(total[key], value)
            elif key == "spool_full":
                total[key] = total[key] or bool(value)
            elif isinstance(value, int | float) and key in total:
                total[key] += value
    total["rejected"] = dict(rejected)
    total["rejected_total"] = sum(rejected.values())
    total["workers"] = len(snapshots)
    return total
