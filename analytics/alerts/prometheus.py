"""The alert service as Prometheus metrics, read at scrape time (no per-event cost)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from analytics.alerts.service import AlertService


class AlertCollector(Collector):
    """Queue depth, stored transitions, errors and notification deliveries of one service."""

    def __init__(self, service: AlertService) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        """The service's metric families as they are now."""
        s = self._service
        yield GaugeMetricFamily("farmtel_alerts_queued_items",
                                "Work items waiting for the alert engine (reading batches, ticks).",
                                value=s.queued)
        yield CounterMetricFamily("farmtel_alerts_transitions",
                                  "Alert transitions (opened, cleared, ...) stored.",
                                  value=s.transitions_stored)
        yield CounterMetricFamily("farmtel_alerts_errors",
                                  "Work items the alert engine failed on.", value=s.errors)
        deliveries = CounterMetricFamily(
            "farmtel_alert_notifications",
            "Alert notifications by channel (webhook, mqtt) and outcome; outcome=retried counts "
            "webhook attempts, not notifications.", labels=["channel", "outcome"])
        for (channel, outcome), count in sorted(s.deliveries().items()):
            deliveries.add_metric([channel, outcome], count)
        yield deliveries
