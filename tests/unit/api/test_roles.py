"""Who may use which route, and what a scoped agronomist or the bureau sees.

``ROLE_TABLE`` names, for every route of the app, the roles allowed to use it; a route added
without an entry fails ``test_every_route_has_a_role_expectation``. Each entry is then called
with an admin, an agronomist and a bureau token (and none): allowed roles must get past the
role check (anything but 401/403), the others a 403, and no token a 401.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from analytics.indicators import definitions as d
from analytics.indicators.serialize import DETAIL_KEYS
from analytics.indicators.targets import packaged_target_set
from api.auth import ApiToken, Role, issue_token
from devices.provisioning import create_farm, create_site, provision_device
from devices.registry import Device, Farm, Site
from farmtel.runtime import build_api
from storage.clock import now_ms
from storage.factory import open_store
from storage.telemetry import Reading
from tests.helpers import ADMIN_TOKEN, settings_for, small_registry

A, G, B = Role.ADMIN, Role.AGRONOMIST, Role.BUREAU
ALL, STAFF, ADMIN_ONLY, BUREAU_VIEW = {A, G, B}, {A, G}, {A}, {A, B}
PUBLIC = frozenset({"public"})

ROLE_TABLE: dict[tuple[str, str], frozenset[object] | set[Role]] = {
    ("GET", "/api/v1/health"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,  # Prometheus scrapes without a token (api/metrics.py)
    ("GET", "/"): PUBLIC,  # redirect to the web pages (which ask for a sign-in)
    ("GET", "/api/v1/counties"): ALL,
    ("GET", "/api/v1/farms"): ALL,
    ("POST", "/api/v1/farms"): ADMIN_ONLY,
    ("GET", "/api/v1/sites"): ALL,
    ("POST", "/api/v1/sites"): ADMIN_ONLY,
    ("GET", "/api/v1/devices"): STAFF,
    ("POST", "/api/v1/devices"): ADMIN_ONLY,
    ("GET", "/api/v1/devices/{device_id}"): STAFF,
    ("GET", "/api/v1/devices/{device_id}/latest"): STAFF,
    ("POST", "/api/v1/devices/{device_id}/rotate-credentials"): ADMIN_ONLY,
    ("POST", "/api/v1/devices/{device_id}/revoke"): ADMIN_ONLY,
    ("POST", "/api/v1/registry/import"): STAFF,  # agronomists: sites, devices of their farms
    ("PATCH", "/api/v1/farms/{farm_id}"): ADMIN_ONLY,
    ("POST", "/api/v1/farms/{farm_id}/retire"): ADMIN_ONLY,
    ("PATCH", "/api/v1/sites/{site_id}"): STAFF,
    ("POST", "/api/v1/sites/{site_id}/retire"): STAFF,
    ("PATCH", "/api/v1/devices/{device_id}"): STAFF,
    ("POST", "/api/v1/devices/{device_id}/move"): STAFF,
    ("POST", "/api/v1/devices/{device_id}/retire"): STAFF,
    ("GET", "/api/v1/devices/{device_id}/placements"): STAFF,
    ("GET", "/api/v1/telemetry"): STAFF,
    ("GET", "/api/v1/telemetry/latest"): STAFF,
    ("GET", "/api/v1/ingest/stats"): ADMIN_ONLY,
    ("GET", "/api/v1/dead-letters"): ADMIN_ONLY,
    ("POST", "/api/v1/dead-letters/replay"): ADMIN_ONLY,
    ("GET", "/api/v1/fields"): STAFF,
    ("GET", "/api/v1/fields/{site_id}/advice"): STAFF,
    ("GET", "/api/v1/fields/{site_id}/water-balance"): STAFF,
    ("POST", "/api/v1/fields/{site_id}/harvests"): STAFF,
    ("GET", "/api/v1/fields/{site_id}/harvests"): STAFF,
    ("GET", "/api/v1/fields/{site_id}/wue"): STAFF,
    ("GET", "/api/v1/stations/{device_id}/et0"): STAFF,
    ("GET", "/api/v1/water/irrigation-coefficient"): STAFF,
    ("GET", "/api/v1/alerts"): STAFF,
    ("GET", "/api/v1/alerts/summary"): ALL,
    ("GET", "/api/v1/alerts/{alert_id}"): STAFF,
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): STAFF,
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): STAFF,
    ("GET", "/api/v1/alert-rules"): STAFF,
    ("PUT", "/api/v1/sites/{site_id}/alert-rules"): STAFF,
    ("GET", "/api/v1/indicators"): BUREAU_VIEW,
    ("POST", "/api/v1/indicators/snapshots"): BUREAU_VIEW,
    ("GET", "/api/v1/indicators/snapshots"): BUREAU_VIEW,
    ("GET", "/api/v1/indicators/snapshots/{snapshot_id}"): BUREAU_VIEW,
    ("GET", "/api/v1/indicators/snapshots/{snapshot_id}/export"): BUREAU_VIEW,
    ("GET", "/api/v1/indicators/{key}/history"): BUREAU_VIEW,
    ("GET", "/api/v1/completeness"): ALL,
    ("POST", "/api/v1/tokens"): ADMIN_ONLY,
    ("GET", "/api/v1/tokens"): ADMIN_ONLY,
    ("DELETE", "/api/v1/tokens/{token_id}"): ADMIN_ONLY,
    ("GET", "/api/v1/targets"): BUREAU_VIEW,
    ("POST", "/api/v1/targets"): ADMIN_ONLY,
    ("GET", "/api/v1/jurisdictions"): BUREAU_VIEW,
    ("POST", "/api/v1/jurisdictions"): ADMIN_ONLY,
    ("GET", "/api/v1/denominators"): BUREAU_VIEW,
    ("POST", "/api/v1/denominators"): ADMIN_ONLY,
    ("GET", "/api/v1/reported"): BUREAU_VIEW,
    ("POST", "/api/v1/reported"): ADMIN_ONLY,
}

# Path parameters: ids that do not exist, so that calls allowed by role change nothing.
SAMPLE = {"device_id": "ghost-device", "site_id": "ghost-site", "farm_id": "ghost-farm",
          "alert_id": "999999", "snapshot_id": "999999", "token_id": "999999", "key": d.DIGITISATION}
QUERY = {"/api/v1/telemetry": {"device_id": "ghost-device", "quantity": "vwc_pct"},
         "/api/v1/telemetry/latest": {"farm_id": "ghost-farm"}}


def _keys(doc) -> set[str]:
    """Every key of a JSON document, recursively."""
    if isinstance(doc, dict):
        return set(doc) | {k for v in doc.values() for k in _keys(v)}
    if isinstance(doc, list):
        return {k for v in doc for k in _keys(v)}
    return set()


def _app_routes(app) -> set[tuple[str, str]]:
    return {(m, c.path or "") for c in iter_route_contexts(app.routes)
            if isinstance(c.original_route, APIRoute) for m in c.original_route.methods or ()}


@pytest.fixture
def env(tmp_path, metadata_url):
    """farm-a (Shuocheng, township 北旺庄) with field-1 and barn-1, farm-y in Youyu; tokens of
    every role: an agronomist scoped to farm-a, one to Youyu, one with an empty scope."""
    settings = settings_for(tmp_path, database_url=metadata_url)
    meta = small_registry(settings, {"sm-1": "soil_moisture", "col-1": "livestock_collar"})
    with meta.sessions() as s, s.begin():
        create_farm(s, Farm(id="farm-y", name="右玉合作社", county_id="youyu", township="新城镇"))
        s.flush()
        create_site(s, Site(id="field-y", farm_id="farm-y", kind="field", name="燕麦地", area_mu=80))
        s.flush()
        provision_device(s, device_id="sm-y", device_type="soil_moisture", site_id="field-y")
        tokens = {
            "agro": issue_token(s, name="agro-a", role=G, scope={"farms": ["farm-a"]}),
            "agro_youyu": issue_token(s, name="agro-y", role=G, scope={"counties": ["youyu"]}),
            "agro_none": issue_token(s, name="agro-0", role=G),
            "bureau": issue_token(s, name="bureau", role=B),
        }
    with meta.sessions() as s, s.begin():  # installed ten days ago
        s.execute(update(Device).values(created_at=datetime.now(UTC) - timedelta(days=10)))
    store = open_store(settings.resolved_store_url)
    t = now_ms() - 3_600_000
    store.write([Reading(dev, "vwc_pct", 21.0, t + i * 900_000, i, 0, "soil_moisture", site,
                         farm, county)
                 for dev, site, farm, county in (("sm-1", "field-1", "farm-a", "shuocheng"),
                                                 ("sm-y", "field-y", "farm-y", "youyu"))
                 for i in range(4)])
    client = TestClient(build_api(meta, store))
    headers = {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}
    headers["admin"] = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    yield client, meta, headers
    store.close()


def test_every_route_has_a_role_expectation(env):
    client, _, _ = env
    routes = _app_routes(client.app)
    assert routes - ROLE_TABLE.keys() == set(), "add the new routes to ROLE_TABLE"
    assert ROLE_TABLE.keys() - routes == set(), "ROLE_TABLE names routes that are gone"


@pytest.mark.parametrize(("method", "path"), sorted(ROLE_TABLE))
def test_roles_per_route(env, method, path):
    client, _, headers = env
    url = path.format(**SAMPLE)
    kwargs = {"params": QUERY.get(path, {})}
    if method in ("POST", "PUT"):
        kwargs["json"] = {}
    allowed = ROLE_TABLE[(method, path)]
    if allowed == PUBLIC:
        assert client.request(method, url, **kwargs).status_code == 200
        return
    assert client.request(method, url, **kwargs).status_code == 401
    for who, role in (("admin", A), ("agro", G), ("bureau", B)):
        code = client.request(method, url, headers=headers[who], **kwargs).status_code
        if role in allowed:
            assert code not in (401, 403), f"{who} refused on {method} {path}: {code}"
        else:
            assert code == 403, f"{who} got {code} on {method} {path}"


def test_snapshots_have_no_update_or_delete_route(env):
    client, _, _ = env
    assert not [r for r in _app_routes(client.app)
                if "/snapshots" in r[1] and r[0] in ("PUT", "PATCH", "DELETE")]


def test_agronomist_sees_only_its_farms(env):
    client, _, h = env
    def ids(url, who, key="id", **params):
        return sorted(x[key] for x in client.get(url, headers=h[who], params=params).json())

    assert ids("/api/v1/devices", "admin", "device_id") == ["col-1", "sm-1", "sm-y"]
    assert ids("/api/v1/devices", "agro", "device_id") == ["col-1", "sm-1"]
    assert ids("/api/v1/devices", "agro_youyu", "device_id") == ["sm-y"]
    assert ids("/api/v1/devices", "agro_none", "device_id") == []  # an empty scope grants nothing
    assert ids("/api/v1/sites", "agro") == ["barn-1", "field-1"]
    assert ids("/api/v1/sites", "agro_youyu") == ["field-y"]
    assert ids("/api/v1/farms", "agro_youyu") == ["farm-y"]
    # out of scope reads as unknown (404), in scope works
    for url in ("/api/v1/devices/sm-y", "/api/v1/devices/sm-y/latest"):
        assert client.get(url, headers=h["agro"]).status_code == 404
        assert client.get(url, headers=h["agro_youyu"]).status_code == 200
    tel = {"quantity": "vwc_pct", "device_id": "sm-y"}
    assert client.get("/api/v1/telemetry", params=tel, headers=h["agro"]).status_code == 404
    assert len(client.get("/api/v1/telemetry", params=tel,
                          headers=h["agro_youyu"]).json()["points"]) == 4
    site = {"quantity": "vwc_pct", "site_id": "field-y"}
    assert client.get("/api/v1/telemetry", params=site, headers=h["agro"]).status_code == 404
    # completeness follows the same scope
    r = client.get("/api/v1/completeness", params={"level": "device"}, headers=h["agro"]).json()
    assert r["scoped"] and sorted(x["key"] for x in r["rows"]) == ["col-1", "sm-1"]
    assert client.get("/api/v1/completeness", params={"farm_id": "farm-y"},
                      headers=h["agro"]).status_code == 404


def test_bureau_sees_aggregates_only(env):
    client, meta, h = env
    for level in ("site", "device"):
        r = client.get("/api/v1/completeness", params={"level": level}, headers=h["bureau"])
        assert r.status_code == 403
    county = client.get("/api/v1/completeness", headers=h["bureau"]).json()
    assert {r["key"] for r in county["rows"]} >= {"shuocheng", "youyu"}
    # one farm per township < k = 3: township and farm rows are withheld
    for level in ("township", "farm"):
        r = client.get("/api/v1/completeness", params={"level": level}, headers=h["bureau"]).json()
        assert r["rows"] == [] and r["withheld_groups"] == 2
    # three farms in farm-a's township: that group is shown, the Youyu one is not
    with meta.sessions() as s, s.begin():
        for n in (1, 2):
            create_farm(s, Farm(id=f"farm-a{n}", name="x", county_id="shuocheng", township="北旺庄"))
            s.flush()
            create_site(s, Site(id=f"f-a{n}", farm_id=f"farm-a{n}", kind="field", name="x", area_mu=10))
            s.flush()
            provision_device(s, device_id=f"sm-a{n}", device_type="soil_moisture",
                             site_id=f"f-a{n}")
        s.flush()
        s.execute(update(Device).values(created_at=datetime.now(UTC) - timedelta(days=10)))
    r = client.get("/api/v1/completeness", params={"level": "township"}, headers=h["bureau"]).json()
    assert [x["key"] for x in r["rows"]] == ["shuocheng/北旺庄"] and r["withheld_groups"] == 1
    # indicators: evidence without site or device ids for the bureau, with them for admins
    bureau = client.get("/api/v1/indicators", params={"evidence": "true"}, headers=h["bureau"])
    body = bureau.json()
    assert not _keys(body) & DETAIL_KEYS and "devices" not in body["detail"]
    assert body["detail"]["townships"][0]["key"] == "shuocheng/北旺庄"
    admin = client.get("/api/v1/indicators", params={"evidence": "true"},
                       headers=h["admin"]).json()
    assert "covered" in _keys(admin)
    assert {x["device_id"] for x in admin["detail"]["devices"]} >= {"sm-1", "sm-y"}


def test_indicators_report_every_county_with_targets(env):
    client, _, h = env
    body = client.get("/api/v1/indicators", headers=h["bureau"]).json()
    scopes = {s["scope"]: s for s in body["scopes"]}
    assert len(scopes) == 10  # six counties, three plan groups and the city
    dig = next(i for i in scopes["city"]["indicators"] if i["key"] == d.DIGITISATION)
    assert dig["target"] == 50 and dig["name_zh"] == "农业生产数字化水平"
    assert dig["status"] in ("behind", "on_track")  # 80 亩 of 575.6万亩: far below
    county = next(i for i in scopes["shuocheng"]["indicators"] if i["key"] == d.DIGITISATION)
    assert county["status"] == "registered_sites" and county["target"] is None
    # sm-1 (on field-1) was installed 10 days ago and sent 4 reports: 4 of 10 × 96 expected is
    # far below 80 %, so no field is covered
    field = next(i for i in scopes["shuocheng"]["indicators"] if i["key"] == d.COVERAGE_FIELD)
    assert field["value"] == 0.0
    csv_text = client.get("/api/v1/indicators", params={"format": "csv"},
                          headers=h["bureau"]).text
    rows = list(csv.DictReader(io.StringIO(csv_text.removeprefix("\ufeff"))))
    assert {r["scope"] for r in rows} == set(scopes)
    assert client.get("/api/v1/indicators", params={"county_id": "atlantis"},
                      headers=h["bureau"]).status_code == 404


def test_tokens_lifecycle(env):
    client, meta, h = env
    body = {"name": "youyu extension", "role": "agronomist", "scope": {"counties": ["youyu"]}}
    r = client.post("/api/v1/tokens", json=body, headers=h["admin"])
    assert r.status_code == 201
    issued = r.json()
    with meta.sessions() as s:  # only the hash is stored
        row = s.get(ApiToken, issued["id"])
        assert row.token_hash != issued["token"] and issued["token"] not in str(row.scope)
    new = {"Authorization": f"Bearer {issued['token']}"}
    assert [x["device_id"] for x in client.get("/api/v1/devices", headers=new).json()] == ["sm-y"]
    listed = client.get("/api/v1/tokens", headers=h["admin"]).json()
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert client.delete(f"/api/v1/tokens/{issued['id']}", headers=h["admin"]).json()["revoked_at"]
    assert client.get("/api/v1/devices", headers=new).status_code == 401
    for bad in ({"name": "x", "role": "agronomist", "scope": {}},
                {"name": "x", "role": "agronomist", "scope": {"counties": ["atlantis"]}},
                {"name": "x", "role": "agronomist", "scope": {"villages": ["x"]}},
                {"name": "x", "role": "bureau", "scope": {"counties": ["youyu"]}},
                {"name": "x", "role": "root"}):
        assert client.post("/api/v1/tokens", json=bad, headers=h["admin"]).status_code == 422
    with meta.sessions() as s:
        admin_id = s.scalar(select(ApiToken.id).where(ApiToken.role == "admin"))
    assert client.delete(f"/api/v1/tokens/{admin_id}", headers=h["admin"]).status_code == 409


def test_target_upload_snapshots_and_export(env):
    client, _, h = env
    sets = client.get("/api/v1/targets", headers=h["bureau"]).json()
    assert [s["version"] for s in sets] == [packaged_target_set().version] and sets[0]["current"]
    newer = packaged_target_set().to_json()
    newer["version"] = "shuozhou-2026-2030"
    newer["baseline_year"], newer["target_year"] = 2025, 2030
    assert client.post("/api/v1/targets", json=newer, headers=h["admin"]).status_code == 201
    assert client.post("/api/v1/targets", json=newer, headers=h["admin"]).status_code == 409
    newer["version"], newer["targets"] = "broken", []
    assert client.post("/api/v1/targets", json=newer, headers=h["admin"]).status_code == 422
    snap = client.post("/api/v1/indicators/snapshots", json={}, headers=h["bureau"])
    assert snap.status_code == 201
    sid = snap.json()["id"]
    got = client.get(f"/api/v1/indicators/snapshots/{sid}", headers=h["bureau"]).json()
    assert got["reference"]["target_set"]["version"] == "shuozhou-2026-2030"
    assert not _keys(got) & DETAIL_KEYS  # bureau: no farm-level detail
    assert [s["id"] for s in client.get("/api/v1/indicators/snapshots",
                                        headers=h["bureau"]).json()] == [sid]
    text = client.get(f"/api/v1/indicators/snapshots/{sid}/export", headers=h["bureau"]).text
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    # 10 scopes (6 counties, 3 plan groups, the city) × (sensed + the plan's other targets)
    per_scope = len(d.INDICATORS) + len([t for t in packaged_target_set().targets
                                         if t.key not in d.BY_KEY])
    assert {r["target_set"] for r in rows} == {"shuozhou-2026-2030"} and len(rows) == 10 * per_scope
    js = client.get(f"/api/v1/indicators/snapshots/{sid}/export", params={"format": "json"},
                    headers=h["bureau"]).json()
    assert len(js["values"]) == len(rows)
    hist = client.get(f"/api/v1/indicators/{d.DIGITISATION}/history",
                      params={"kind": "on_demand", "county_id": "shuocheng"},
                      headers=h["bureau"]).json()
    assert [p["snapshot_id"] for p in hist["series"]["shuocheng"]] == [sid]
    assert client.get("/api/v1/indicators/nonsense/history",
                      headers=h["bureau"]).status_code == 404
