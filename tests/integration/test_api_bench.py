"""bench/api_latency.py on small data: real influxd (the session's), SQLite, ``farmtel api`` processes
and HTTP; every path answers right and gets figures. No timing is asserted."""

from __future__ import annotations

import importlib

import pytest

from bench import api_latency as bench_api

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PATHS = ["latest, 1,000 devices", "device list, 1,000 devices", "device-year, daily agg."]


def test_every_path_is_measured_on_both_backends(influx_server, influx_database, tmp_path):
    opts = bench_api.Options(devices=1_100, farm_devices=1_000, history_days=0.03, year_days=20,
                             requests=3, warmup=1, indicator_repeats=0)
    results = bench_api.run_bench(opts, tmp_path, influx_server, influx_db=influx_database)
    assert list(results) == ["sqlite", "influxdb"]
    for backend, result in results.items():
        assert "error" not in result, result.get("error")
        assert list(result["paths"]) == PATHS
        latest, devices, year = (result["paths"][name] for name in PATHS)
        for row in (latest, devices, year):
            # the checks behind "errors": 200, every device with all 4 values / its status
            assert row["errors"] == [], (backend, row["errors"])
            assert row["n"] == 3
            assert 0 < row["min_ms"] <= row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert latest["answer_items"] == devices["answer_items"] == 1_000
        assert year["answer_items"] == 20  # daily windows
        assert result["fill"]["readings"] > 4 * (20 * 96 + 999 + 100)  # + the farm's history


def test_indicator_row_calls_run_indicator_bench(tmp_path, monkeypatch):
    (tmp_path / "fake_indicator_bench.py").write_text(
        "calls = []\n\n"
        "def run_indicator_bench(backend, store_url, influx_url, devices, repeats):\n"
        "    calls.append((backend, store_url, influx_url, devices, repeats))\n"
        "    return {'p50_ms': 1.0, 'p99_ms': 2.0, 'min_ms': 0.5, 'max_ms': 3.0}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(bench_api, "INDICATOR_MODULE", "fake_indicator_bench")
    row = bench_api.indicator_row("influxdb", "influxdb://127.0.0.1:1/x", "http://127.0.0.1:1",
                                  200_000, 3)
    assert row == {"n": 3, "devices": 200_000, "p50_ms": 1.0, "p99_ms": 2.0, "min_ms": 0.5,
                   "max_ms": 3.0}
    fake_indicator_bench = importlib.import_module("fake_indicator_bench")  # written above
    assert fake_indicator_bench.calls == [
        ("influxdb", "influxdb://127.0.0.1:1/x", "http://127.0.0.1:1", 200_000, 3)]
    monkeypatch.setattr(bench_api, "INDICATOR_MODULE", "no_such_indicator_bench")
    assert "missing" in bench_api.indicator_row("sqlite", "sqlite:///x.db", None, 10, 1)
