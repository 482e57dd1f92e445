"""The output contract of the ingest worker: where sealed batches go (Telegraf's ``Write``).

Two sinks implement it: :class:`ingest.store_sink.SpooledStoreSink` (telemetry store, spool,
dead letters; ``farmtel ingest``) and :class:`ingest.alert_sink.AlertSink` (the alert engine;
``farmtel alerts``). The worker decodes, dedupes and batches the same way for both, and
acknowledges a batch's messages only after ``write`` returned True.
"""

from __future__ import annotations

from typing import Any, Protocol

from ingest.pipeline import Batch


class Sink(Protocol):
    """Takes sealed batches on the worker's writer thread."""

    def write(self, batch: Batch[Any]) -> bool:
        """Make ``batch`` durable (or hand it on); True when its messages may be acknowledged.

        False keeps the batch: the worker calls again later with the same batch (which may
        by then hold only what is still to be written).
        """
        ...

    def housekeep(self) -> None:
        """Periodic work on the writer thread (e.g. replaying a spool); must not raise often."""
        ...

    def close(self) -> None:
        """Release what the sink holds, after the last ``write``."""
        ...
