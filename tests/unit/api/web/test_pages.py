"""The pages over a backfilled demo farm (TestClient): sign-in, roles and scope, forms with
CSRF, the alert lifecycle, charts within the point budget, the live stream, CSV, headers."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from analytics.alerts.store import SYSTEM_ACTOR, Alert, AlertEvent, AlertRepository
from analytics.alerts.transitions import OUT_OF_SEASON_NOTE, TransitionKind
from api.services import ApiServices
from api.web import LiveSettings, create_web_app
from api.web.charts import MAX_POINTS
from api.web.session import SESSION_COOKIE
from devices.registry import Device, Site
from tests.unit.api.web.stack import WebStack, csrf_of, page_session, sign_in

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _open_alert(stack: WebStack, county: str | None = None) -> Alert:
    with stack.meta.sessions() as s:
        q = select(Alert).where(Alert.state == "open").order_by(Alert.id)
        if county:
            q = q.where(Alert.county_id == county)
        alert = s.scalars(q).first()
    assert alert is not None, "the scenario opened no alert"
    return alert


def _charts(html: str) -> list[dict]:
    m = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html, re.S)
    assert m
    return json.loads(m.group(1))


def _first(pattern: str, text: str) -> str:
    """The first group of ``pattern``'s first match in ``text`` (which must match)."""
    found = re.search(pattern, text)
    assert found, pattern
    return found.group(1)


def test_pages_need_sign_in_and_remember_where_you_were_going(client):
    r = client.get("/web/alerts?severity=critical", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/web/login?next=%2Fweb%2Falerts%3Fseverity%3Dcritical"
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text and "访问令牌" in page.text


def test_sign_in_sets_a_lax_http_only_cookie_and_sign_out_clears_it(client, stack):
    bad = client.post("/web/login", data={"token": "ft_nope"})
    assert bad.status_code == 401 and "令牌无效" in bad.text
    r = client.post("/web/login", data={"token": stack.tokens["admin"], "next": "/web/devices"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/devices"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for part in ("HttpOnly", "SameSite=lax", "Path=/web"):
        assert part in cookie
    assert client.get("/web/").status_code == 200
    out = client.post("/web/logout", follow_redirects=False)
    assert out.status_code == 303 and f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/web/", follow_redirects=False).status_code == 303


def test_open_redirects_are_refused(client, stack):
    r = client.post("/web/login", data={"token": stack.tokens["admin"],
                                        "next": "//evil.example/web/"}, follow_redirects=False)
    assert r.headers["location"] == "/web/"


def test_revoked_token_stops_working_at_once(client, stack):
    from api.auth import ApiToken, Role, issue_token
    from devices.credentials import hash_token
    from devices.registry import utcnow

    with stack.meta.sessions() as s, s.begin():
        token = issue_token(s, name="temp", role=Role.BUREAU)
    sign_in(client, token)
    assert client.get("/web/").status_code == 200
    with stack.meta.sessions() as s, s.begin():
        s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).revoked_at = utcnow()
    assert client.get("/web/", follow_redirects=False).status_code == 303


def test_overview_counts_counties_devices_and_alerts(client, stack):
    sign_in(client, stack.tokens["admin"])
    html = client.get("/web/").text
    assert html.count('<th scope="row"><a href="/web/alerts?county=') == 6
    with stack.meta.sessions() as s:
        n_devices = len(s.scalars(select(Device.id)).all())
        n_open = len(s.scalars(select(Alert.id).where(Alert.open_key == 1)).all())
    assert f'<td class="num">{n_devices}</td>' in html  # the total row
    totals = [int(v) for v in re.findall(r'data-total-sev="\w+">(\d+)<', html)]
    assert sum(totals) == 2 * n_open  # cards and footer row
    assert 'id="live-list"' in html and "data-events=" in html


def test_bureau_sees_aggregates_only(client, stack):
    sign_in(client, stack.tokens["bureau"])
    html = client.get("/web/").text
    assert "农业农村局视图" in html and 'id="live-list"' not in html
    assert 'href="/web/alerts' not in html and 'href="/web/sites' not in html
    alert = _open_alert(stack)
    for path in ("/web/alerts", f"/web/alerts/{alert.id}", f"/web/sites/{alert.site_id}",
                 "/web/devices", "/web/devices/new"):
        r = client.get(path)
        assert r.status_code == 403, path
        assert "无权" in r.text
    assert client.get("/web/indicators").status_code == 200


def test_agronomist_sees_only_its_scope(client, stack):
    sign_in(client, stack.tokens["agronomist"])  # scope: Shuocheng
    html = client.get("/web/").text
    assert "朔城区" in html and "怀仁市" not in html
    inbox = client.get("/web/alerts?state=").text
    assert "demo-huairen" not in inbox and "demo-shuocheng" in inbox
    with stack.meta.sessions() as s:
        other = s.scalar(select(Site.id).where(Site.farm_id.like("demo-huairen%")))
        foreign = s.scalar(select(Alert.id).where(Alert.county_id == "huairen"))
    assert client.get(f"/web/sites/{other}").status_code == 404
    if foreign is not None:
        assert client.get(f"/web/alerts/{foreign}").status_code == 404
    assert client.get("/web/indicators").status_code == 403
    assert client.get("/web/devices/new").status_code == 403
    devices = client.get("/web/devices").text
    assert "shuocheng" in devices and "huairen-01" not in devices


def test_acknowledge_then_resolve_with_notes_and_audit_trail(client, stack):
    sign_in(client, stack.tokens["admin"])
    alert = _open_alert(stack)
    page = client.get(f"/web/alerts/{alert.id}").text
    csrf = csrf_of(page)
    assert client.post(f"/web/alerts/{alert.id}/acknowledge",
                       data={"note": "已安排灌溉"}).status_code == 403  # no CSRF token
    r = client.post(f"/web/alerts/{alert.id}/acknowledge", data={"csrf": csrf, "note": "已安排灌溉"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?done=acknowledged")
    page = client.get(r.headers["location"]).text
    assert "告警已确认" in page and "已安排灌溉" in page and "admin (FARMTEL_ADMIN_TOKEN)" in page
    again = client.post(f"/web/alerts/{alert.id}/acknowledge", data={"csrf": csrf})
    assert again.status_code == 409 and "冲突" in again.text
    r = client.post(f"/web/alerts/{alert.id}/resolve", data={"csrf": csrf, "note": "已灌溉 30 mm"})
    assert r.status_code == 200 and "告警已解决" in r.text
    with stack.meta.sessions() as s:
        events = s.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert.id)
                           .order_by(AlertEvent.id)).all()
    assert [(e.from_state, e.to_state, e.note) for e in events[-2:]] == [
        ("open", "acknowledged", "已安排灌溉"), ("acknowledged", "resolved", "已灌溉 30 mm")]


def test_system_notes_are_shown_in_the_readers_language(client, stack):
    """An alert the engine resolved out of season carries a code; the page words it."""
    sign_in(client, stack.tokens["admin"])
    alert = _open_alert(stack)
    repo = AlertRepository(stack.meta.sessions)
    engine_says = alert.to_transition(TransitionKind.RESOLVED, actor=SYSTEM_ACTOR,
                                      note=OUT_OF_SEASON_NOTE)
    assert repo.apply([engine_says])
    zh = client.get(f"/web/alerts/{alert.id}").text
    assert "作物不在田（未播种或已收获），系统自动解除" in zh and OUT_OF_SEASON_NOTE not in zh
    en = client.get(f"/web/alerts/{alert.id}?lang=en").text
    assert "No crop in the field" in en and OUT_OF_SEASON_NOTE not in en


def test_posts_from_another_origin_are_refused(client, stack):
    sign_in(client, stack.tokens["admin"])
    csrf = csrf_of(client.get("/web/indicators").text)
    r = client.post("/web/indicators/snapshots", data={"csrf": csrf},
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "表单已过期" in r.text


def test_inbox_filters(client, stack):
    sign_in(client, stack.tokens["admin"])
    html = client.get("/web/alerts?state=resolved&severity=warning").text
    rows = re.findall(r'<tr>\s*<td><span class="sev-badge sev-(\w+)">.*?state-(\w+)"', html, re.S)
    assert rows and all(r == ("warning", "resolved") for r in rows)
    html = client.get("/web/alerts?county=huairen&state=").text
    assert "demo-shuocheng" not in html


@pytest.mark.parametrize(("path", "names"), [
    ("/web/alerts?severity=warning", ["county", "farm", "site", "severity", "state"]),
    ("/web/devices?retired=", ["county", "site", "type", "state", "retired"]),
    ("/web/sites", ["county", "farm", "kind", "retired"]),
])
def test_list_pages_offer_their_filters_and_keep_the_choice(client, stack, path, names):
    sign_in(client, stack.tokens["admin"])
    html = client.get(path).text
    form = re.search(r'<form class="filters".*?</form>', html, re.S)
    assert form is not None
    assert re.findall(r'<select id="f-(\w+)"', form.group(0)) == names
    assert f'<a href="{path.split("?")[0]}">' in form.group(0)  # reset drops every filter
    if "severity=warning" in path:
        assert re.search(r'<option value="warning" selected>', form.group(0))


@pytest.mark.parametrize("kind", ["field", "greenhouse", "barn", "water_source"])
def test_site_pages_chart_at_most_500_points(client, stack, kind):
    sign_in(client, stack.tokens["admin"])
    with stack.meta.sessions() as s:
        site = s.scalar(select(Site.id).where(Site.kind == kind).order_by(Site.id))
    end = stack.drought_start.replace(day=stack.drought_start.day + 3).isoformat()
    for rng in ("1d", "90d"):
        r = client.get(f"/web/sites/{site}?range={rng}&end={end}")
        assert r.status_code == 200
        specs = _charts(r.text)
        assert specs
        for spec in specs:
            assert len(spec["x"]) <= MAX_POINTS, (spec["id"], rng)
            assert all(len(s["values"]) == len(spec["x"]) for s in spec["series"])
        assert any(v is not None for spec in specs for s in spec["series"] for v in s["values"])
    html = client.get(f"/web/sites/{site}?end={end}").text
    expected = {"field": ["土壤体积含水量", "根区水量平衡", "当前灌溉建议", "易利用水（RAW）阈值"],
                "greenhouse": ["饱和水汽压差", "二氧化碳浓度", "VPD 上限"],
                "barn": ["温湿指数 THI", "氨气浓度", "THI 分级", "牲畜（项圈）"],
                "water_source": ["流量", "累计水量"]}[kind]
    for text in expected:
        assert text in html, text


def test_animal_page(client, stack):
    sign_in(client, stack.tokens["admin"])
    with stack.meta.sessions() as s:
        collar = s.scalar(select(Device.id).where(Device.type == "livestock_collar"))
    html = client.get(f"/web/animals/{collar}?end={stack.drought_start.isoformat()}").text
    assert [c["id"] for c in _charts(html)] == ["body", "activity", "rumination"]
    assert "发热阈值" in html
    assert client.get("/web/animals/no-such-collar").status_code == 404


def test_devices_and_provisioning_shows_credentials_once(client, stack):
    sign_in(client, stack.tokens["admin"])
    html = client.get("/web/devices").text
    assert "在线" in html and "24 小时数据完整率" in html
    assert re.search(r'<td class="num">\d+%</td>', html), "no completeness figures"
    form = client.get("/web/devices/new").text
    with stack.meta.sessions() as s:
        site = s.scalar(select(Site.id).where(Site.kind == "field"))
    data = {"csrf": csrf_of(form), "device_id": "sm-web-test-01", "type": "soil_moisture",
            "site_id": site, "gateway_id": "", "attributes": '{"depth_cm": 40}'}
    r = client.post("/web/devices/new", data=data)
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    password = _first(r'id="mqtt-password">([^<]+)<', r.text)
    with stack.meta.sessions() as s:
        device = s.get(Device, "sm-web-test-01")
    assert device is not None and password not in device.password_hash
    assert device.attributes == {"depth_cm": 40}
    assert client.post("/web/devices/new", data=data).status_code == 409
    bad = client.post("/web/devices/new", data={**data, "device_id": "x2", "attributes": "[1]"})
    assert bad.status_code == 422 and "JSON" in bad.text


def test_indicators_page_and_csv(client, stack):
    sign_in(client, stack.tokens["bureau"])
    html = client.get("/web/indicators").text
    assert "农业生产数字化水平" in html and "分县" in html and "快照" in html
    assert len(_charts(html)) == 1
    start = stack.drought_start.isoformat()
    html = client.get(f"/web/indicators?start={start}&end={start}&key=coverage_field_crops_pct").text
    assert "大田种植信息化率" in html
    r = client.get(f"/web/indicators.csv?start={start}&end={start}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeffperiod,scope,scope_name_zh,key")
    assert "朔州市" in text and "digitisation_level_pct" in text
    csrf = csrf_of(html)
    r = client.post("/web/indicators/snapshots", data={"csrf": csrf, "start": start, "end": start},
                    follow_redirects=False)
    assert r.status_code == 303 and "taken=" in r.headers["location"]
    snap = int(_first(r"taken=(\d+)", r.headers["location"]))
    csv_r = client.get(f"/web/indicators/snapshots/{snap}.csv")
    assert csv_r.status_code == 200 and csv_r.content.startswith("\ufeff".encode())
    assert client.get("/web/indicators?period=2026-13").status_code == 422


def test_language_switch_by_query_and_cookie(client, stack):
    sign_in(client, stack.tokens["admin"])
    r = client.get("/web/?lang=en")
    assert 'lang="en"' in r.text and "Overview" in r.text and "Sign out" in r.text
    assert "farmtel_lang=en" in r.headers["set-cookie"]
    assert 'lang="en"' in client.get("/web/devices").text  # the cookie keeps it
    zh = client.get("/web/devices?lang=zh-CN").text
    assert 'lang="zh-CN"' in zh and "设备" in zh


def test_headers_gzip_and_static_caching(client, stack):
    sign_in(client, stack.tokens["admin"])
    r = client.get("/web/devices", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    js = client.get("/web/static/vendor/uplot/uPlot.iife.min.js", headers={"Accept-Encoding": "gzip"})
    assert js.status_code == 200 and "max-age" in js.headers["cache-control"]
    assert js.headers["content-encoding"] == "gzip"
    raw = client.get("/web/static/vendor/uplot/LICENSE")
    assert raw.status_code == 200 and "MIT" in raw.text
    api = client.get("/api/v1/health")
    assert "content-security-policy" not in api.headers  # the API is left alone
    assert gzip.decompress(gzip.compress(b"x")) == b"x"


def _stream(stack: WebStack, token: str, after: int) -> str:
    services = ApiServices(sessions=stack.meta.sessions, store=stack.store, ingest_stats=dict)
    app = create_web_app(services, live=LiveSettings(poll_s=0.05, max_age_s=0.5))
    with TestClient(app) as c:
        c.cookies.set(SESSION_COOKIE, page_session(stack.meta, token))
        with c.stream("GET", f"/events?after={after}") as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            return "".join(r.iter_text())


def test_live_stream_sends_changed_alerts_and_counts(stack):
    with stack.meta.sessions() as s:
        last = s.scalar(select(AlertEvent.id).order_by(AlertEvent.id.desc()))
        changed = s.get(AlertEvent, last).alert_id
    body = _stream(stack, stack.tokens["admin"], last - 1)
    assert "retry: 2000" in body and "event: alerts" in body and "event: summary" in body
    items = json.loads(_first(r"event: alerts\ndata: (.*)\n", body))
    assert items[0]["id"] == changed and items[0]["url"].endswith(f"/alerts/{changed}")
    assert f"id: {last}\n" in body
    bureau = _stream(stack, stack.tokens["bureau"], last - 1)
    assert "event: alerts" not in bureau and "event: summary" in bureau
    assert _stream(stack, stack.tokens["admin"], last).count("event:") == 0  # nothing new


def test_live_stream_needs_a_session(client):
    r = client.get("/web/events", headers={"Accept": "text/event-stream"})
    assert r.status_code == 401
