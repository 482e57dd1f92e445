"""Every command starts its parts in one ExitStack: they stop in reverse order, also when a
later part fails to start."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from farmtel.cli import _started


class Part:
    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        self.name, self.log, self.fail = name, log, fail

    def start(self) -> None:
        if self.fail:
            raise RuntimeError(f"{self.name} failed")
        self.log.append(f"start {self.name}")

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")


def test_parts_stop_in_reverse_order() -> None:
    log: list[str] = []
    with ExitStack() as stack:
        for name in ("broker", "store", "worker"):
            _started(stack, Part(name, log))
    assert log == ["start broker", "start store", "start worker",
                   "stop worker", "stop store", "stop broker"]


def test_a_failed_start_stops_what_started() -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError), ExitStack() as stack:
        _started(stack, Part("broker", log))
        _started(stack, Part("worker", log, fail=True))
    assert log == ["start broker", "stop broker"]
