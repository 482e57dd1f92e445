"""Fleet management through the API: corrections, moves with a true history, retirement,
and the same scope rules as every other route (out of scope = 404)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.auth import Role, issue_token
from devices.provisioning import create_farm, create_site, provision_device
from devices.registry import Device, DevicePlacement, Farm, Site
from farmtel.runtime import Metadata, build_api
from storage.clock import HOUR_MS, now_ms, to_ms
from storage.factory import open_store
from storage.telemetry import Reading, TelemetryStore
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry

DAY = timedelta(days=1)


@dataclass
class Env:
    client: TestClient
    meta: Metadata
    store: TelemetryStore
    headers: dict[str, dict[str, str]]

    def call(self, method: str, url: str, who: str = "admin", **kw: Any) -> Any:
        return self.client.request(method, f"/api/v1{url}", headers=self.headers[who], **kw)


@pytest.fixture
def env(tmp_path: Path, metadata_url: str) -> Iterator[Env]:
    """farm-a (field-1, field-2, barn-1; sm-1 on field-1, gw-1 and col-1 on barn-1) and farm-y
    in Youyu (field-y), everything registered ten days ago; an agronomist scoped to farm-a,
    one to Youyu, and the bureau."""
    settings = settings_for(tmp_path, database_url=metadata_url)
    meta = small_registry(settings, {"sm-1": "soil_moisture", "gw-1": "gateway",
                                     "col-1": "livestock_collar"})
    with meta.sessions() as s, s.begin():
        create_site(s, Site(id="field-2", farm_id="farm-a", kind="field", name="麦地", area_mu=60))
        create_farm(s, Farm(id="farm-y", name="右玉合作社", county_id="youyu"))
        s.flush()
        create_site(s, Site(id="field-y", farm_id="farm-y", kind="field", name="燕麦地"))
        s.flush()
        provision_device(s, device_id="sm-y", device_type="soil_moisture", site_id="field-y")
        tokens = {"agro": issue_token(s, name="agro-a", role=Role.AGRONOMIST,
                                      scope={"farms": ["farm-a"]}),
                  "agro_youyu": issue_token(s, name="agro-y", role=Role.AGRONOMIST,
                                            scope={"counties": ["youyu"]}),
                  "bureau": issue_token(s, name="bureau", role=Role.BUREAU)}
    then = datetime.now(UTC) - 10 * DAY
    with meta.sessions() as s, s.begin():
        s.execute(update(Device).values(created_at=then))
        s.execute(update(DevicePlacement).values(valid_from=then))
    store = open_store(settings.resolved_store_url)
    headers = {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}
    headers["admin"] = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with TestClient(build_api(meta, store)) as client:
        yield Env(client, meta, store, headers)
    store.close()


def _hourly(device: str, site: str, start_ms: int, end_ms: int) -> list[Reading]:
    """Hourly soil readings tagged as ingest tags them: with the site the device stood on."""
    return [Reading(device, "vwc_pct", 20.0, t, i, 0, "soil_moisture", site, "farm-a",
                    "shuocheng")
            for i, t in enumerate(range(start_ms, end_ms, HOUR_MS))]


def test_a_moved_device_keeps_its_past_with_the_old_site(env: Env) -> None:
    now = now_ms()
    before = _hourly("sm-1", "field-1", now - 5 * 24 * HOUR_MS, now - 2 * 24 * HOUR_MS)
    env.store.write(before)
    # not dated before readings already stored for the old site
    early = datetime.fromtimestamp((now - 3 * 24 * HOUR_MS) / 1000, UTC).isoformat()
    r = env.call("POST", "/devices/sm-1/move", json={"site_id": "field-2", "at": early})
    assert r.status_code == 422 and "readings" in r.json()["detail"]
    at = datetime.fromtimestamp((now - 24 * HOUR_MS) / 1000, UTC)
    r = env.call("POST", "/devices/sm-1/move", "agro", json={"site_id": "field-2",
                                                            "at": at.isoformat()})
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["placement"]["site_id"] == "field-2" and not moved["topic_changed"]
    assert moved["device"]["site_id"] == "field-2"
    after = _hourly("sm-1", "field-2", to_ms(at) + HOUR_MS, now - HOUR_MS)
    env.store.write(after)
    placements = env.call("GET", "/devices/sm-1/placements", "agro").json()
    assert [(p["site_id"], p["valid_to"] is None) for p in placements] == [("field-1", False),
                                                                           ("field-2", True)]
    assert to_ms(datetime.fromisoformat(placements[0]["valid_to"])) == to_ms(at)
    # a site query over a period spanning the move: each site has the readings of its time
    span = {"quantity": "vwc_pct", "start": datetime.fromtimestamp((now - 6 * 24 * HOUR_MS) / 1000,
                                                                   UTC).isoformat()}
    old = env.call("GET", "/telemetry", params={**span, "site_id": "field-1"}).json()["points"]
    new = env.call("GET", "/telemetry", params={**span, "site_id": "field-2"}).json()["points"]
    whole = env.call("GET", "/telemetry", params={**span, "device_id": "sm-1"}).json()["points"]
    assert len(old) == len(before) and len(new) == len(after)
    assert len(whole) == len(before) + len(after)
    assert max(datetime.fromisoformat(p["ts"]) for p in old) < at <= min(
        datetime.fromisoformat(p["ts"]) for p in new)


def test_moves_follow_scope_and_say_when_the_topic_changes(env: Env) -> None:
    # the agronomist of farm-a cannot move into Youyu (404: the site does not exist for it)
    assert env.call("POST", "/devices/sm-1/move", "agro",
                    json={"site_id": "field-y"}).status_code == 404
    assert env.call("POST", "/devices/sm-y/move", "agro",
                    json={"site_id": "field-2"}).status_code == 404
    assert env.call("GET", "/devices/sm-1/placements", "agro_youyu").status_code == 404
    r = env.call("POST", "/devices/sm-1/move", json={"site_id": "field-y"})
    assert r.status_code == 200 and r.json()["topic_changed"]
    assert r.json()["telemetry_topic"] == "farmtel/farm-y/sm-1/telemetry"
    # gateways and the devices behind them stay on one farm
    assert env.call("POST", "/devices/col-1/move", json={"site_id": "field-y"}).status_code == 409
    assert env.call("POST", "/devices/sm-1/move", json={"site_id": "field-y"}).status_code == 409
    assert env.call("POST", "/devices/sm-1/move", json={"site_id": "nope"}).status_code == 404
    future = (datetime.now(UTC) + DAY).isoformat()
    assert env.call("POST", "/devices/sm-y/move",
                    json={"site_id": "field-2", "at": future}).status_code == 422


def test_corrections(env: Env) -> None:
    r = env.call("PATCH", "/farms/farm-a", json={"name": "示范农场（改）", "township": "南榆林"})
    assert r.status_code == 200 and r.json()["township"] == "南榆林"
    assert env.call("PATCH", "/farms/farm-a", json={"county_id": "youyu"}).status_code == 422
    assert env.call("PATCH", "/farms/nope", json={"name": "x"}).status_code == 404
    r = env.call("PATCH", "/sites/field-1", "agro",
                 json={"crop": "wheat", "area_mu": 130.5, "planting_date": "2026-04-20",
                       "lat_deg": 39.33})
    assert r.status_code == 200, r.text
    site = r.json()
    assert (site["crop"], site["area_mu"], site["planting_date"], site["lat_deg"], site["name"]) \
        == ("wheat", 130.5, "2026-04-20", 39.33, "玉米地")
    assert env.call("PATCH", "/sites/field-1", "agro", json={"kind": "barn"}).status_code == 422
    assert env.call("PATCH", "/sites/field-1", "agro", json={"area_mu": -1}).status_code == 422
    assert env.call("PATCH", "/sites/field-y", "agro", json={"crop": "oats"}).status_code == 404
    r = env.call("PATCH", "/devices/sm-1", "agro", json={"attributes": {"depth_cm": 40}})
    assert r.status_code == 200 and r.json()["attributes"] == {"depth_cm": 40}
    assert env.call("PATCH", "/devices/sm-y", "agro", json={"attributes": {}}).status_code == 404


def test_retirement_is_shown_filterable_and_final(env: Env) -> None:
    r = env.call("POST", "/devices/sm-1/retire", "agro")
    assert r.status_code == 200 and r.json()["retired_at"] is not None
    assert env.call("POST", "/devices/sm-1/retire", "agro").json() == r.json()  # idempotent
    retired = env.call("GET", "/devices", params={"retired": "true"}).json()
    serving = env.call("GET", "/devices", params={"retired": "false"}).json()
    assert [d["device_id"] for d in retired] == ["sm-1"]
    assert "sm-1" not in {d["device_id"] for d in serving} and len(serving) == 3
    assert env.call("POST", "/devices/sm-1/move", json={"site_id": "field-2"}).status_code == 409
    # a site: back-dated, with the devices on it
    at = datetime.now(UTC) - 2 * DAY
    r = env.call("POST", "/sites/barn-1/retire", "agro", json={"at": at.isoformat()})
    assert r.status_code == 200 and r.json()["device_count"] == 0
    assert to_ms(datetime.fromisoformat(r.json()["retired_at"])) == to_ms(at)
    for device in ("gw-1", "col-1"):
        assert env.call("GET", f"/devices/{device}").json()["retired_at"] is not None
    sites = env.call("GET", "/sites", params={"retired": "true"}).json()
    assert [s["id"] for s in sites] == ["barn-1"]
    assert env.call("POST", "/sites/field-y/retire", "agro").status_code == 404
    # a farm: admin only, everything on it
    future = (datetime.now(UTC) + DAY).isoformat()
    assert env.call("POST", "/farms/farm-y/retire", json={"at": future}).status_code == 422
    r = env.call("POST", "/farms/farm-y/retire")
    assert r.status_code == 200 and r.json()["retired_at"] is not None
    assert env.call("GET", "/devices/sm-y").json()["retired_at"] is not None
    assert [f["id"] for f in env.call("GET", "/farms", params={"retired": "true"}).json()] \
        == ["farm-y"]
    assert env.call("POST", "/sites", json={"id": "f-9", "farm_id": "farm-y", "kind": "field",
                                            "name": "x"}).status_code == 409
    assert env.call("POST", "/devices", json={"device_id": "sm-9", "type": "soil_moisture",
                                              "site_id": "field-y"}).status_code == 409
