"""Provisioning refuses what could never work, with a typed 422 and its reason, alike on the
API, bulk import (API and page) and the provisioning page, on SQLite and PostgreSQL: a device id
outside the one id alphabet (``storage.naming.ID_CHARS``: a ``:`` Mosquitto's password file
cannot carry), a gateway of another farm, a non-gateway or a gateway as a gateway parent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from devices.broker.mosquitto import device_users
from devices.registry import Device, Farm, Site
from farmtel.runtime import Metadata, build_api
from storage.factory import open_store
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry
from tests.unit.api.web.stack import csrf_of, sign_in

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class Env:
    client: TestClient
    meta: Metadata


@pytest.fixture
def env(tmp_path: Path, metadata_url: str) -> Iterator[Env]:
    """farm-a (field-1: sm-1, gw-1) and farm-b (field-b: gw-b)."""
    settings = settings_for(tmp_path, database_url=metadata_url)
    meta = small_registry(settings, {"sm-1": "soil_moisture", "gw-1": "gateway"})
    with meta.sessions() as s, s.begin():
        s.add(Farm(id="farm-b", name="乙农场", county_id="huairen"))
        s.add(Site(id="field-b", farm_id="farm-b", kind="field", name="乙地"))
    store = open_store(settings.resolved_store_url)
    with TestClient(build_api(meta, store), base_url="http://testserver") as client:
        client.post("/api/v1/devices", headers=ADMIN,
                    json={"device_id": "gw-b", "type": "gateway", "site_id": "field-b"})
        yield Env(client, meta)
    store.close()


def _device_count(meta: Metadata) -> int:
    with meta.sessions() as s:
        return s.scalar(select(func.count()).select_from(Device)) or 0


REFUSED = [
    # (body, what the reason names)
    ({"device_id": "sm:7", "type": "soil_moisture", "site_id": "field-1"}, "device_id"),
    ({"device_id": "sm 7", "type": "soil_moisture", "site_id": "field-1"}, "device_id"),
    ({"device_id": "sm-7", "type": "soil_moisture", "site_id": "field-1", "gateway_id": "gw-b"},
     "another farm"),
    ({"device_id": "sm-7", "type": "soil_moisture", "site_id": "field-b", "gateway_id": "gw-1"},
     "another farm"),
    ({"device_id": "sm-7", "type": "soil_moisture", "site_id": "field-1", "gateway_id": "sm-1"},
     "not a registered gateway"),
    ({"device_id": "gw-7", "type": "gateway", "site_id": "field-1", "gateway_id": "gw-1"},
     "another gateway"),
]


@pytest.mark.parametrize(("body", "reason"), REFUSED)
def test_the_api_refuses_with_a_422_and_its_reason(env: Env, body: dict[str, str],
                                                   reason: str) -> None:
    before = _device_count(env.meta)
    r = env.client.post("/api/v1/devices", json=body, headers=ADMIN)
    assert r.status_code == 422 and reason in r.text, r.text
    assert _device_count(env.meta) == before


def test_what_is_accepted_can_log_in_to_mosquitto(env: Env) -> None:
    ok = {"device_id": "sm-a.7_x", "type": "soil_moisture", "site_id": "field-1",
          "gateway_id": "gw-1"}
    assert env.client.post("/api/v1/devices", json=ok, headers=ADMIN).status_code == 201
    with env.meta.sessions() as s:
        registered = set(s.scalars(select(Device.id)))
        in_password_file = {u.username for u in device_users(s)}
    assert registered == in_password_file  # mosquitto-sync leaves no device out


def test_a_revoked_gateway_takes_no_new_children(env: Env) -> None:
    assert env.client.post("/api/v1/devices/gw-1/revoke", headers=ADMIN).status_code == 200
    r = env.client.post("/api/v1/devices", headers=ADMIN, json={
        "device_id": "sm-7", "type": "soil_moisture", "site_id": "field-1", "gateway_id": "gw-1"})
    assert r.status_code == 422 and "revoked or retired" in r.text


def test_bulk_import_reports_each_refusal_by_row(env: Env) -> None:
    data = (b"[devices]\ndevice_id,type,site_id,gateway_id\n"
            b"sm:7,soil_moisture,field-1,\n"
            b"sm-8,soil_moisture,field-1,gw-b\n"
            b"gw-9,gateway,field-1,gw-1\n"
            b"sm-10,soil_moisture,field-1,sm-1\n")
    before = _device_count(env.meta)

    def post(dry_run: str) -> httpx.Response:
        return env.client.post("/api/v1/registry/import", params={"dry_run": dry_run},
                               headers=ADMIN, files={"file": ("fleet.csv", data, "text/csv")})

    got = {(p["row"], p["column"], p["code"]) for p in post("true").json()["problems"]}
    assert got == {(3, "device_id", "invalid_id"), (4, "gateway_id", "gateway_other_farm"),
                   (5, "gateway_id", "gateway_behind_gateway"),
                   (6, "gateway_id", "not_a_gateway")}
    assert post("false").status_code == 422
    assert _device_count(env.meta) == before


def test_the_provisioning_page_refuses_with_a_422_and_keeps_what_was_typed(env: Env) -> None:
    sign_in(env.client, ADMIN_TOKEN)
    csrf = csrf_of(env.client.get("/web/devices/new").text)
    for body, reason in REFUSED:
        form = {"csrf": csrf, "attributes": "", "gateway_id": "", **body}
        r = env.client.post("/web/devices/new", data=form)
        assert r.status_code == 422, (body, r.status_code)
        assert reason in r.text, (body, r.text[-500:])
        assert f'value="{body["device_id"]}"' in r.text  # what was typed is kept
    upload = {"file": ("fleet.csv", b"[devices]\ndevice_id,type,site_id,gateway_id\n"
                                    b"sm-8,soil_moisture,field-1,gw-b\n", "text/csv")}
    csrf = csrf_of(env.client.get("/web/devices/import").text)
    r = env.client.post("/web/devices/import", data={"csrf": csrf, "action": "check"},
                        files=upload)
    assert "网关“gw-b”属于另一个农场" in r.text
