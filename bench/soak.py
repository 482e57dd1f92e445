"""Soak: twice the city-scale rate through real Mosquitto -> `farmtel ingest` -> InfluxDB,
with a store outage and a broker restart injected. Not part of CI.

    python -m bench.soak --minutes 30          # the soak
    python -m bench.soak --minutes 2           # smoke check

Reports readings lost (must be 0), duplicates stored (must be 0), peak spool size, ingest
RSS at start and end, and p50/p99 publish -> queryable latency (a probe device publishes
twice a second and polls the store until its reading is there). Exit status 1 if anything
was lost or duplicated.

City scale (Shuozhou, CONTEXT.md; 2025 targets), records/s = devices / interval:

    family              devices  interval  records/s  messages/s  readings/record
    dairy collars       180,000   900 s      200.0      via 900 barn gateways every 300 s
    barn climate          1,800   300 s        6.0      (both in gateway messages: 3.0 msg/s)
    greenhouse nodes     70,833   300 s      236.1      236.1       6  (8.5万亩 / 1.2 亩)
    soil probes          12,000   900 s       13.3       13.3       4  (200万亩 high-standard,
                                                                        a 3-depth station / 500 亩)
    flow meters           2,080   600 s        3.5        3.5       2  (104万亩 metered / 500 亩)
    weather stations      1,567   600 s        2.6        2.6       6  (one per village)
    total                                    461.5      258.5      ~2,100 readings/s

The soak runs at twice that: ~517 messages/s, ~923 records/s, ~4,200 readings/s, with a
scaled-down population reporting proportionally faster (same mix of messages and records).
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._common import percentile, rss_kib
from devices.catalogue import DEVICE_TYPES, QUANTITIES
from devices.contract import gateway_topic, record, telemetry_topic
from devices.mqtt_publisher import ReliablePublisher, encode_gateway_batch, encode_record
from devices.provisioning import create_farm, create_site, provision_device
from devices.registry import Farm, Site
from farmtel.runtime import open_metadata
from farmtel.settings import Settings
from ingest.stats_store import load_stats
from storage.clock import DAY_MS, now_ms
from storage.factory import open_store
from storage.telemetry import RangeQuery
from tests.helpers import stored_keys
from tests.servers import InfluxServer, IngestProcess, MosquittoServer, ingest_env

CITY = {  # family: (devices, interval_s) at city scale
    "livestock_collar": (180_000, 900), "barn_climate": (1_800, 300),
    "greenhouse_climate": (70_833, 300), "soil_moisture": (12_000, 900),
    "flow_meter": (2_080, 600), "weather_station": (1_567, 600),
}
GATEWAYS_CITY, GATEWAY_INTERVAL_S = 900, 300
VIRTUAL = {  # family: devices in the soak's scaled-down population
    "livestock_collar": 1_800, "barn_climate": 24, "greenhouse_climate": 600,
    "soil_moisture": 120, "flow_meter": 30, "weather_station": 20,
}
VIRTUAL_GATEWAYS = 12
FARM, SITE = "soak-farm", "soak-site"


def city_rates(factor: float) -> dict[str, float]:
    """Records/s per family and gateway messages/s at ``factor`` times city scale."""
    rates = {f: factor * n / s for f, (n, s) in CITY.items()}
    rates["gateway_messages"] = factor * GATEWAYS_CITY / GATEWAY_INTERVAL_S
    return rates


@dataclass(order=True)
class Due:
    at: float
    device: str = field(compare=False)


@dataclass
class Population:
    """The virtual devices, their report intervals [s] and everything they published."""

    factor: float
    interval_s: dict[str, float] = field(default_factory=dict)
    family: dict[str, str] = field(default_factory=dict)
    gateway_of: dict[str, str] = field(default_factory=dict)
    published: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    last_ts: dict[str, int] = field(default_factory=dict)
    messages: int = 0

    def build(self) -> None:
        rates = city_rates(self.factor)
        for fam, n in VIRTUAL.items():
            for i in range(n):
                dev = f"{fam[:4]}-{i:05d}"
                self.family[dev] = fam
                self.interval_s[dev] = n / rates[fam]
                if fam in ("livestock_collar", "barn_climate"):
                    self.gateway_of[dev] = f"gw-{i % VIRTUAL_GATEWAYS:02d}"
        for g in range(VIRTUAL_GATEWAYS):
            self.interval_s[f"gw-{g:02d}"] = VIRTUAL_GATEWAYS / rates["gateway_messages"]

    def register(self, sessions: Any) -> None:
        with sessions() as s, s.begin():
            create_farm(s, Farm(id=FARM, name="soak", county_id="shuocheng"))
            create_site(s, Site(id=SITE, farm_id=FARM, kind="field", name="soak", area_mu=100))
            s.flush()
            for g in range(VIRTUAL_GATEWAYS):
                provision_device(s, device_id=f"gw-{g:02d}", device_type="gateway", site_id=SITE)
            s.flush()
            for dev, fam in [*self.family.items(), ("lat-probe", "soil_moisture")]:
                provision_device(s, device_id=dev, device_type=fam, site_id=SITE,
                                 gateway_id=self.gateway_of.get(dev))

    def quantities(self, dev: str) -> tuple[str, ...]:
        """What ``dev`` publishes (the latency probe only its marker)."""
        return ("vwc_pct",) if dev == "lat-probe" else DEVICE_TYPES[self.family[dev]].quantities

    def readings(self, dev: str, rng: random.Random) -> dict[str, float]:
        out = {}
        for q in DEVICE_TYPES[self.family[dev]].quantities:
            lo, hi = QUANTITIES[q].minimum, QUANTITIES[q].maximum
            out[q] = round(lo + (hi - lo) * (0.3 + 0.4 * rng.random()), 3)
        return out

    def next_ts(self, dev: str) -> int:
        ts = max(now_ms(), self.last_ts.get(dev, 0) + 1)
        self.last_ts[dev] = ts
        return ts


class Publisher(threading.Thread):
    """Publishes the population's reports on schedule until ``stop``."""

    def __init__(self, pop: Population, pub: ReliablePublisher, seed: int) -> None:
        super().__init__(name="soak-publisher", daemon=True)
        self.pop, self.pub, self.rng = pop, pub, random.Random(seed)
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.error = exc

    def _run(self) -> None:
        pop, now = self.pop, time.monotonic()
        heap = [Due(now + self.rng.random() * iv, d) for d, iv in pop.interval_s.items()
                if d not in pop.gateway_of]
        heapq.heapify(heap)
        children: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for d, gw in pop.gateway_of.items():
            children[gw].append((now + self.rng.random() * pop.interval_s[d], d))
        while not self.stop_event.is_set():
            due = heap[0]
            wait = due.at - time.monotonic()
            if wait > 0:
                self.stop_event.wait(min(wait, 0.05))
                continue
            heapq.heappop(heap)
            dev = due.device
            if dev.startswith("gw-"):
                recs, kids = [], children[dev]
                for i, (at, child) in enumerate(kids):
                    while at <= due.at:  # every child report due since the last message
                        ts = pop.next_ts(child)
                        recs.append(record(ts, len(pop.published[child]),
                                           pop.readings(child, self.rng), device_id=child))
                        pop.published[child].append(ts)
                        at += pop.interval_s[child]
                    kids[i] = (at, child)
                if recs:
                    self.pub.publish(gateway_topic(FARM, dev), encode_gateway_batch(recs))
                    pop.messages += 1
            else:
                ts = pop.next_ts(dev)
                self.pub.publish(telemetry_topic(FARM, dev),
                                 encode_record(ts, len(pop.published[dev]),
                                               pop.readings(dev, self.rng)))
                pop.published[dev].append(ts)
                pop.messages += 1
            heapq.heappush(heap, Due(due.at + pop.interval_s[dev], dev))


class LatencyProbe(threading.Thread):
    """Twice a second: publish one reading, poll the store until it can be queried."""

    def __init__(self, port: int, store_url: str, pop: Population) -> None:
        super().__init__(name="soak-latency", daemon=True)
        self.pub = ReliablePublisher("127.0.0.1", port, client_id="soak-latency")
        self.store = open_store(store_url)
        self.pop = pop
        self.samples: list[tuple[float, float]] = []  # (published at [monotonic], latency [s])
        self.stop_event = threading.Event()

    def run(self) -> None:
        self.pub.connect()
        seq = 0
        while not self.stop_event.wait(0.5):
            ts = self.pop.next_ts("lat-probe")
            seq += 1
            sent = time.monotonic()
            self.pub.publish_record(FARM, "lat-probe", ts, seq, {"vwc_pct": 25.0})
            self.pop.published["lat-probe"].append(ts)
            q = RangeQuery(quantity="vwc_pct", start_ms=ts, end_ms=ts + 1, device_id="lat-probe")
            while not self.stop_event.is_set():
                try:
                    if self.store.query(q):
                        break
                except Exception:  # the store is down: keep polling
                    pass
                time.sleep(0.02)
            else:
                return
            self.samples.append((sent, time.monotonic() - sent))

    def close(self) -> None:
        self.stop_event.set()
        self.join(30)
        self.pub.close(flush_timeout=30)
        self.store.close()


def verify(store_url: str, pop: Population) -> tuple[int, int, int]:
    """(readings expected, lost, duplicates) comparing the exact stored set with the published
    one, read back through the store protocol."""
    want = Counter((dev, q, ts) for dev, ts_list in pop.published.items()
                   for q in pop.quantities(dev) for ts in ts_list)
    start = min(ts for _, _, ts in want)
    quantities = sorted({q for _, q, _ in want})
    devices = sorted(pop.published)
    got: Counter[tuple[str, str, int]] = Counter()
    store = open_store(store_url)
    try:
        for i in range(0, len(devices), 100):  # bounded answers from InfluxDB
            got.update(stored_keys(store, quantities, start, now_ms() + DAY_MS, devices[i:i + 100]))
    finally:
        store.close()
    lost = sum((want - got).values())
    dup = sum((got - want).values())
    return sum(want.values()), lost, dup


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--factor", type=float, default=2.0, help="times the city-scale rate")
    ap.add_argument("--outage-s", type=float, default=None,
                    help="store outage length (default: 10%% of the run, 10..60 s)")
    ap.add_argument("--store", choices=("influxdb", "sqlite"), default="influxdb")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ingest-setting", action="append", default=[], metavar="NAME=VALUE",
                    help="a further setting of the ingest process, e.g. dedupe_capacity=50000")
    args = ap.parse_args()
    run_s = args.minutes * 60
    outage_s = args.outage_s or min(60.0, max(10.0, 0.1 * run_s))
    rates = city_rates(args.factor)
    records_s = sum(v for k, v in rates.items() if k != "gateway_messages")
    messages_s = rates["gateway_messages"] + sum(
        v for k, v in rates.items() if k not in ("livestock_collar", "barn_climate",
                                                 "gateway_messages"))
    print(f"soak: {args.minutes:g} min at {args.factor:g}x city scale = {messages_s:.0f} msg/s, "
          f"{records_s:.0f} records/s; store outage {outage_s:.0f} s at 35%, broker restart "
          f"at 65%", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="farmtel-soak-"))
    influx = InfluxServer() if args.store == "influxdb" else None
    mosq = MosquittoServer()
    ingest: IngestProcess | None = None
    publisher: Publisher | None = None
    probe: LatencyProbe | None = None
    pub: ReliablePublisher | None = None
    try:
        mosq.start()
        store_url = f"sqlite:///{tmp / 'data' / 'telemetry.db'}"
        if influx is not None:
            influx.start()
            store_url = f"influxdb://127.0.0.1:{influx.port}/soak"
        settings = Settings(_env_file=None, data_dir=tmp / "data",  # type: ignore[call-arg]
                            admin_token="ft_soak", store_url=store_url)
        meta = open_metadata(settings)
        pop = Population(args.factor)
        pop.build()
        pop.register(meta.sessions)
        env = ingest_env(data_dir=tmp / "data", store_url=store_url, mqtt_port=mosq.port,
                         client_id="soak-ingest", admin_token="ft_soak", mqtt_protocol="5",
                         **dict(kv.split("=", 1) for kv in args.ingest_setting))
        ingest = IngestProcess(env, tmp, tmp / "ingest.log")
        ingest.start(timeout_s=30)
        rss_start = rss_kib(ingest.pid)

        pub = ReliablePublisher("127.0.0.1", mosq.port, client_id="soak-fleet",
                                max_inflight=5000, reconnect_max_s=2, publish_timeout=120)
        pub.connect()
        publisher = Publisher(pop, pub, args.seed)
        probe = LatencyProbe(mosq.port, store_url, pop)
        started = time.monotonic()
        publisher.start()
        probe.start()
        rss_timeline: list[float] = []
        sampling = threading.Event()
        ingest_pid = ingest.pid

        def sample_rss() -> None:  # every tenth of the run, to see growth vs a plateau
            while not sampling.wait(run_s / 10):
                rss_timeline.append(round(rss_kib(ingest_pid) / 1024, 1))

        threading.Thread(target=sample_rss, name="soak-rss", daemon=True).start()
        faults: list[tuple[str, float, float]] = []

        def at(fraction: float) -> None:
            time.sleep(max(0.0, started + fraction * run_s - time.monotonic()))

        if influx is not None:
            at(0.35)
            t = time.monotonic()
            influx.stop()
            time.sleep(outage_s)
            influx.start()
            faults.append(("store outage", t - started, time.monotonic() - started))
        at(0.65)
        t = time.monotonic()
        mosq.restart()
        faults.append(("broker restart", t - started, time.monotonic() - started))
        at(1.0)
        publisher.stop_event.set()
        sampling.set()
        publisher.join(30)
        if publisher.error is not None:
            raise publisher.error
        pub.flush(timeout=120)
        probe.close()
        published_s = time.monotonic() - started

        drain_deadline, quiet, last = time.monotonic() + 180, 0, -1
        target = pop.messages + len(probe.samples)
        while time.monotonic() < drain_deadline and quiet < 3:  # drained: 3 s without news
            time.sleep(1)
            rows = load_stats(meta.sessions)
            stats: dict[str, Any] = rows[0] if rows else {}
            received = stats.get("messages_received", 0)
            done = (received >= target and stats.get("spool_batches") == 0
                    and not stats.get("spool_full"))
            quiet = quiet + 1 if done and received == last else 0
            last = received
        rss_end, rss_peak = rss_kib(ingest.pid), rss_kib(ingest.pid, "VmHWM")
        stats = load_stats(meta.sessions)[0]
        expected, lost, dup = verify(store_url, pop)
        lat = [s for _, s in probe.samples]
        steady = [s for sent, s in probe.samples
                  if not any(a - 1 <= sent - started <= b + 10 for _, a, b in faults)]
        report = {
            "minutes": round(published_s / 60, 2),
            "rate_factor": args.factor,
            "messages_published": pop.messages + len(probe.samples),
            "messages_per_s": round((pop.messages + len(probe.samples)) / published_s, 1),
            "readings_expected": expected,
            "readings_lost": lost,
            "duplicates_stored": dup,
            "faults": [{"what": w, "from_s": round(a, 1), "to_s": round(b, 1)}
                       for w, a, b in faults],
            "spool_peak_bytes": stats.get("spool_peak_bytes"),
            "batches_spooled": stats.get("batches_spooled"),
            "duplicates_redelivered_dropped": stats.get("duplicate_records"),
            "rejected": stats.get("rejected"),
            "ingest_rss_mib": {"start": round(rss_start / 1024, 1), "end": round(rss_end / 1024, 1),
                               "peak": round(rss_peak / 1024, 1),
                               "every_tenth_of_the_run": rss_timeline},
            "latency_s": {"samples": len(lat), "p50": round(percentile(lat, 50), 3),
                          "p99": round(percentile(lat, 99), 3), "max": round(max(lat), 3),
                          "steady_p50": round(percentile(steady, 50), 3),
                          "steady_p99": round(percentile(steady, 99), 3),
                          "mean": round(statistics.fmean(lat), 3)},
        }
        print(json.dumps(report, indent=2, ensure_ascii=False), flush=True)
        return 0 if lost == 0 and dup == 0 else 1
    finally:
        if publisher is not None:
            publisher.stop_event.set()
        if probe is not None and probe.is_alive():
            probe.stop_event.set()
        if pub is not None:
            pub.close(flush_timeout=None)
        if ingest is not None:
            ingest.stop(timeout_s=30)
        mosq.cleanup()
        if influx is not None:
            influx.cleanup()


if __name__ == "__main__":
    sys.exit(main())
