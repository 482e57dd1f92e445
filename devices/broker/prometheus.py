"""The embedded broker's counters for ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from devices.broker.embedded import EmbeddedBroker


class BrokerCollector(Collector):
    """``farmtel_broker_queue_dropped_total``: messages the embedded broker dropped because an
    offline session's queue was at ``max_queued_messages`` or ``max_queued_bytes``."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        self._broker = broker

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "farmtel_broker_queue_dropped",
            "Messages dropped at an offline session's queue bound (embedded broker).",
            value=self._broker.queue_dropped)
