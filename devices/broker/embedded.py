"""The embedded MQTT broker (amqtt) for ``farmtel up``: runs on its own thread and event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedBroker:
    """An in-process MQTT 3.1.1 broker on ``host:port``: amqtt with farmtel's session handling
    (``devices.broker.embedded_sessions``: persistent sessions keep their queue and in-flight
    messages until acknowledged, client ids bound to logins, wills checked).

    Without ``access`` it admits anyone (``farmtel up``'s local demo mode); with a
    ``devices.broker.embedded_auth.RegistryBrokerAccess`` it enforces the registry's credentials and
    topic ACLs. ``tls_port`` with ``tls_cert_file``/``tls_key_file`` adds a TLS listener.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *, access: Any = None,
                 tls_port: int | None = None, tls_cert_file: Path | None = None,
                 tls_key_file: Path | None = None) -> None:
        self.host = host
        self.port = port
        self._access = access
        self._tls = (tls_port, tls_cert_file, tls_key_file)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _config(self) -> dict[str, Any]:
        listeners: dict[str, Any] = {
            "default": {"type": "tcp", "bind": f"{self.host}:{self.port}",
                        "max_connections": 10_000},
        }
        tls_port, cert, key = self._tls
        if tls_port is not None:
            if cert is None or key is None:
                raise ValueError("a TLS listener needs a certificate and a key file")
            listeners["tls"] = {"type": "tcp", "bind": f"{self.host}:{tls_port}",
                                "max_connections": 10_000, "ssl": True,
                                "certfile": str(cert), "keyfile": str(key)}
        if self._access is None:
            plugins: dict[str, Any] = {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            }
        else:
            from devices.broker.embedded_auth import plugin_config

            plugins = plugin_config(self._access)
        return {"listeners": listeners, "plugins": plugins}

    def start(self, timeout_s: float = 15.0) -> None:
        """Start the broker; returns once its listener is bound."""
        self._thread = threading.Thread(target=self._run, name="mqtt-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"embedded broker did not start on {self.host}:{self.port}")
        if self._error is not None:
            raise RuntimeError(f"embedded broker failed: {self._error}") from self._error
        log.info("embedded MQTT broker on %s:%d", self.host, self.port)

    def _run(self) -> None:
        # heavy import, only when the broker is wanted
        from devices.broker.embedded_sessions import FarmtelBroker

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._broker = FarmtelBroker(self._config(), access=self._access, loop=loop)
            loop.run_until_complete(self._broker.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the broker down and join its thread."""
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or not loop.is_running():
            return
        fut = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
        try:
            fut.result(timeout_s)
        except Exception:
            log.exception("embedded broker shutdown")
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout_s)
