"""The alert-engine sink: ``farmtel alerts`` is the ingest worker with this sink.

Ingest workers scale out on a shared subscription that deals messages round-robin, so one
device's readings land on different workers, while streaming rules (durations, rates, stuck
sensors, baselines) need every reading of a device in one engine. ``farmtel alerts`` therefore
subscribes on its own (its own session, or its own shared group on a broker that routes by
topic hash, such as EMQX ``hash_topic``), decodes with the same validation as ingest and hands
the accepted readings to the alert service; ingest then only stores
(``FARMTEL_INGEST_ALERTS=false``).

Delivery into the engine is at least once: a batch's messages are acknowledged once its
readings are queued for evaluation. Rejections are counted but not dead-lettered (ingest does
that).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ingest.metrics import IngestMetrics
from ingest.pipeline import Batch
from storage.telemetry import Reading

log = logging.getLogger(__name__)


class AlertSink:
    """Hands each batch's readings to ``submit`` (the alert service's ``submit_readings``).

    ``submit`` must only enqueue. Handed-over readings count as ``readings_stored`` and
    batches as ``batches_written`` in ``metrics``; a failing ``submit`` counts in
    ``store_failures`` and the batch is retried (its messages stay unacknowledged).
    """

    def __init__(self, submit: Callable[[list[Reading]], None], metrics: IngestMetrics) -> None:
        self._submit = submit
        self.metrics = metrics

    def write(self, batch: Batch[Any]) -> bool:
        """Queue the batch's readings for evaluation; False (kept) if the service refused."""
        m = self.metrics
        if batch.readings:
            try:
                self._submit(batch.readings)
            except Exception:
                m.store_failures += 1
                log.exception("alert service refused %d readings", len(batch.readings))
                return False
            m.readings_stored += len(batch.readings)
            m.batches_written += 1
        batch.dead.clear()
        return True

    def housekeep(self) -> None:
        """Nothing to do."""

    def close(self) -> None:
        """Nothing to release (the alert service belongs to the caller)."""
