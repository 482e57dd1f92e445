"""POST /api/v1/registry/import and the import page: a dry run answers with every bad row, an
apply with the credentials file (the only copy), whose logins the embedded broker accepts; a
second apply of the same file is a 409."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from api.auth import Role, issue_token
from devices.broker.embedded_auth import RegistryBrokerAccess
from devices.registry import Device, current_version
from farmtel.runtime import build_api
from storage.factory import open_store
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry
from tests.unit.api.web.stack import csrf_of, sign_in

URL = "/api/v1/registry/import"
FILE = """\
[farms]
farm_id,name,county_id
farm-q,新农场,yingxian
[sites]
site_id,farm_id,kind,name,area_mu
field-q,farm-q,field,北地,55
[devices]
device_id,type,site_id,gateway_id
gw-q,gateway,field-q,
sm-q1,soil_moisture,field-q,gw-q
sm-q2,soil_moisture,field-1,
"""


@pytest.fixture
def env(tmp_path):
    settings = settings_for(tmp_path)
    meta = small_registry(settings, {"sm-1": "soil_moisture"})
    with meta.sessions() as s, s.begin():
        agro = issue_token(s, name="agro-a", role=Role.AGRONOMIST, scope={"farms": ["farm-a"]})
        bureau = issue_token(s, name="bureau", role=Role.BUREAU)
    store = open_store(settings.resolved_store_url)
    client = TestClient(build_api(meta, store), base_url="http://testserver")
    headers = {who: {"Authorization": f"Bearer {token}"}
               for who, token in (("admin", ADMIN_TOKEN), ("agro", agro), ("bureau", bureau))}
    yield client, meta, headers
    store.close()


def _devices(meta) -> int:
    with meta.sessions() as s:
        return s.scalar(select(func.count()).select_from(Device)) or 0


def _version(meta) -> int:
    with meta.sessions() as s:
        return current_version(s)


def _post(client, headers, data: bytes, **params):
    return client.post(URL, params=params, headers=headers,
                       files={"file": ("fleet.csv", data, "text/csv")})


def test_dry_run_then_apply_returns_the_credentials_once(env):
    client, meta, h = env
    before, version = _devices(meta), _version(meta)
    r = _post(client, h["admin"], FILE.encode("gbk"))
    assert r.status_code == 200, r.text
    assert r.json()["problems"] == [] and r.json()["created"] == {"farms": 1, "sites": 1,
                                                                  "devices": 3}
    assert (_devices(meta), _version(meta)) == (before, version)  # the dry run wrote nothing

    r = _post(client, h["admin"], FILE.encode("gbk"), dry_run="false")
    assert r.status_code == 201, r.text
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    assert r.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert sorted(x["device_id"] for x in rows) == ["gw-q", "sm-q1", "sm-q2"]
    assert (_devices(meta), _version(meta)) == (before + 3, version + 1)
    broker = RegistryBrokerAccess(meta.sessions)  # the embedded broker's own check
    broker.refresh(force_check=True)
    for x in rows:
        assert broker.authenticate(x["mqtt_username"], x["mqtt_password"])
        assert not broker.authenticate(x["mqtt_username"], "wrong")
    with meta.sessions() as s:  # only hashes are kept: the file cannot be made again
        assert all(x["mqtt_password"] not in s.get(Device, x["device_id"]).password_hash
                   for x in rows)

    again = _post(client, h["admin"], FILE.encode("gbk"), dry_run="false")
    assert again.status_code == 409 and "nothing written" in again.json()["detail"]
    assert (_devices(meta), _version(meta)) == (before + 3, version + 1)


def test_apply_with_a_bad_row_writes_nothing(env):
    client, meta, h = env
    before, version = _devices(meta), _version(meta)
    bad = FILE.replace("field-q,farm-q,field,北地,55", "field-q,farm-q,field,北地,-55")
    report = _post(client, h["admin"], bad.encode()).json()
    assert [(p["sheet"], p["row"], p["column"], p["code"]) for p in report["problems"]] == [
        ("sites", 6, "area_mu", "out_of_range"), ("devices", 9, "site_id", "parent_row_bad"),
        ("devices", 10, "site_id", "parent_row_bad")]
    r = _post(client, h["admin"], bad.encode(), dry_run="false")
    assert r.status_code == 422
    assert (_devices(meta), _version(meta)) == (before, version)


def test_xlsx_credentials_and_who_may_import(env):
    client, _, h = env
    devices_only = "[devices]\ndevice_id,type,site_id\nsm-a7,soil_moisture,field-1\n"
    assert _post(client, h["bureau"], devices_only.encode()).status_code == 403
    farms = _post(client, h["agro"], FILE.encode()).json()["problems"]
    assert ("farm-q", "farms_admin_only") in {(p["value"], p["code"]) for p in farms}
    r = _post(client, h["agro"], devices_only.encode(), dry_run="false", format="xlsx")
    assert r.status_code == 201, r.text
    sheet = load_workbook(io.BytesIO(r.content))["credentials"]
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert [dict(zip(header, row, strict=True))["device_id"] for row in rows] == ["sm-a7"]
    assert _post(client, h["admin"], b"\x89PNG\r\n\x1a\n\x00\x00").status_code == 422


def test_import_page_checks_lists_bad_rows_in_chinese_and_downloads_the_file(env):
    client, meta, _ = env
    sign_in(client, ADMIN_TOKEN)
    page = client.get("/web/devices/import")
    assert page.status_code == 200 and "农场编号" in page.text
    csrf = csrf_of(page.text)
    assert 'href="/web/devices/import"' in client.get("/web/devices").text
    bad = FILE.replace("sm-q2,soil_moisture", "sm-q2,toaster").encode()
    upload = {"file": ("fleet.csv", bad, "text/csv")}
    r = client.post("/web/devices/import", data={"csrf": csrf, "action": "check"}, files=upload)
    assert r.status_code == 200
    assert 'id="import-problems"' in r.text and "未知设备类型“toaster”" in r.text
    r = client.post("/web/devices/import", data={"csrf": csrf, "action": "apply"}, files=upload)
    assert r.status_code == 422 and "未知设备类型“toaster”" in r.text
    assert r.headers["content-type"].startswith("text/html")
    before = _devices(meta)
    r = client.post("/web/devices/import", data={"csrf": "forged", "action": "apply"},
                    files={"file": ("fleet.csv", FILE.encode(), "text/csv")})
    assert r.status_code == 403 and _devices(meta) == before
    r = client.post("/web/devices/import", data={"csrf": csrf, "action": "apply", "format": "csv"},
                    files={"file": ("fleet.csv", FILE.encode(), "text/csv")})
    assert r.status_code == 201 and r.headers["content-disposition"].startswith("attachment")
    assert len(list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))) == 3
    assert _devices(meta) == before + 3
