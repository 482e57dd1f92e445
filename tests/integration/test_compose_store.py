"""docker-compose's telemetry store is the one the suite proves: InfluxDB 1.x through
``influxdb://``, where farmtel keeps rollups and the raw retention, with HTTP authentication on
and the compose file's own admin account and store URL. An ``influxdb2://`` store refuses
``maintain()`` with its reason instead of silently keeping no rollups."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from storage.clock import DAY_MS, HOUR_MS, MINUTE_MS, now_ms
from storage.factory import open_store
from storage.influx._rollups import ROLLUP_POLICY
from storage.rollups import RollupsUnsupported
from storage.telemetry import Aggregation, RangeQuery, Reading
from tests.servers import InfluxServer

pytestmark = pytest.mark.integration

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
PASSWORD = "s3cret-Pass_word"  # URL-safe, as the compose header asks


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _influx_env() -> dict[str, str]:
    service = _compose()["services"]["influxdb"]
    env = {k: str(v) for k, v in service["environment"].items()}
    return {k: re.sub(r"\$\{FARMTEL_INFLUX_PASSWORD\}", PASSWORD, v) for k, v in env.items()}


def _store_url(port: int) -> str:
    """The farmtel services' FARMTEL_STORE_URL, pointed at the test's server."""
    url = str(_compose()["x-farmtel"]["environment"]["FARMTEL_STORE_URL"])
    return url.replace("${FARMTEL_INFLUX_PASSWORD}", PASSWORD).replace(
        "@influxdb:8086/", f"@127.0.0.1:{port}/")


@pytest.fixture
def compose_influx() -> Iterator[InfluxServer]:
    """An auth-enabled InfluxDB 1.x set up as the influxdb:1.8 image's first start does from
    the compose environment: the admin user, then the database."""
    env = _influx_env()
    assert env["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    with InfluxServer(auth=True) as server:
        user, password = env["INFLUXDB_ADMIN_USER"], env["INFLUXDB_ADMIN_PASSWORD"]
        server.query(f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES")
        httpx.post(f"{server.url}/query", data={"q": f'CREATE DATABASE "{env["INFLUXDB_DB"]}"'},
                   auth=(user, password), timeout=10).raise_for_status()
        yield server


def test_compose_runs_influxdb_1x_through_influxdb_urls() -> None:
    image = _compose()["services"]["influxdb"]["image"]
    assert re.fullmatch(r"influxdb:1\.\d+", image), image
    assert _store_url(8086).startswith("influxdb://")


def test_compose_store_url_keeps_rollups_on_an_auth_enabled_influxdb(
        compose_influx: InfluxServer) -> None:
    now = now_ms()
    start = now - now % DAY_MS - DAY_MS  # yesterday, UTC midnight
    values = [float(i % 7) for i in range(24 * 6)]  # every 10 minutes for a day
    readings = [Reading("sm-1", "vwc_pct", v, start + i * 10 * MINUTE_MS, seq=i + 1,
                        device_type="soil_moisture", site_id="field-1", farm_id="farm-1")
                for i, v in enumerate(values)]
    anonymous = httpx.post(f"{compose_influx.url}/query", data={"q": "SHOW DATABASES"}, timeout=10)
    assert anonymous.status_code == 401  # authentication is really on
    store = open_store(_store_url(compose_influx.port))
    try:
        store.write(readings)
        done = store.maintain(now)
        assert done.rolled_until_ms >= start + DAY_MS
        assert done.hours_rolled_up >= 24
        daily = store.query(RangeQuery("vwc_pct", start, start + DAY_MS, device_id="sm-1",
                                       every_s=DAY_MS // 1000, agg=Aggregation.MEAN))
        assert [(p.ts_ms, p.value) for p in daily] == [(start, sum(values) / len(values))]
        hourly = store.query(RangeQuery("vwc_pct", start, start + 2 * HOUR_MS, device_id="sm-1",
                                        every_s=HOUR_MS // 1000, agg=Aggregation.COUNT))
        assert [p.value for p in hourly] == [6.0, 6.0]
    finally:
        store.close()
    env = _influx_env()
    policies = httpx.post(f"{compose_influx.url}/query",
                          data={"q": f'SHOW RETENTION POLICIES ON "{env["INFLUXDB_DB"]}"'},
                          auth=(env["INFLUXDB_ADMIN_USER"], PASSWORD), timeout=10).json()
    names = [row[0] for row in policies["results"][0]["series"][0]["values"]]
    assert ROLLUP_POLICY in names  # the rollups live in their own retention policy


def test_influxdb2_store_refuses_maintain_with_its_reason() -> None:
    store = open_store("influxdb2://t0ken@127.0.0.1:8086/farmtel/telemetry")
    try:
        with pytest.raises(RollupsUnsupported, match=r"influxdb://.*retention"):
            store.maintain(1_800_000_000_000)
    finally:
        store.close()
