"""Dead-letter flood: a legitimate device's publish -> stored latency while another device
floods ingest with refused records, beside the same device's latency without the flood.

Through Mosquitto and a real ``farmtel ingest`` process into the SQLite (default) or InfluxDB
store. A probe device publishes one reading every ``--interval-s`` and polls the store until
it can be read back (one at a time, so each sample is one publish -> queryable latency). First
``--probes`` samples without a flood (reference), then the same number while a flooder
publishes rounds of ``--messages`` (30) messages of ``--records`` (3,300) records each, every
reading out of range (~240 KiB a message, under the 256 KiB limit), a round published at once
every ``--round-s`` (10 s: the issue's flood of thirty such messages, repeated; decoding a
round takes ingest ~0.3-1 s of CPU, so a much faster flood is a throughput limit, not a
dead-letter cost). Before one dead letter per message (issue 14 item 6) every refused reading was
its own dead-letter row written before the batch was acknowledged (p50 4-9 s in the report).

Reports p50/p99/max of both phases and their ratio, and checks the cost bound: dead-letter
rows written = flood messages, refused readings counted exactly.

    python -m bench.deadletter_flood                 # ~1-2 min on 2 cores
    python -m bench.deadletter_flood --store influxdb --rounds 10
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select

from bench._common import MachineLoad, latency_stats
from devices.contract import record, telemetry_topic
from devices.mqtt_publisher import ReliablePublisher
from farmtel.runtime import Metadata
from farmtel.settings import Settings
from ingest.deadletters import DeadLetter
from storage.clock import now_ms
from storage.factory import open_store
from storage.telemetry import RangeQuery, TelemetryStore
from tests.helpers import small_registry
from tests.servers import InfluxServer, IngestProcess, MosquittoServer, ingest_env

FARM = "farm-a"
PROBE, FLOODER = "sm-probe", "sm-flood"
POLL_S = 0.005


def flood_payload(ts_ms: int, records: int) -> bytes:
    """One message of ``records`` records, every reading out of range (refused)."""
    return orjson.dumps({"records": [record(ts_ms + i, i, {"vwc_pct": 500.0})
                                     for i in range(records)]})


def probe_latencies(pub: ReliablePublisher, store: TelemetryStore, count: int,
                    interval_s: float, first_seq: int) -> list[float]:
    """Publish ``count`` readings of the probe, each after the last was stored [ms each]."""
    out: list[float] = []
    for n in range(count):
        started = time.monotonic()
        ts = now_ms()
        pub.publish(telemetry_topic(FARM, PROBE),
                    orjson.dumps(record(ts, first_seq + n, {"vwc_pct": 25.0})))
        query = RangeQuery(quantity="vwc_pct", start_ms=ts, end_ms=ts + 1, device_id=PROBE)
        while not store.query(query):
            if time.monotonic() - started > 120:
                raise RuntimeError(f"probe reading {ts} not stored after 120 s")
            time.sleep(POLL_S)
        out.append((time.monotonic() - started) * 1000)
        time.sleep(max(0.0, interval_s - (time.monotonic() - started)))
    return out


class Flooder(threading.Thread):
    """Rounds of ``messages`` refused-record messages, one round every ``round_s``."""

    def __init__(self, port: int, messages: int, records: int, round_s: float) -> None:
        super().__init__(name="flooder", daemon=True)
        self.pub = ReliablePublisher("127.0.0.1", port, client_id="bench-flooder")
        self.messages, self.records, self.round_s = messages, records, round_s
        self.payload = flood_payload(now_ms() - 60_000, records)
        self.published = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        self.pub.connect()
        while not self.stop_event.is_set():
            started = time.monotonic()
            for _ in range(self.messages):
                self.pub.publish(telemetry_topic(FARM, FLOODER), self.payload)
                self.published += 1
            self.stop_event.wait(max(0.0, self.round_s - (time.monotonic() - started)))

    def close(self) -> None:
        self.stop_event.set()
        self.join(60)
        self.pub.close(flush_timeout=60)


@dataclass
class Rig:
    """Mosquitto, the store, a registry with the probe and the flooder, a ``farmtel ingest``."""

    mqtt_port: int
    store_url: str
    meta: Metadata


def start_rig(stack: contextlib.ExitStack, store_kind: str) -> Rig:
    """Start every server of the run; ``stack`` stops them in reverse order."""
    tmp = Path(tempfile.mkdtemp(prefix="farmtel-dlflood-"))
    mosq = MosquittoServer()
    mosq.start()
    stack.callback(mosq.stop)
    store_url = f"sqlite:///{tmp / 'data' / 'telemetry.db'}"
    if store_kind == "influxdb":
        influx = InfluxServer()
        influx.start()
        stack.callback(influx.stop)
        store_url = f"influxdb://127.0.0.1:{influx.port}/dlflood"
    data = {"data_dir": tmp / "data", "admin_token": "ft_dlflood", "store_url": store_url}
    meta = small_registry(Settings(_env_file=None, **data),  # type: ignore[call-arg, arg-type]
                          {PROBE: "soil_moisture", FLOODER: "soil_moisture"})
    ingest = IngestProcess(ingest_env(data_dir=tmp / "data", store_url=store_url,
                                      mqtt_port=mosq.port, client_id="dlflood-ingest",
                                      admin_token="ft_dlflood"), tmp, tmp / "ingest.log")
    ingest.start(timeout_s=60)
    stack.callback(ingest.stop)
    return Rig(mosq.port, store_url, meta)


def dead_letters_of_flooder(meta: Metadata, messages: int) -> tuple[int, int]:
    """(rows, refused readings) of the flooder's dead letters, once ``messages`` rows are in
    (or after 120 s)."""
    deadline = time.monotonic() + 120
    query = select(func.count(), func.coalesce(func.sum(DeadLetter.refused), 0)).where(
        DeadLetter.device_id == FLOODER)
    while True:
        with meta.sessions() as s:
            rows, total = s.execute(query).one()
        if rows >= messages or time.monotonic() > deadline:
            return int(rows), int(total)
        time.sleep(0.2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", choices=("sqlite", "influxdb"), default="sqlite")
    ap.add_argument("--probes", type=int, default=100, help="samples per phase")
    ap.add_argument("--interval-s", type=float, default=0.2, help="between probe publishes")
    ap.add_argument("--messages", type=int, default=30, help="flood messages per round")
    ap.add_argument("--records", type=int, default=3_300, help="refused records per message")
    ap.add_argument("--round-s", type=float, default=10.0, help="one flood round every [s]")
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args()
    load = MachineLoad()
    with contextlib.ExitStack() as stack:
        rig = start_rig(stack, args.store)
        store = open_store(rig.store_url)
        stack.callback(store.close)
        pub = ReliablePublisher("127.0.0.1", rig.mqtt_port, client_id="bench-probe")
        pub.connect()
        stack.callback(pub.close, flush_timeout=30)
        probe_latencies(pub, store, 5, args.interval_s, 0)  # warm-up, not counted
        quiet = probe_latencies(pub, store, args.probes, args.interval_s, 1_000)
        flooder = Flooder(rig.mqtt_port, args.messages, args.records, args.round_s)
        print(f"flood: {args.messages} messages x {args.records} refused records "
              f"({len(flooder.payload) / 1024:.0f} KiB each) every {args.round_s:g} s",
              flush=True)
        flooder.start()
        try:
            flooded = probe_latencies(pub, store, args.probes, args.interval_s, 100_000)
        finally:
            flooder.close()
        rows, refused_readings = dead_letters_of_flooder(rig.meta, flooder.published)
    result = report(args, quiet, flooded, flooder.published, rows, refused_readings, load)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    ok = rows == flooder.published and refused_readings == flooder.published * args.records
    return 0 if ok else 1


def report(args: argparse.Namespace, quiet: list[float], flooded: list[float],
           flood_messages: int, rows: int, refused_readings: int,
           load: MachineLoad) -> dict[str, Any]:
    """Print the result (JSON, then one line) and return it."""
    result: dict[str, Any] = {
        "store": args.store,
        "flood": {"messages": flood_messages, "records_per_message": args.records,
                  "message_kib": round(len(flood_payload(0, args.records)) / 1024),
                  "round_s": args.round_s, "dead_letter_rows": rows,
                  "refused_readings_counted": refused_readings},
        "without_flood": {k: round(v, 1) for k, v in latency_stats(quiet).items()},
        "during_flood": {k: round(v, 1) for k, v in latency_stats(flooded).items()},
    }
    q, f = result["without_flood"], result["during_flood"]
    result["ratio"] = {"p50": round(f["p50_ms"] / q["p50_ms"], 2),
                       "p99": round(f["p99_ms"] / q["p99_ms"], 2)}
    result.update(load.report())
    print(json.dumps(result, indent=2))
    print(f"probe publish -> stored, {args.probes} samples a phase ({args.store}): without "
          f"flood p50 {q['p50_ms']:.0f} ms, p99 {q['p99_ms']:.0f} ms; during flood p50 "
          f"{f['p50_ms']:.0f} ms, p99 {f['p99_ms']:.0f} ms, max {f['max_ms']:.0f} ms "
          f"(x{result['ratio']['p99']} at p99); {rows} dead-letter rows for "
          f"{flood_messages} flood messages, {refused_readings} refused readings "
          f"counted; {load.footer()}")
    return result


if __name__ == "__main__":
    sys.exit(main())
