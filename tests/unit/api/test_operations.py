"""The API's operations surface: ``GET /metrics`` (Prometheus text) and ``GET /api/v1/health``
(readiness per dependency: 200 when ready, 503 when the metadata database or the store is
down)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from api.app import create_app
from api.services import ApiServices, SpoolState
from farmtel.runtime import build_api
from storage.factory import open_store
from storage.metadata import make_engine
from tests.helpers import ADMIN_TOKEN, metric_samples, settings_for, small_registry
from tests.servers import free_port

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def env(tmp_path):
    settings = settings_for(tmp_path)
    meta = small_registry(settings, {"sm-1": "soil_moisture"})
    store = open_store(settings.resolved_store_url)
    yield meta, store
    store.close()


def test_metrics_count_requests_by_route_template_and_status(env):
    meta, store = env
    client = TestClient(build_api(meta, store))
    client.get("/api/v1/health")
    client.get("/api/v1/devices/ghost-1", headers=ADMIN)
    client.get("/api/v1/devices/ghost-2", headers=ADMIN)
    client.get("/api/v1/sites")  # no token
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got = metric_samples(r.text)

    def requests(route: str, status: str) -> float:
        key = (("method", "GET"), ("route", route), ("status", status))
        return got.get(("farmtel_http_requests_total", key), 0)

    assert requests("/api/v1/health", "200") == 1
    assert requests("/api/v1/devices/{device_id}", "404") == 2  # the template, not the ids
    assert requests("/api/v1/sites", "401") == 1
    count = ("farmtel_http_request_duration_seconds_count",
             (("method", "GET"), ("route", "/api/v1/devices/{device_id}")))
    assert got[count] == 2
    assert any(name == "process_cpu_seconds_total" for name, _ in got)  # the process collector
    assert "token" not in r.text.lower()  # nothing of the callers' credentials


def test_metrics_can_be_turned_off(env):
    meta, store = env
    client = TestClient(build_api(meta, store, metrics=False))
    assert client.get("/metrics").status_code == 404


def test_health_is_ready_with_every_dependency_up(env):
    meta, store = env
    r = TestClient(build_api(meta, store)).get("/api/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["broker_connected"] is None  # no worker here
    assert {c["name"]: c["status"] for c in body["checks"]} == {"metadata": "ok", "store": "ok"}


def test_health_is_503_naming_the_store_when_it_is_down(env):
    meta, store = env
    client = TestClient(build_api(meta, store))
    store.close()
    r = client.get("/api/v1/health")
    assert r.status_code == 503
    body = r.json()
    checks = {c["name"]: c for c in body["checks"]}
    assert body["status"] == "unavailable"
    assert checks["store"]["status"] == "down" and checks["store"]["required"]
    assert "StoreUnavailable" in checks["store"]["detail"]
    assert checks["metadata"]["status"] == "ok"


def test_health_is_503_naming_the_metadata_database_when_it_is_down(env):
    _, store = env  # a PostgreSQL server that is not there (nothing listens on the port)
    gone = make_engine(f"postgresql://farmtel:pw-secret@127.0.0.1:{free_port()}/farmtel")
    app = create_app(ApiServices(sessions=sessionmaker(gone), store=store, ingest_stats=dict))
    r = TestClient(app).get("/api/v1/health")
    assert r.status_code == 503
    checks = {c["name"]: c for c in r.json()["checks"]}
    assert checks["metadata"]["status"] == "down" and "OperationalError" in checks["metadata"]["detail"]
    assert checks["store"]["status"] == "ok"
    assert "pw-secret" not in r.text


def test_a_disconnected_broker_or_a_full_spool_is_degraded_not_unready(env):
    meta, store = env
    app = create_app(ApiServices(sessions=meta.sessions, store=store, ingest_stats=dict,
                                 broker_connected=lambda: False,
                                 spool=lambda: SpoolState(size_bytes=4096, full=True)))
    r = TestClient(app).get("/api/v1/health")
    assert r.status_code == 200
    body = r.json()
    checks = {c["name"]: c for c in body["checks"]}
    assert body["status"] == "degraded" and body["broker_connected"] is False
    assert checks["broker"]["status"] == "down" and not checks["broker"]["required"]
    assert checks["spool"]["status"] == "full" and "4096 bytes" in checks["spool"]["detail"]
