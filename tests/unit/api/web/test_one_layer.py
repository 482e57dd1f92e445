"""A JSON route and its page are two views of one use case: same caller, same data."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.usecases import alerts as alert_cases
from api.usecases import devices as device_cases
from api.web.render import fmt_cst
from tests.unit.api.web.stack import WebStack, sign_in

DEVICE_ROW = re.compile(r'<th scope="row">(?:<a href="[^"]*">)?([^<]+)')
ALERT_LINK = re.compile(r'<td class="wide"><a href="/web/alerts/(\d+)">')


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _spy(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[str]:
    """Record the caller of every call of ``module.name`` (a use case)."""
    calls: list[str] = []
    real: Callable[..., Any] = getattr(module, name)

    def spy(session: Any, *args: Any, **kwargs: Any) -> Any:
        principal = next(a for a in args if hasattr(a, "role"))
        calls.append(principal.name)
        return real(session, *args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


@pytest.mark.parametrize("who", ["admin", "agronomist"])
def test_device_list_and_devices_page_show_the_same_devices(
        client: TestClient, stack: WebStack, monkeypatch: pytest.MonkeyPatch, who: str) -> None:
    calls = _spy(monkeypatch, device_cases, "device_statuses")
    token = stack.tokens[who]
    api = client.get("/api/v1/devices", headers=_bearer(token))
    assert api.status_code == 200
    sign_in(client, token)
    page = client.get("/web/devices")
    assert page.status_code == 200
    listed = [d["device_id"] for d in api.json()]
    assert listed and DEVICE_ROW.findall(page.text) == listed
    assert len(calls) == 2 and len(set(calls)) == 1  # one use case, same caller, both surfaces


@pytest.mark.parametrize("who", ["admin", "agronomist"])
def test_alert_inbox_and_alerts_page_show_the_same_alerts(
        client: TestClient, stack: WebStack, monkeypatch: pytest.MonkeyPatch, who: str) -> None:
    calls = _spy(monkeypatch, alert_cases, "list_alerts")
    token = stack.tokens[who]
    api = client.get("/api/v1/alerts", params={"state": "open", "limit": 200},
                     headers=_bearer(token))
    assert api.status_code == 200
    sign_in(client, token)
    page = client.get("/web/alerts", params={"state": "open"})
    assert page.status_code == 200
    assert [int(i) for i in ALERT_LINK.findall(page.text)] == [a["id"] for a in api.json()]
    assert len(calls) == 2


def test_one_alert_is_the_same_alert_on_both_surfaces(client: TestClient, stack: WebStack) -> None:
    token = stack.tokens["agronomist"]
    first = client.get("/api/v1/alerts", params={"limit": 1}, headers=_bearer(token)).json()[0]
    detail = client.get(f"/api/v1/alerts/{first['id']}", headers=_bearer(token)).json()
    sign_in(client, token)
    page = client.get(f"/web/alerts/{first['id']}")
    assert page.status_code == 200 and first["title_zh"] in page.text
    assert detail["events"]
    for event in detail["events"]:  # the audit trail, as the page shows its times
        assert fmt_cst(datetime.fromisoformat(event["at"])) in page.text
    bureau = client.get(f"/api/v1/alerts/{first['id']}", headers=_bearer(stack.tokens["bureau"]))
    assert bureau.status_code == 403
