"""Helpers shared by integration and e2e tests (and the benchmarks): a registry, a farmtel
runtime, publishing, waiting, the exact set of stored readings, the samples of a ``/metrics``
answer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from devices.directory import DeviceDirectory
from devices.provisioning import create_farm, create_site, provision_device
from devices.registry import Farm, Site
from farmtel.runtime import Metadata, build_ingest, open_metadata
from farmtel.settings import Settings
from ingest.worker import IngestWorker
from storage.clock import now_ms
from storage.factory import open_store
from storage.telemetry import TelemetryStore

ADMIN_TOKEN = "ft_test_admin_token"

Key = tuple[str, str, int]
"""One stored reading's identity: (device_id, quantity, ts_ms)."""


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings isolated in ``tmp_path`` (no .env, no environment leaks)."""
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "admin_token": ADMIN_TOKEN,
                              "flush_interval_ms": 100}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def small_registry(settings: Settings, device_ids: dict[str, str]) -> Metadata:
    """One farm in Shuocheng with a field and a barn; devices {id: type}; gateways first."""
    meta = open_metadata(settings)
    with meta.sessions() as s, s.begin():
        create_farm(s, Farm(id="farm-a", name="示范农场", county_id="shuocheng",
                            township="北旺庄"))
        create_site(s, Site(id="field-1", farm_id="farm-a", kind="field", name="玉米地",
                            area_mu=120, crop="maize"))
        create_site(s, Site(id="barn-1", farm_id="farm-a", kind="barn", name="牛舍",
                            head_count=300, species="dairy_cow"))
        for did, dtype in sorted(device_ids.items(), key=lambda kv: kv[1] != "gateway"):
            site = "barn-1" if dtype in ("livestock_collar", "barn_climate", "gateway") \
                else "field-1"
            gateway = "gw-1" if dtype in ("livestock_collar",) and "gw-1" in device_ids else None
            provision_device(s, device_id=did, device_type=dtype, site_id=site,
                             gateway_id=gateway)
    return meta


def start_ingest(settings: Settings, meta: Metadata, *,
                 clock_ms: Callable[[], int] = now_ms) -> tuple[TelemetryStore, IngestWorker]:
    """The store of ``settings`` and an in-process ingest worker on it (production wiring,
    a device directory loaded from ``meta``; ``clock_ms`` its server clock), started; the
    caller closes both."""
    store = open_store(settings.resolved_store_url)
    directory = DeviceDirectory(meta.sessions)
    directory.reload()
    worker = build_ingest(settings, meta, store, directory, clock_ms=clock_ms)
    worker.start()
    return store, worker


def publisher(port: int, client_id: str) -> mqtt.Client:
    """A connected paho publisher (MQTT 3.1.1) with its network loop running."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def publish_all(client: mqtt.Client, messages: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 and wait for every PUBACK; fails loudly on any error code."""
    infos = []
    for topic, payload in messages:
        info = client.publish(topic, payload, qos=1)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
        infos.append(info)
    for info in infos:
        info.wait_for_publish(timeout=30)
        assert info.is_published()


def wait_for(predicate: Callable[[], bool], timeout_s: float = 30.0, what: str = "") -> None:
    """Poll until ``predicate()`` is true; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def stored_keys(store: TelemetryStore, quantities: Iterable[str], start_ms: int, end_ms: int,
                device_ids: Sequence[str] | None = None) -> list[Key]:
    """Every stored reading of ``quantities`` in ``[start_ms, end_ms)`` (of every device, or of
    ``device_ids``), read through the store protocol (``raw_series``); a sorted list, so a
    duplicate would appear twice."""
    return sorted((device, q, ts) for q in quantities
                  for device, ts, _ in store.raw_series(q, start_ms, end_ms, device_ids=device_ids))


MetricSamples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""Samples of a Prometheus exposition: (name, sorted label pairs) -> value."""


def metric_samples(text: str) -> MetricSamples:
    """Every sample of a ``/metrics`` answer (Prometheus text format)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}
