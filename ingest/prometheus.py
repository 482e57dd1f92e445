"""A worker's counters as Prometheus metrics, read at scrape time.

The hot path keeps incrementing plain ints in :class:`~ingest.metrics.IngestMetrics`; this
collector turns them into metric families only when Prometheus scrapes, so ingest pays
nothing per message for being observed. Every family carries a ``sink`` label: ``store``
(``farmtel ingest``, ``farmtel up``) or ``alerts`` (``farmtel alerts``).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ingest.metrics import BATCH_LATENCY_BOUNDS_S, IngestMetrics
from ingest.worker import IngestWorker

_COUNTERS = (
    # (metric name without _total, IngestMetrics attribute, help)
    ("farmtel_ingest_messages_received", "messages_received", "MQTT messages received."),
    ("farmtel_ingest_records_received", "records_received",
     "Records in the received messages (a gateway message carries several)."),
    ("farmtel_ingest_readings_decoded", "readings_decoded",
     "Readings decoded and valid, duplicates left out."),
    ("farmtel_ingest_readings_stored", "readings_stored",
     "Readings written to the sink (the store, or the alert engine for sink=alerts)."),
    ("farmtel_ingest_duplicates", "duplicate_records", "Records dropped as recent duplicates."),
    ("farmtel_ingest_batches_written", "batches_written", "Batches written to the sink."),
    ("farmtel_ingest_batches_spooled", "batches_spooled",
     "Batches appended to the on-disk spool while the store was unavailable."),
    ("farmtel_ingest_batches_replayed", "batches_replayed",
     "Spooled batches replayed into the store."),
    ("farmtel_ingest_store_failures", "store_failures",
     "Writes that failed because the sink was unavailable (then spooled or retried)."),
    ("farmtel_ingest_messages_acked", "messages_acked",
     "Messages acknowledged to the broker once durable."),
)


class IngestCollector(Collector):
    """Metric families of one :class:`~ingest.worker.IngestWorker`, built per scrape."""

    def __init__(self, worker: IngestWorker, sink: str) -> None:
        self._worker = worker
        self._sink = sink

    def collect(self) -> Iterator[Metric]:
        """The worker's counters, gauges and batch latency histogram, as they are now."""
        m = self._worker.counters
        for name, attr, doc in _COUNTERS:
            yield self._one(CounterMetricFamily, name, doc, getattr(m, attr))
        rejected = CounterMetricFamily(
            "farmtel_ingest_rejected", "Records or messages refused, by reason (dead letters).",
            labels=["sink", "reason"])
        for reason, count in sorted(dict(m.rejected).items()):
            rejected.add_metric([self._sink, reason], count)
        yield rejected
        yield self._latency(m)
        depths = self._worker.queue_depths
        yield self._one(GaugeMetricFamily, "farmtel_ingest_inbox_messages",
                        "Messages received, not yet decoded.", depths.inbox)
        yield self._one(GaugeMetricFamily, "farmtel_ingest_batching_messages",
                        "Messages decoded into the open batch.", depths.batching)
        yield self._one(GaugeMetricFamily, "farmtel_ingest_batches_in_flight",
                        "Sealed batches waiting to become durable.", depths.batches_in_flight)
        yield self._one(GaugeMetricFamily, "farmtel_ingest_broker_connected",
                        "1 while the MQTT connection is up.", int(self._worker.connected))
        yield self._one(CounterMetricFamily, "farmtel_ingest_broker_connections",
                        "MQTT connections accepted (more than one: reconnects).",
                        self._worker.connections)
        if self._sink == "store":
            yield self._one(GaugeMetricFamily, "farmtel_ingest_spool_bytes",
                            "Bytes in the on-disk spool.", m.spool_bytes)
            yield self._one(GaugeMetricFamily, "farmtel_ingest_spool_batches",
                            "Batches in the on-disk spool.", m.spool_batches)
            yield self._one(GaugeMetricFamily, "farmtel_ingest_spool_full",
                            "1 while the spool is full: ingest stops acknowledging and the "
                            "broker holds the messages.", int(m.spool_full))

    def _one(self, kind: type[CounterMetricFamily | GaugeMetricFamily], name: str, doc: str,
             value: float) -> Metric:
        """A family of ``kind`` with its one sample, labelled with the sink."""
        family = kind(name, doc, labels=["sink"])
        family.add_metric([self._sink], value)
        return family

    def _latency(self, m: IngestMetrics) -> Metric:
        counts = list(m.batch_latency.counts)  # one copy: buckets and count agree
        bounds = [*(repr(b) for b in BATCH_LATENCY_BOUNDS_S), "+Inf"]
        family = HistogramMetricFamily(
            "farmtel_ingest_batch_latency_seconds",
            "Age of a batch's oldest message when the batch became durable.", labels=["sink"])
        family.add_metric([self._sink], list(zip(bounds, map(float, accumulate(counts)),
                                                  strict=True)), m.batch_latency.sum_s)
        return family
