"""The embedded MQTT broker (amqtt) for ``farmtel up``: runs on its own thread and event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Collection
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
    ``max_queued_messages``/``max_queued_bytes`` bound each offline session's queue (payload
    bytes; 0 = no bound) as Mosquitto's settings of the same names do; what is over a bound is
    dropped and counted (:attr:`queue_dropped`).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *, access: Any = None,
                 tls_port: int | None = None, tls_cert_file: Path | None = None,
                 tls_key_file: Path | None = None, max_queued_messages: int = 0,
                 max_queued_bytes: int = 0) -> None:
        self.host = host
        self.port = port
        self._access = access
        self._max_queued = (max_queued_messages, max_queued_bytes)
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
            max_messages, max_bytes = self._max_queued
            self._broker = FarmtelBroker(self._config(), access=self._access, loop=loop,
                                         max_queued_messages=max_messages,
                                         max_queued_bytes=max_bytes)
            loop.run_until_complete(self._broker.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    @property
    def queue_dropped(self) -> int:
        """Messages dropped at an offline session's queue bound since the start [messages]."""
        return int(self._broker.queue_dropped) if self._broker is not None else 0

    def close_to_devices(self, keep_users: Collection[str], timeout_s: float = 60.0) -> bool:
        """The first step of a clean stop: close the listeners, disconnect every client not
        logged in as one of ``keep_users`` (farmtel's own services), route what they had been
        acknowledged, then wait until the clients of ``keep_users`` acknowledged everything
        (ingest acknowledges once stored or spooled). False if that took over ``timeout_s``."""
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or not loop.is_running():
            return True
        users = frozenset(keep_users)
        closed = asyncio.run_coroutine_threadsafe(broker.close_to_devices(users), loop).result(
            timeout_s)
        log.info("embedded broker: listeners closed, %d clients disconnected", closed)
        deadline = time.monotonic() + timeout_s
        while (left := self._undelivered(users)) > 0:
            if time.monotonic() > deadline:
                log.error("embedded broker: %d messages still not acknowledged by ingest after "
                          "%.0f s; they are lost when the broker stops", left, timeout_s)
                return False
            time.sleep(0.05)
        log.info("embedded broker: everything acknowledged was delivered to ingest")
        return True

    def is_connected(self, client_id: str) -> bool:
        """True while a client with this id is connected."""
        loop, broker = self._loop, self._broker
        if loop is None or broker is None:
            return False

        async def check() -> bool:
            session = broker._sessions.get(client_id, (None, None))[0]
            return session is not None and bool(session.transitions.is_connected())

        return asyncio.run_coroutine_threadsafe(check(), loop).result(10.0)

    def _undelivered(self, users: frozenset[str]) -> int:
        loop, broker = self._loop, self._broker
        assert loop is not None and broker is not None

        async def count() -> int:
            return int(broker.undelivered(users))

        return asyncio.run_coroutine_threadsafe(count(), loop).result(10.0)

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
