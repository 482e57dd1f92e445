"""Fleet pages: a device moved and retired, a site corrected and retired, through the
CSRF-checked forms, in Chinese, with retired items marked and filterable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from devices.registry import Device, Site
from farmtel.runtime import Metadata, build_api
from tests.fakes import MemoryStore
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry
from tests.unit.api.web.stack import csrf_of, sign_in


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[TestClient, Metadata]]:
    meta = small_registry(settings_for(tmp_path), {"sm-1": "soil_moisture", "sm-2": "soil_moisture"})
    with TestClient(build_api(meta, MemoryStore()), base_url="http://testserver") as client:
        sign_in(client, ADMIN_TOKEN)
        yield client, meta


def test_move_and_retire_a_device_through_its_page(env: tuple[TestClient, Metadata]) -> None:
    client, meta = env
    page = client.get("/web/devices/sm-1")
    assert page.status_code == 200 and "安装位置记录" in page.text and "至今" in page.text
    csrf = csrf_of(page.text)
    assert client.post("/web/devices/sm-1/move", data={"site_id": "barn-1"},
                       follow_redirects=False).status_code == 403  # no CSRF token
    bad = client.post("/web/devices/sm-1/move", data={"csrf": csrf, "site_id": "barn-1",
                                                      "at": "2999-01-01T08:00"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    r = client.post("/web/devices/sm-1/move", data={"csrf": csrf, "site_id": "barn-1", "at": ""},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/devices/sm-1"
    page = client.get("/web/devices/sm-1").text
    assert page.count('<th scope="row"><a href="/web/sites/') == 2  # field-1, then barn-1
    r = client.post("/web/devices/sm-1/retire", data={"csrf": csrf, "at": ""},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/web/devices/sm-1").text
    assert "已于" in page and "退役" in page and "/move" not in page
    with meta.sessions() as s:
        device = s.get(Device, "sm-1")
        assert device is not None and device.retired_at is not None
        assert device.site_id == "barn-1"
    listing = client.get("/web/devices", params={"retired": "1"}).text
    assert "st-retired" in listing and "sm-1" in listing and "sm-2" not in listing
    serving = client.get("/web/devices", params={"retired": "0"}).text
    assert "sm-2" in serving and ">sm-1<" not in serving


def test_correct_and_retire_a_site(env: tuple[TestClient, Metadata]) -> None:
    client, meta = env
    form = client.get("/web/sites/field-1/edit")
    assert form.status_code == 200 and "面积（亩）" in form.text
    csrf = csrf_of(form.text)
    fields = {"csrf": csrf, "name": "玉米地", "crop": "maize", "species": "", "area_mu": "abc",
              "head_count": "", "planting_date": "2026-04-25", "lat_deg": "39.33", "lon_deg": "",
              "elevation_m": "", "attributes": '{"high_standard": true}'}
    bad = client.post("/web/sites/field-1/edit", data=fields)
    assert bad.status_code == 422 and 'value="abc"' in bad.text  # what was typed is kept
    r = client.post("/web/sites/field-1/edit", data={**fields, "area_mu": "125"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/sites/field-1"
    with meta.sessions() as s:
        site = s.get(Site, "field-1")
        assert site is not None
        assert (site.area_mu, site.lat_deg, site.attributes) == (125.0, 39.33, {"high_standard": True})
    r = client.post("/web/sites/field-1/retire", data={"csrf": csrf, "at": ""},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "已于" in client.get("/web/sites/field-1").text
    retired = client.get("/web/sites", params={"retired": "1"}).text
    assert "field-1" in retired and "barn-1" not in retired
    with meta.sessions() as s:
        assert all(d.retired_at is not None for d in s.query(Device).filter(Device.site_id == "field-1"))
