"""City-scale simulation benchmark: one `farmtel simulate --city` process, 200,000 devices.

    python -m bench.city                       # ~3-4 min: 200,000 devices, 120 s live + burst
    python -m bench.city --devices 20000 --live-seconds 30 --headroom-seconds 0   # smoke

Everything is real and local: Mosquitto on a free loopback port (tests/servers.py) with a
password file and ACLs (the simulator's service account may write device topics, the counter's
may read them), a fresh SQLite metadata database, and

1. **real time**: ``python -m farmtel.cli simulate --city N`` as a subprocess: bulk
   registration of the fleet, then live publishing at the catalogue rates for
   ``--live-seconds``, with one burst: ``--outage-fraction`` of the gateways were cut off
   ``--outage-minutes`` ago and come back ``--outage-back-after`` seconds into the run, flushing
   their backlog (records older than 1 h: ingest would store them LATE);
2. **headroom** (``--headroom-speed``, default 25): the same fleet, already registered, 25
   times faster than real time for ``--headroom-seconds``, no outage (what one process
   sustains beyond the city; the run starts in the past and ends now).

A counting subscriber (a separate process: paho, QoS 1, persistent session) decodes every
message and counts messages, records, readings, distinct (device, ts) keys and records older
than 1 h at receipt. The simulator's CPU and RSS are sampled from /proc every 0.5 s.

Reports offered (catalogue) vs achieved rates, simulator CPU % (steady, burst) and RSS,
registration time, burst flush rate and time (published, acknowledged, received), and whether
every published record was received exactly once. A table on stdout, JSON in
bench/results/city-<timestamp>.json. Exit status 1 if a record is missing or duplicated.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt

from bench._common import RESULTS_DIR, ROOT, cpu_seconds, rss_kib, telemetry_subscriber
from devices.broker.mosquitto import (
    ServiceAccount,
    render_acl_file,
    render_password_file,
    service_user,
)
from devices.contract import parse_topic, parse_ts_ms
from storage.clock import HOUR_MS
from tests.servers import MosquittoServer, farmtel_env

SIM_USER, SIM_PASSWORD = "farmtel-sim", "bench-sim-secret"
COUNTER_USER, COUNTER_PASSWORD = "bench-counter", "bench-counter-secret"
LATE_MS = HOUR_MS
SAMPLE_S = 0.5


# --- the counting subscriber (a child process) -------------------------------------------------


@dataclass
class Tally:
    """What the subscriber saw."""

    messages: int = 0
    records: int = 0
    readings: int = 0
    late_records: int = 0
    bad: int = 0
    keys: set[tuple[str, int]] = field(default_factory=set)
    # per message: (receive wall s, sender id, records, min ts ms)
    log: list[tuple[float, str, int, int]] = field(default_factory=list)

    def add(self, topic: str, payload: bytes, now: float) -> None:
        parsed = parse_topic(topic)
        try:
            doc = orjson.loads(payload)
            recs = doc.get("records", [doc])
        except (orjson.JSONDecodeError, TypeError, KeyError):
            self.bad += 1
            return
        if parsed is None:
            self.bad += 1
            return
        now_ms = int(now * 1000)
        oldest = now_ms
        for r in recs:
            ts = parse_ts_ms(r.get("ts"))
            if ts is None:
                self.bad += 1
                continue
            self.keys.add((r.get("device_id", parsed.sender_id), ts))
            self.readings += len(r["readings"])
            if ts < now_ms - LATE_MS:
                self.late_records += 1
            oldest = min(oldest, ts)
        self.messages += 1
        self.records += len(recs)
        self.log.append((now, parsed.sender_id, len(recs), oldest))


def _counter_main(conn: Connection, port: int) -> None:
    tally = Tally()
    lock = threading.Lock()

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with lock:
            tally.add(msg.topic, bytes(msg.payload), time.time())

    with telemetry_subscriber(port, "bench-city-counter", on_message,
                              credentials=(COUNTER_USER, COUNTER_PASSWORD)):
        conn.send("ready")
        while True:
            command = conn.recv()
            if command == "exit":
                return
            with lock:
                if command == "count":
                    conn.send((tally.messages, tally.records))
                elif command == "result":
                    conn.send({"messages": tally.messages, "records": tally.records,
                               "readings": tally.readings, "distinct": len(tally.keys),
                               "late_records": tally.late_records, "bad": tally.bad,
                               "log": tally.log})
                    tally = Tally()


class Counter:
    """The subscriber process, forked before any thread exists."""

    def __init__(self, port: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_counter_main, args=(child, port), daemon=True,
                                name="bench-city-counter")
        self.proc.start()
        if not self._conn.poll(15) or self._conn.recv() != "ready":
            raise RuntimeError("counter did not subscribe")

    def wait_for(self, messages: int, timeout_s: float) -> tuple[int, int]:
        """Poll until ``messages`` arrived (or the timeout); (messages, records) seen."""
        deadline = time.monotonic() + timeout_s
        seen = (0, 0)
        while time.monotonic() < deadline:
            self._conn.send("count")
            seen = self._conn.recv()
            if seen[0] >= messages:
                time.sleep(0.5)  # a duplicate would arrive right after
                break
            time.sleep(0.2)
        return seen

    def result(self) -> dict[str, Any]:
        """Totals since the previous result (and reset)."""
        self._conn.send("result")
        out: dict[str, Any] = self._conn.recv()
        return out

    def close(self) -> None:
        self._conn.send("exit")
        self.proc.join(10)


# --- one simulator run -------------------------------------------------------------------------


def run_simulator(args: list[str], env: dict[str, str], workdir: Path, name: str,
                  ) -> tuple[dict[str, Any], list[tuple[float, float, int]]]:
    """Run ``farmtel simulate`` with ``args``; its stats and (wall, CPU s, RSS KiB) samples."""
    stats_file = workdir / f"{name}.json"
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "farmtel.cli", "simulate", *args,
                                 "--stats-file", str(stats_file)], env=env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
        samples: list[tuple[float, float, int]] = []
        while proc.poll() is None:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError):
                samples.append((time.time(), cpu_seconds(proc.pid), rss_kib(proc.pid)))
            time.sleep(SAMPLE_S)
    if proc.returncode != 0 or not stats_file.exists():
        raise RuntimeError(f"simulator failed ({proc.returncode}):\n"
                           + "\n".join(log_path.read_text().splitlines()[-30:]))
    stats: dict[str, Any] = json.loads(stats_file.read_text())
    stats["hwm_kib"] = max((s[2] for s in samples), default=0)
    return stats, samples


def cpu_percent(samples: list[tuple[float, float, int]], t0: float, t1: float) -> float:
    """Average CPU % (of one core) of the sampled process over [t0, t1]."""
    inside = [s for s in samples if t0 <= s[0] <= t1]
    if len(inside) < 2:
        return float("nan")
    return 100.0 * (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def rss_mib(samples: list[tuple[float, float, int]], t0: float, t1: float) -> float:
    """Peak RSS [MiB] of the samples within [t0, t1]."""
    return max((s[2] for s in samples if t0 <= s[0] <= t1), default=0) / 1024


def delivery(stats: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
    """Published (by the simulator) against received (by the counter)."""
    c = stats["counters"]
    published = c["records_out"]
    return {"messages_published": stats["published"], "messages_received": got["messages"],
            "records_published": published, "records_received": got["records"],
            "records_distinct": got["distinct"],
            "readings_published": c["readings"] + c["backlog_readings"],
            "readings_received": got["readings"], "bad_received": got["bad"],
            "late_records_received": got["late_records"],
            "every_record_once": got["records"] == published == got["distinct"]
            and got["bad"] == 0}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=200_000)
    p.add_argument("--live-seconds", type=float, default=120.0)
    p.add_argument("--outage-fraction", type=float, default=0.2)
    p.add_argument("--outage-minutes", type=float, default=120.0)
    p.add_argument("--outage-back-after", type=float, default=60.0,
                   help="seconds into the live run when the cut-off gateways come back")
    p.add_argument("--connections", type=int, default=2)
    p.add_argument("--headroom-speed", type=float, default=25.0)
    p.add_argument("--headroom-seconds", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args()

    results_dir = RESULTS_DIR
    results_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="farmtel-bench-city-"))
    accounts = [ServiceAccount(SIM_USER, SIM_PASSWORD, "simulator"),
                ServiceAccount(COUNTER_USER, COUNTER_PASSWORD, "ingest")]
    users = [service_user(a) for a in accounts]
    pw_file, acl_file = workdir / "passwd", workdir / "acl"
    pw_file.write_text(render_password_file(users))
    acl_file.write_text(render_acl_file(users))
    os.chmod(pw_file, 0o600)
    mosquitto = MosquittoServer(extra_config="autosave_interval 1800\n", password_file=pw_file,
                                acl_file=acl_file)
    counter: Counter | None = None
    report: dict[str, Any] = {"args": vars(args), "host_cpus": os.cpu_count(),
                              "loadavg_before": os.getloadavg()}
    try:
        mosquitto.start()
        counter = Counter(mosquitto.port)  # forked: no thread exists yet in this process
        env = farmtel_env(data_dir=workdir / "data", mqtt_host="127.0.0.1",
                          mqtt_port=str(mosquitto.port), sim_mqtt_username=SIM_USER,
                          sim_mqtt_password=SIM_PASSWORD)
        common = ["--city", str(args.devices), "--seed", str(args.seed),
                  "--connections", str(args.connections)]
        # the outage began before the run and ends --outage-back-after s into it
        start_s = args.outage_back_after - 60.0 * args.outage_minutes
        print(f"real time: {args.devices:,} devices for {args.live_seconds:g} s, "
              f"{args.outage_fraction:.0%} of the gateways back from a "
              f"{args.outage_minutes:g} min outage after {args.outage_back_after:g} s ...",
              flush=True)
        stats, samples = run_simulator(
            [*common, "--duration", str(args.live_seconds),
             "--outage-gateways", str(args.outage_fraction),
             "--outage-minutes", str(args.outage_minutes), "--outage-start", str(start_s)],
            env, workdir, "realtime")
        counter.wait_for(stats["published"], timeout_s=120)
        got = counter.result()
        report["realtime"] = analyse(stats, samples, got)
        if args.headroom_seconds > 0:
            print(f"headroom: speed {args.headroom_speed:g} for {args.headroom_seconds:g} s ...",
                  flush=True)
            h_stats, h_samples = run_simulator(
                [*common, "--duration", str(args.headroom_seconds),
                 "--speed", str(args.headroom_speed)], env, workdir, "headroom")
            counter.wait_for(h_stats["published"], timeout_s=120)
            report["headroom"] = analyse(h_stats, h_samples, counter.result())
    finally:
        if counter is not None:
            counter.close()
        mosquitto.cleanup()
    report["loadavg_after"] = os.getloadavg()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = results_dir / f"city-{stamp}.json"
    out.write_text(json.dumps(report, indent=1))
    print_table(report)
    print(f"\nresults: {out.relative_to(ROOT)}")
    ok = all(report[k]["delivery"]["every_record_once"] for k in ("realtime", "headroom")
             if k in report)
    return 0 if ok else 1


def analyse(stats: dict[str, Any], samples: list[tuple[float, float, int]],
            got: dict[str, Any]) -> dict[str, Any]:
    """The figures of one run."""
    t = stats["timings"]
    live0, live1 = t["live_start_wall"], t["live_end_wall"]
    b = stats["burst"]
    out: dict[str, Any] = {
        "counts": stats["counts"], "speed": stats["speed"],
        "registration": stats["registration"], "layout_s": t["layout_s"], "init_s": t["init_s"],
        "warmup_s": t["warmup_s"], "offered_per_sim_s": stats["offered_per_sim_s"],
        "achieved_live": stats["achieved_live"], "counters": stats["counters"],
        "cpu_pct_live": cpu_percent(samples, live0, live1),
        "cpu_pct_registration": cpu_percent(samples, t["process_start_wall"], live0),
        "rss_mib_live_peak": rss_mib(samples, live0, live1),
        "rss_mib_peak": stats["hwm_kib"] / 1024,
        "delivery": delivery(stats, got),
    }
    if stats["outage"] is not None and b["first_publish_wall"] is not None:
        back_ms = stats["outage"]["end_ms"]
        outage_ids = set(stats["outage"]["gateway_ids"])
        backlog_msgs = [m for m in got["log"] if m[1] in outage_ids and m[3] <= back_ms]
        b0, b1 = b["first_publish_wall"], b["last_publish_wall"]
        received_last = max((m[0] for m in backlog_msgs), default=float("nan"))
        steady = [(live0 + 5.0, b["outage_end_wall"] - 1.0),
                  ((b["acked_wall"] or b1) + 1.0, live1)]
        steady_cpu = [cpu_percent(samples, x, y) for x, y in steady if y - x > 5]
        out["burst"] = {
            "gateways": stats["outage"]["gateways"], "minutes": stats["outage"]["minutes"],
            "messages": stats["counters"]["backlog_messages"],
            "records": stats["counters"]["backlog_records"],
            "mb": stats["counters"]["backlog_bytes"] / 1e6,
            "publish_s": b1 - b0, "acked_s": (b["acked_wall"] or float("nan")) - b0,
            "received_s": received_last - b0,
            "records_s_published": stats["counters"]["backlog_records"] / max(1e-9, b1 - b0),
            "received_backlog_messages": len(backlog_msgs),
            "received_backlog_records": sum(m[2] for m in backlog_msgs),
            "cpu_pct_burst": cpu_percent(samples, b0 - SAMPLE_S, max(b1, b0 + 1.0) + SAMPLE_S),
        }
        out["cpu_pct_steady"] = (sum(steady_cpu) / len(steady_cpu)) if steady_cpu \
            else float("nan")
    else:
        out["cpu_pct_steady"] = cpu_percent(samples, live0 + 5.0, live1)
    return out


def print_table(report: dict[str, Any]) -> None:
    """The results as a Markdown table."""
    r = report["realtime"]
    o, a = r["offered_per_sim_s"], r["achieved_live"]
    d = r["delivery"]
    reg = r["registration"]
    rows = [
        ("devices (sensors + gateways)",
         f"{sum(v for k, v in r['counts'].items() if k != 'gateway'):,} + "
         f"{r['counts']['gateway']:,}"),
        ("registration (bulk insert)", f"{reg['devices_added']:,} devices, {reg['sites_added']:,} "
         f"sites in {reg['seconds']:.1f} s"),
        ("start-up: layout / models / warm-up", f"{r['layout_s']:.1f} / {r['init_s']:.1f} / "
         f"{r['warmup_s']:.1f} s"),
        ("target msg/s | records/s | readings/s",
         f"{o['messages_s']:.1f} | {o['records_s']:.1f} | {o['readings_s']:.1f}"),
        ("generated (records/s, readings/s per simulated s)",
         f"{a['records_generated_per_sim_s']:.1f} | {a['readings_generated_per_sim_s']:.1f} "
         f"over {a['sim_s']:.0f} s"),
        ("published live, backlog apart (per wall s)",
         f"{a['messages_s']:.1f} | {a['records_s']:.1f} | {a['readings_s']:.1f} "
         f"over {a['wall_s']:.0f} s"),
        ("simulator CPU: steady / whole live run", f"{r['cpu_pct_steady']:.1f} % / "
         f"{r['cpu_pct_live']:.1f} % of one core"),
        ("simulator RSS: live peak / process peak",
         f"{r['rss_mib_live_peak']:.0f} / {r['rss_mib_peak']:.0f} MiB"),
    ]
    if "burst" in r:
        bu = r["burst"]
        rows += [
            ("burst: backlog", f"{bu['gateways']} gateways x {bu['minutes']:g} min: "
             f"{bu['records']:,} records in {bu['messages']:,} messages, {bu['mb']:.1f} MB"),
            ("burst: published / acked / received in",
             f"{bu['publish_s']:.2f} / {bu['acked_s']:.2f} / {bu['received_s']:.2f} s "
             f"({bu['records_s_published']:,.0f} records/s published)"),
            ("burst: simulator CPU while flushing", f"{bu['cpu_pct_burst']:.0f} %"),
            ("burst: received backlog", f"{bu['received_backlog_records']:,} records, "
             f"{d['late_records_received']:,} older than 1 h at receipt"),
        ]
    rows += [
        ("records published / received / distinct",
         f"{d['records_published']:,} / {d['records_received']:,} / {d['records_distinct']:,}"),
        ("messages published / received", f"{d['messages_published']:,} / "
         f"{d['messages_received']:,}"),
        ("every record received exactly once", "yes" if d["every_record_once"] else "NO"),
    ]
    if "headroom" in report:
        h = report["headroom"]
        ha = h["achieved_live"]
        hd = h["delivery"]
        rows += [
            (f"headroom x{h['speed']:g}: published per wall s (per simulated s)",
             f"{ha['messages_s']:.1f} | {ha['records_s']:.1f} | {ha['readings_s']:.1f} "
             f"({ha['messages_per_sim_s']:.1f} | {ha['records_per_sim_s']:.1f} | "
             f"{ha['readings_per_sim_s']:.1f})"),
            (f"headroom x{h['speed']:g}: simulator CPU, RSS",
             f"{h['cpu_pct_steady']:.1f} % of one core, {h['rss_mib_peak']:.0f} MiB"),
            (f"headroom x{h['speed']:g}: every record once",
             f"{'yes' if hd['every_record_once'] else 'NO'} ({hd['records_received']:,} "
             "records)"),
        ]
    print(f"\nload average before / after: {report['loadavg_before'][0]:.2f} / "
          f"{report['loadavg_after'][0]:.2f} on {report['host_cpus']} CPUs\n")
    print("| figure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    sys.exit(main())
