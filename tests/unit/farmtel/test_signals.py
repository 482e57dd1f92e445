"""SIGINT and SIGTERM as a clean stop: the first asks to stop, a second one exits at once."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap

import pytest

from farmtel._signals import StopSignals, running
from tests.servers import ROOT


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_requests_a_stop_and_runs_the_callbacks(sig: signal.Signals) -> None:
    calls: list[str] = []
    before = signal.getsignal(sig)
    with StopSignals("farmtel test") as stop:
        stop.on_stop(lambda: calls.append("early"))
        assert not stop.wait(0) and not stop.requested
        signal.raise_signal(sig)
        assert stop.wait(0) and stop.wait(None)
        assert stop.signal_name == sig.name
        stop.on_stop(lambda: calls.append("late"))  # already requested: called at once
    assert calls == ["early", "late"]
    assert signal.getsignal(sig) is before


def test_running_unwinds_then_logs_one_stopped_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "farmtel")
    with running("farmtel test") as (stop, stack):
        stack.callback(logging.getLogger("farmtel").info, "part stopped")
        signal.raise_signal(signal.SIGTERM)
        stop.wait()
    assert caplog.messages == ["farmtel test: SIGTERM received, stopping", "part stopped",
                               "farmtel test: stopped"]


def test_an_error_skips_the_stopped_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "farmtel")
    with pytest.raises(RuntimeError), running("farmtel test") as (_stop, stack):
        stack.callback(logging.getLogger("farmtel").info, "part stopped")
        raise RuntimeError("start failed")
    assert caplog.messages == ["part stopped"]


def test_a_second_signal_while_stopping_exits_at_once() -> None:
    script = textwrap.dedent("""
        import signal, time
        from farmtel._signals import running
        with running("farmtel test") as (stop, stack):
            stack.callback(time.sleep, 60)  # a slow stop
            signal.raise_signal(signal.SIGTERM)
            stop.wait()
            stack.callback(signal.raise_signal, signal.SIGINT)  # runs first while unwinding
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 128 + signal.SIGINT, done.stderr
    assert "farmtel test: SIGINT while stopping, exiting at once" in done.stderr
    assert "Traceback" not in done.stderr
