"""The web pages in a real browser: headless Debian Chromium driven by Playwright, against the
app served by uvicorn on a loopback port (real HTTP) over a backfilled SQLite farm with alerts.

Screenshots of every page land in ``tests/artifacts/web/`` (git-ignored) with the measured page
weights (``page_weights.json``).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright import sync_api
from sqlalchemy import select

from analytics.alerts.store import Alert
from api.web.session import SESSION_COOKIE
from devices.registry import Device, Site
from farmtel.runtime import build_api
from tests.unit.api.web.stack import WebStack, build_stack, page_session

CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium, installed by `make servers`

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "web"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MB = 1024 * 1024


class LiveServer:
    """uvicorn serving ``app`` on a free loopback port in a background thread."""

    def __init__(self, app: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                                     timeout_graceful_shutdown=2))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="web-e2e-uvicorn", daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert self._thread.is_alive(), "uvicorn died"
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(15)
        self._sock.close()
        assert not self._thread.is_alive(), "uvicorn did not stop"


@pytest.fixture(scope="module")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    built = build_stack(tmp_path_factory.mktemp("web-e2e"), devices=50, days=7)
    yield built
    built.close()


@pytest.fixture(scope="module")
def server(stack: WebStack) -> Iterator[LiveServer]:
    with LiveServer(build_api(stack.meta, stack.store)) as live:
        yield live


@pytest.fixture(scope="module")
def browser(server: LiveServer) -> Iterator[Any]:
    """Chromium, closed before the server stops (so no live stream is left open)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make servers` installs Debian's chromium")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                      headless=True, timeout=30_000)
        yield chromium
        chromium.close()


class Problems:
    """Script errors and console errors (CSP violations among them) of a browser context."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any) -> Any:
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        def on_console(m: Any) -> None:
            if m.type == "error":
                self.errors.append(m.text)

        page.on("console", on_console)
        return page

    def check(self, *, allow: tuple[str, ...] = ()) -> None:
        unexpected = [e for e in self.errors if not any(a in e for a in allow)]
        assert not unexpected, unexpected


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                              timezone_id="Asia/Shanghai", accept_downloads=True)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


def sign_in(page: Any, server: LiveServer, token: str) -> None:
    page.goto(f"{server.url}/web/login")
    page.fill("#token", token)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{server.url}/web/")


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def drought_end(stack: WebStack) -> str:
    return (stack.drought_start + timedelta(days=6)).isoformat()


def test_sign_in_and_overview(server, context, stack, artifacts):
    problems = Problems()
    page = problems.watch(context.new_page())
    page.goto(f"{server.url}/web/alerts")
    assert "/web/login?next=%2Fweb%2Falerts" in page.url
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.fill("#token", "ft_wrong")
    page.click("form button[type=submit]")
    assert page.locator("#login-error").inner_text() == "令牌无效或已被吊销。"
    shot(page, artifacts, "01-login-error")
    page.fill("#token", stack.tokens["admin"])
    page.click("form button[type=submit]")
    page.wait_for_url(f"{server.url}/web/alerts")  # back where it was going
    page.click("nav >> text=总览")
    page.wait_for_url(f"{server.url}/web/")
    assert page.locator("#counties tbody tr").count() == 6
    page.locator("#live-status", has_text="实时更新已连接").wait_for()
    assert page.locator("#live-list li").count() > 0
    cookie = next(c for c in context.cookies() if c["name"] == SESSION_COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/web"
    assert cookie["value"] != stack.tokens["admin"]  # a session id, never the token
    # keyboard: the first Tab reaches the skip link, Enter moves to the main content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    shot(page, artifacts, "02-overview-admin")
    page.click("text=退出登录")
    page.wait_for_url(f"{server.url}/web/login?signed_out=true")
    assert not [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
    problems.check(allow=("status of 401",))


def test_acknowledge_an_alert_and_see_it_change_live(server, context, stack, artifacts):
    with stack.meta.sessions() as s:
        alert = s.scalars(select(Alert).where(Alert.state == "open")
                          .order_by(Alert.opened_at.desc())).first()
    assert alert is not None
    problems = Problems()
    overview = problems.watch(context.new_page())
    sign_in(overview, server, stack.tokens["admin"])
    overview.locator("#live-status", has_text="实时更新已连接").wait_for()

    page = problems.watch(context.new_page())
    page.goto(f"{server.url}/web/alerts?state=open")
    shot(page, artifacts, "03-alerts-inbox")
    page.click(f"a[href='/web/alerts/{alert.id}']")
    assert page.locator("#alert-state").inner_text() == "待处理"
    page.fill("#ack-note", "已通知农户，明早灌溉")
    page.click("text=确认告警")
    page.locator(".flash", has_text="告警已确认").wait_for()
    assert page.locator("#alert-state").inner_text() == "已确认"
    trail = page.locator("#trail tbody tr").last
    assert "已通知农户，明早灌溉" in trail.inner_text() and "admin" in trail.inner_text()
    shot(page, artifacts, "04-alert-acknowledged")

    # the overview, open all along, hears of it through the event stream (polled every ~2 s)
    sync_api.expect(overview.locator(f"#live-alert-{alert.id} .state-badge")).to_have_text(
        "已确认", timeout=10_000)
    shot(overview, artifacts, "05-overview-live-update")
    problems.check()


def _painted_pixels(page: Any, chart_id: str) -> int:
    return page.evaluate("""(id) => {
        const c = document.querySelector(`[data-chart="${id}"] canvas`);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n;
    }""", chart_id)


def test_field_page_shows_charts_with_data(server, context, stack, artifacts):
    problems = Problems()
    page = problems.watch(context.new_page())
    sign_in(page, server, stack.tokens["agronomist"])  # scoped to Shuocheng
    page.click("nav >> text=地块与设施")
    page.locator("#sites").wait_for()
    assert "怀仁" not in page.locator("#sites").inner_text()
    shot(page, artifacts, "06-sites-agronomist")
    page.click("#sites a[href$='-f1']")
    page.locator("label.chip", has_text="7 天").click()
    page.fill("input[name=end]", drought_end(stack))
    page.click("form.range-form button[type=submit]")
    page.wait_for_url("**end=*")
    page.locator("[data-chart=vwc] canvas").wait_for()
    assert page.evaluate("document.documentElement.dataset.charts") == "3"
    legend = page.locator("#fig-vwc .u-legend").inner_text()
    assert "20 厘米" in legend and "灌溉" in legend
    for chart_id in ("vwc", "balance", "et"):
        assert _painted_pixels(page, chart_id) > 5_000, chart_id
    page.click("#fig-vwc summary")
    first_row = page.locator("#fig-vwc details tbody tr").first.inner_text()
    assert "20 厘米" in first_row and "—" not in first_row
    assert page.locator("#advice").inner_text().count("灌溉") >= 1
    shot(page, artifacts, "07-field")
    problems.check()


def test_other_site_pages_and_devices(server, context, stack, artifacts):
    problems = Problems()
    page = problems.watch(context.new_page())
    sign_in(page, server, stack.tokens["admin"])
    end = drought_end(stack)
    with stack.meta.sessions() as s:
        sites = {k: s.scalar(select(Site.id).where(Site.kind == k).order_by(Site.id))
                 for k in ("greenhouse", "barn", "water_source")}
        collar = s.scalar(select(Device.id).where(Device.type == "livestock_collar")
                          .order_by(Device.id))
    for name, path, charts in (
            ("08-greenhouse", f"/web/sites/{sites['greenhouse']}?end={end}", 4),
            ("09-barn", f"/web/sites/{sites['barn']}?end={end}", 2),
            ("10-animal", f"/web/animals/{collar}?end={end}", 3),
            ("11-water-source", f"/web/sites/{sites['water_source']}?end={end}", 2)):
        page.goto(server.url + path)
        sync_api.expect(page.locator("html")).to_have_attribute("data-charts", str(charts))
        shot(page, artifacts, name)
    page.goto(f"{server.url}/web/devices")
    assert page.locator("#devices tbody tr").count() >= 50
    shot(page, artifacts, "12-devices")
    page.click("text=登记新设备")
    shot(page, artifacts, "13-device-new")
    problems.check()


def test_bureau_downloads_the_indicators_csv(server, context, stack, artifacts):
    problems = Problems()
    page = problems.watch(context.new_page())
    sign_in(page, server, stack.tokens["bureau"])
    assert page.locator("nav a").all_inner_texts() == ["总览", "规划指标"]
    shot(page, artifacts, "14-overview-bureau")
    page.goto(f"{server.url}/web/alerts")
    assert "您的账号无权查看此页面" in page.locator("main").inner_text()
    page.click("nav >> text=规划指标")
    page.fill("#start", stack.drought_start.isoformat())
    page.fill("#end", drought_end(stack))
    page.locator("form:has(#start) button[type=submit]").click()
    page.wait_for_url("**start=*")
    page.locator("[data-chart=history] canvas").wait_for()
    with page.expect_download() as info:
        page.click("#csv")
    download = info.value
    assert download.suggested_filename.startswith("indicators-") and \
        download.suggested_filename.endswith(".csv")
    path = artifacts / download.suggested_filename
    download.save_as(str(path))
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    city = {r["key"]: r for r in rows if r["scope"] == "city"}
    assert city["digitisation_level_pct"]["scope_name_zh"] == "朔州市"
    assert float(city["digitisation_level_pct"]["value"]) > 0
    assert {r["scope"] for r in rows} >= {"city", "shuocheng", "huairen"}
    page.click("text=立即生成快照")
    page.locator(".flash", has_text="已生成快照").wait_for()
    assert page.locator("#snapshots tbody tr").count() >= 4
    shot(page, artifacts, "15-indicators")
    problems.check(allow=("status of 403",))


def test_switch_language(server, context, stack, artifacts):
    problems = Problems()
    page = problems.watch(context.new_page())
    sign_in(page, server, stack.tokens["admin"])
    page.click("a[hreflang=en]")
    sync_api.expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.locator("nav a").all_inner_texts() == [
        "Overview", "Alerts", "Sites", "Devices", "Plan indicators"]
    assert page.locator("h1").inner_text() == "Overview"
    page.locator("#live-status", has_text="Live updates connected").wait_for()
    shot(page, artifacts, "16-overview-en")
    page.click("nav >> text=Alerts")  # the choice sticks (cookie)
    assert page.locator("h1").inner_text() == "Alerts"
    assert page.get_attribute("html", "lang") == "en"
    page.goto(f"{server.url}/web/indicators")
    assert "agricultural production digitisation level" in page.locator("#city-indicators").inner_text()
    shot(page, artifacts, "17-indicators-en")
    page.click("a[hreflang=zh-CN]")
    sync_api.expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    assert page.locator("h1").inner_text() == "规划指标"
    problems.check()


def test_small_screen_has_no_sideways_scrolling(browser, server, stack, artifacts):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                              timezone_id="Asia/Shanghai", is_mobile=True, has_touch=True)
    try:
        page = ctx.new_page()
        sign_in(page, server, stack.tokens["admin"])
        for name, path in (("18-mobile-overview", "/web/"),
                           ("19-mobile-field", f"/web/sites/demo-shuocheng-01-f1?end={drought_end(stack)}")):
            page.goto(server.url + path)
            page.wait_for_load_state("load")
            time.sleep(0.5)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, (path, overflow)
            shot(page, artifacts, name)
    finally:
        ctx.close()


WEIGHED_PAGES = {
    "overview": "/web/",
    "alerts": "/web/alerts?state=",
    "field (90 days)": "/web/sites/demo-shuocheng-01-f1?range=90d&end={end}",
    "greenhouse (30 days)": "/web/sites/demo-shuocheng-01-g1?range=30d&end={end}",
    "devices": "/web/devices",
    "indicators": "/web/indicators",
}


def test_first_view_of_every_page_is_under_1_mb(browser, server, stack, artifacts):
    """Transferred bytes (compressed, headers included) of a first view with an empty cache,
    as the browser's Performance API reports them."""
    weights: dict[str, dict[str, int]] = {}
    for name, path in WEIGHED_PAGES.items():
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            ctx.add_cookies([{"name": SESSION_COOKIE,
                              "value": page_session(stack.meta, stack.tokens["admin"]),
                              "url": f"{server.url}/web/"}])
            page = ctx.new_page()
            page.goto(server.url + path.format(end=drought_end(stack)))
            page.wait_for_load_state("load")
            time.sleep(0.3)
            weights[name] = page.evaluate("""() => {
                const nav = performance.getEntriesByType('navigation')[0];
                const res = performance.getEntriesByType('resource');
                return {transferred: nav.transferSize + res.reduce((s, r) => s + r.transferSize, 0),
                        html: nav.transferSize, html_decoded: nav.decodedBodySize,
                        requests: 1 + res.length};
            }""")
        finally:
            ctx.close()
    (artifacts / "page_weights.json").write_text(json.dumps(weights, indent=2, ensure_ascii=False))
    print(json.dumps(weights, indent=2, ensure_ascii=False))
    for name, w in weights.items():
        assert 0 < w["transferred"] < MB, (name, w)
        assert w["html"] < w["html_decoded"], f"{name}: HTML not compressed"
