"""No input makes the API answer 500: schemathesis, generated from the API's own OpenAPI, on
both telemetry stores (SQLite; a real InfluxDB) and both metadata databases (SQLite; a real
PostgreSQL), with the store up and with it down (InfluxDB stopped: every answer is a 2xx/4xx
or a 503 with ``Retry-After``, never a 500). Plus the cases the red team reported, by name:
time ranges outside InfluxDB's (years 1600 and 2300), store-down reads, and NUL characters in
any text, on the API and the pages.

Runs as admin (the widest surface) over a small registry with some telemetry, so generated
ids sometimes hit real rows. Bounded: ``EXAMPLES`` generated cases per operation, derandomized
(the same cases every run), no shrinking.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings

from farmtel.runtime import Metadata, build_api
from storage.clock import now_ms
from storage.factory import open_store
from storage.telemetry import Reading, TelemetryStore
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry
from tests.servers import InfluxServer

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
EXAMPLES = 8
"""Generated cases per operation and run (6 runs: stores × metadata × up/down)."""

pytestmark = pytest.mark.timeout(900)


@dataclass
class Api:
    client: TestClient
    meta: Metadata
    store: TelemetryStore
    schema: object


def _api(tmp_path: Path, store_url: str, metadata_url: str) -> Api:
    cfg = settings_for(tmp_path, store_url=store_url, database_url=metadata_url)
    meta = small_registry(cfg, {"sm-1": "soil_moisture", "gw-1": "gateway",
                                "col-1": "livestock_collar"})
    store = open_store(store_url)
    t = now_ms() - 3_600_000
    store.write([Reading("sm-1", "vwc_pct", 20.0 + i, t + i * 60_000, i, 0, "soil_moisture",
                         "field-1", "farm-a", "shuocheng") for i in range(30)])
    app = build_api(meta, store)
    client = TestClient(app, raise_server_exceptions=False)
    return Api(client, meta, store, schemathesis.openapi.from_asgi("/openapi.json", app))


@pytest.fixture
def api(tmp_path: Path, store_url: str, metadata_url: str) -> Iterator[Api]:
    """The API on each store (sqlite|influxdb) and metadata database (sqlite|postgresql)."""
    built = _api(tmp_path, store_url, metadata_url)
    yield built
    built.store.close()


@pytest.fixture
def api_store_down(tmp_path: Path, metadata_url: str) -> Iterator[Api]:
    """The API on an InfluxDB of its own, stopped once the API is built."""
    with InfluxServer() as influx:
        built = _api(tmp_path, f"influxdb://127.0.0.1:{influx.port}/farmtel", metadata_url)
        influx.stop()
        yield built
        built.store.close()


def _fuzz(schema: object, *, store_down: bool) -> list[str]:
    """Every operation's failures: any 5xx but a 503 while the store is down; any 5xx at all
    while it is up."""
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():  # type: ignore[attr-defined]
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=ADMIN)
            code = response.status_code
            allowed = store_down and code == 503  # /health too: a readiness probe
            assert code < 500 or allowed, (
                f"{code} for {case.method} {case.formatted_path} query={case.query} "
                f"body={case.body!r}: {response.text[:300]}")

        try:
            check()
        except Exception as exc:  # a 5xx or a server exception: every operation, then all
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert operations >= 30
    return failures


def test_no_generated_input_makes_the_api_answer_5xx(api: Api) -> None:
    failures = _fuzz(api.schema, store_down=False)
    assert not failures, "\n\n".join(failures)


def test_with_the_store_down_no_generated_input_makes_the_api_answer_500(
        api_store_down: Api) -> None:
    failures = _fuzz(api_store_down.schema, store_down=True)
    assert not failures, "\n\n".join(failures)


# --- the reported cases, by name ---------------------------------------------------------------

OUT_OF_RANGE = [
    {"start": "1600-01-01T00:00:00Z"},
    {"start": "1600-01-01T00:00:00Z", "every": "1d", "agg": "max"},
    {"start": "2300-01-01T00:00:00Z"},
    {"start": "2000-01-01T00:00:00Z", "end": "2300-01-01T00:00:00Z"},
    {"start": "1600-01-01T00:00:00Z", "end": "2300-01-01T00:00:00Z", "every": "1h"},
    {"start": "0001-01-01T00:00:00Z", "end": "9999-12-31T23:59:59Z"},
]


@pytest.mark.parametrize("params", OUT_OF_RANGE)
def test_times_outside_the_stores_range_are_answered_not_failed(api: Api,
                                                                params: dict[str, str]) -> None:
    r = api.client.get("/api/v1/telemetry", headers=ADMIN,
                       params={"device_id": "sm-1", "quantity": "vwc_pct", **params})
    assert r.status_code in (200, 422), (r.status_code, r.text)
    if r.status_code == 200:  # clamped to what the store holds: the last hour's 30 readings
        points = r.json()["points"]
        assert len(points) == 30 if "every" not in params else points, points[:3]


STORE_READS = ["/api/v1/telemetry?device_id=sm-1&quantity=vwc_pct",
               "/api/v1/telemetry/latest?farm_id=farm-a", "/api/v1/devices",
               "/api/v1/devices/sm-1", "/api/v1/devices/sm-1/latest"]


@pytest.mark.parametrize("path", STORE_READS)
def test_reads_of_a_stopped_store_are_503_with_retry_after(api_store_down: Api,
                                                            path: str) -> None:
    r = api_store_down.client.get(path, headers=ADMIN)
    assert r.status_code == 503 and r.headers["retry-after"], (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"


NUL_REQUESTS = [
    ("POST", "/api/v1/farms", {"json": {"id": "farm-n", "name": "农\x00场",
                                        "county_id": "huairen"}}),
    ("POST", "/api/v1/sites", {"json": {"id": "s-n", "farm_id": "farm-a", "kind": "field",
                                        "name": "地", "crop": "maize\x00"}}),
    ("POST", "/api/v1/tokens", {"json": {"name": "x\x00", "role": "bureau"}}),
    ("POST", "/api/v1/devices", {"json": {"device_id": "sm-9", "type": "soil_moisture",
                                          "site_id": "field-1",
                                          "attributes": {"note\x00": "a"}}}),
    ("PATCH", "/api/v1/farms/farm-a", {"json": {"name": "a\x00"}}),
    ("GET", "/api/v1/devices/sm%001", {}),  # a NUL in a path, percent-encoded
    ("GET", "/api/v1/devices", {"params": {"site_id": "field-1\x00"}}),
    ("GET", "/api/v1/telemetry/latest", {"params": {"farm_id": "farm\x00"}}),
    ("GET", "/api/v1/telemetry", {"params": {"device_id": "sm-1", "quantity": "vwc\x00"}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), NUL_REQUESTS)
def test_a_nul_character_in_any_text_is_a_422(api: Api, method: str, path: str,
                                              kwargs: dict[str, object]) -> None:
    r = api.client.request(method, path, headers=ADMIN, **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 422, (r.status_code, r.text)
    assert api.client.get("/api/v1/health").status_code in (200, 503)  # the database is fine


def test_a_nul_character_in_a_page_form_is_a_422(api: Api) -> None:
    client = api.client
    assert client.post("/web/login", data={"token": ADMIN_TOKEN},
                       follow_redirects=False).status_code == 303
    page = client.get("/web/sites/field-1/edit")
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, page.text[:300]
    for field in ("name", "crop", "attributes"):
        value = '{"a": "b\x00"}' if field == "attributes" else "玉米\x00地"
        form = {"csrf": found.group(1), "name": "玉米地", field: value}
        r = client.post("/web/sites/field-1/edit", data=form)
        assert r.status_code == 422 and "text/html" in r.headers["content-type"], (
            field, r.status_code)
    assert client.get("/web/devices", params={"site": "x\x00"}).status_code == 422
    assert client.post("/web/login", data={"token": "ft_\x00"}).status_code == 422
