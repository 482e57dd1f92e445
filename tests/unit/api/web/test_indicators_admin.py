"""The indicators page: every row with its basis or the reason it is missing, how much of the
real agriculture the registry knows of, and the admin's form for official denominators."""

from __future__ import annotations

from tests.unit.api.web.stack import csrf_of, sign_in


def test_admin_enters_a_denominator_on_the_page(client, stack):
    sign_in(client, stack.tokens["admin"])
    html = client.get("/web/indicators").text
    assert "登记覆盖了多少实际农业" in html and "耕地红线 575.6万亩" in html
    assert "登记覆盖率" in html and "主要农作物化肥利用率" in html
    assert "no value entered for" in html  # a reported indicator without a value says why
    form = {"csrf": csrf_of(html), "scope": "youyu", "key": "farmland_mu", "value": "1500000",
            "year": "2024", "document": "右玉县统计年鉴2025", "section": "p. 88"}
    r = client.post("/web/indicators/denominators", data=form, follow_redirects=False)
    assert r.status_code == 303 and "saved=" in r.headers["location"]
    html = client.get("/web/indicators").text
    assert "右玉县统计年鉴2025, p. 88 (2024)" in html
    r = client.post("/web/indicators/denominators", data={**form, "value": "lots"},
                    follow_redirects=False)
    assert r.status_code == 422


def test_the_bureau_reads_but_does_not_enter(client, stack):
    sign_in(client, stack.tokens["bureau"])
    html = client.get("/web/indicators").text
    assert "登记覆盖了多少实际农业" in html and 'id="form-denominators"' not in html
    form = {"csrf": csrf_of(html), "scope": "city", "key": "farmland_mu", "value": "1",
            "year": "2024", "document": "x"}
    assert client.post("/web/indicators/denominators", data=form,
                       follow_redirects=False).status_code == 403
