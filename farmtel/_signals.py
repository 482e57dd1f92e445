"""SIGINT and SIGTERM as a clean stop of a long-running ``farmtel`` command.

``docker stop`` and systemd send SIGTERM, a terminal sends SIGINT on Ctrl-C; both mean the
same: the first one asks the command to stop. It leaves its main wait (or uvicorn leaves its
main loop), its ``ExitStack`` stops its parts in reverse order of starting (the simulator, the
scheduler, ingest drained, the store closed, the broker last), it logs one ``stopped`` line and
exits with status 0. A signal that arrives while the command is still starting is handled the
same way once the start is complete.

A second signal while stopping exits at once with status 128 + its number, skipping the rest of
the cleanup. Ingest acknowledges a message only once it is durable (store or spool), so even
then nothing acknowledged is lost; unacknowledged messages stay with the broker.

The signal handler takes no lock and writes no buffered stream (it may interrupt the main
thread anywhere, even inside a logging call): it records the signal, writes one byte to a pipe
that ``wait`` selects on, and sets flags such as uvicorn's ``should_exit``.
"""

from __future__ import annotations

import logging
import os
import select
import signal
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType, TracebackType
from typing import Any, Self

log = logging.getLogger("farmtel")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """While entered: SIGINT and SIGTERM request a stop (main thread only)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.signal_name: str | None = None  # the signal that asked to stop, e.g. "SIGTERM"
        self._callbacks: list[Callable[[], None]] = []
        self._read_fd, self._write_fd = os.pipe()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Self:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in _SIGNALS}
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        os.close(self._read_fd)
        os.close(self._write_fd)

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self.signal_name is not None

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until a stop is requested (True) or ``timeout_s`` [s] passed (False)."""
        readable, _, _ = select.select([self._read_fd], [], [], timeout_s)
        return bool(readable)

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` from the signal handler when a stop is requested (at once if it
        already was). It must only set flags: no locks, no I/O."""
        self._callbacks.append(callback)
        if self.requested:
            callback()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signal_name is not None:
            os.write(2, f"{self.name}: {name} while stopping, exiting at once\n".encode())
            os._exit(128 + signum)
        self.signal_name = name
        os.write(self._write_fd, b"x")
        for callback in self._callbacks:
            callback()


@contextmanager
def running(name: str) -> Iterator[tuple[StopSignals, ExitStack]]:
    """Run a long-running command ``name`` (e.g. "farmtel up"): its parts go on the
    ``ExitStack`` and its body ends when ``StopSignals`` says so (``stop.wait()``). Enter it
    first, before the command's slow imports, so that a signal during start-up is not lost.

    After the body: "<name>: SIGTERM received, stopping", the stack unwinds, "<name>: stopped".
    An exception skips both lines and propagates (after the unwinding).
    """
    with StopSignals(name) as stop:
        with ExitStack() as stack:
            yield stop, stack
            if stop.signal_name is not None:
                log.info("%s: %s received, stopping", name, stop.signal_name)
        log.info("%s: stopped", name)


def serve_api(app: Any, stop: StopSignals, **config: Any) -> None:
    """Serve ``app`` with uvicorn (``config``: ``uvicorn.Config`` keywords) until ``stop``.

    uvicorn's own signal handling is off: it would re-raise the signal after its shutdown and so
    kill the process before the caller's cleanup ran.
    """
    import uvicorn

    class Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    server = Server(uvicorn.Config(app, **config))

    def exit_server() -> None:
        server.should_exit = True

    stop.on_stop(exit_server)
    if not stop.requested:
        server.run()
