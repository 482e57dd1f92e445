"""DingTalk (钉钉) custom robot with a signed secret (加签): a markdown message per alert.

Formats: security settings (自定义机器人安全设置,
https://open.dingtalk.com/document/orgapp/customize-robot-security-settings):
``sign = urlEncode(base64(HmacSHA256(key=secret, msg=f"{timestamp}\\n{secret}")))`` with
``timestamp`` in ms, sent as ``POST {base}/robot/send?access_token=T&timestamp=ms&sign=S``
(DingTalk refuses a timestamp more than an hour off). Message
(https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages):
``{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}``; the answer
``{"errcode": 0, "errmsg": "ok"}`` is success; 130101 (send too fast, 20/minute) is retried.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from urllib.parse import quote

import httpx

from analytics.alerts.channels.base import RobotChannel, post_json
from analytics.alerts.notify import Attempt
from analytics.alerts.transitions import Transition
from storage.clock import now_ms

__all__ = ["DINGTALK_RATE_LIMITED", "DingTalkChannel", "dingtalk_sign"]

DINGTALK_RATE_LIMITED = 130101


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """The URL-encoded ``sign`` query value for ``timestamp_ms`` (as documented)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(),
                      hashlib.sha256).digest()
    return quote(base64.b64encode(digest).decode(), safe="")


class DingTalkChannel(RobotChannel):
    """Posts each alert to a DingTalk custom robot, signed with its secret.

    :param access_token: the robot's token; :param secret: its ``SEC…`` signing secret.
    :param base_url: ``https://oapi.dingtalk.com``; :param timeout_s: per request [s].
    """

    name = "dingtalk"

    def __init__(self, access_token: str, secret: str, *,
                 base_url: str = "https://oapi.dingtalk.com", timeout_s: float = 5.0,
                 page_base_url: str = "http://localhost:8000",
                 unit_of: Callable[[Transition], str] = lambda _t: "",
                 clock_ms: Callable[[], int] = now_ms,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._base = f"{base_url.rstrip('/')}/robot/send?access_token={quote(access_token, safe='')}"
        self._secret = secret
        self._clock_ms = clock_ms
        super().__init__(timeout_s=timeout_s, page_base_url=page_base_url, unit_of=unit_of,
                         transport=transport)

    def payload(self, t: Transition) -> dict[str, object]:
        """The documented markdown message of ``t``."""
        m = self.message(t)
        return {"msgtype": "markdown", "markdown": {"title": m.subject, "text": m.markdown()}}

    def attempt(self, t: Transition) -> Attempt:
        """One signed POST (a fresh timestamp and sign per attempt)."""
        ts = self._clock_ms()
        url = f"{self._base}&timestamp={ts}&sign={dingtalk_sign(ts, self._secret)}"
        return post_json(self._client, url, self.payload(t),
                         retry_codes=frozenset({DINGTALK_RATE_LIMITED}))
