"""One Prometheus registry per process, and its own ``/metrics`` port for workers.

The registry starts with the process, platform and garbage-collector collectors; each command
registers the collectors of the parts it runs (``ingest.prometheus.IngestCollector``,
``analytics.alerts.prometheus.AlertCollector``; the API its request metrics). Nothing is
registered in prometheus_client's global default registry.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import TYPE_CHECKING

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    start_http_server,
)
from prometheus_client.registry import Collector

from farmtel.settings import Settings

if TYPE_CHECKING:
    import threading
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger(__name__)


def process_registry() -> CollectorRegistry:
    """A fresh registry with the process (CPU, memory, open files), platform and GC metrics."""
    registry = CollectorRegistry(auto_describe=True)
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


class MetricsServer:
    """Serves ``registry`` on ``http://host:port/metrics`` from a daemon thread.

    ``port`` 0 means off: ``start`` and ``stop`` do nothing. ``host`` defaults to loopback;
    expose it (``0.0.0.0``) only on a network Prometheus is on: the metrics carry no secrets,
    but counts of a fleet are nobody else's business.
    """

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the configured one; 0 when off)."""
        return self._port

    def start(self) -> None:
        """Bind and serve (raises ``OSError`` when the port is taken)."""
        if self._port == 0:
            return
        self._server, self._thread = start_http_server(self._port, self._host, self._registry)
        log.info("metrics on http://%s:%d/metrics", self._host, self._port)

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)


def serve_metrics(stack: ExitStack, settings: Settings, *collectors: Collector,
                  ) -> CollectorRegistry:
    """The process's registry with ``collectors``, served on ``settings.metrics_port`` (when
    not 0) until ``stack`` closes."""
    registry = process_registry()
    for collector in collectors:
        registry.register(collector)
    server = MetricsServer(registry, settings.metrics_host, settings.metrics_port)
    server.start()
    stack.callback(server.stop)
    return registry
