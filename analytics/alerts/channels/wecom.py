"""WeCom (企业微信) group robot: a markdown message per alert.

Format (群机器人配置说明, https://developer.work.weixin.qq.com/document/path/91770):
``POST {base}/cgi-bin/webhook/send?key=KEY`` with
``{"msgtype": "markdown", "markdown": {"content": ...}}``, content at most 4096 bytes of UTF-8;
the answer ``{"errcode": 0, "errmsg": "ok"}`` is success, any other errcode a failure;
45009 (接口调用超过限制, 20 messages/minute per robot) is retried
(global error codes: https://developer.work.weixin.qq.com/document/path/90313).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import httpx

from analytics.alerts.channels.base import RobotChannel, post_json
from analytics.alerts.channels.message import truncate_utf8
from analytics.alerts.notify import Attempt
from analytics.alerts.transitions import Transition

__all__ = ["WECOM_MAX_CONTENT_BYTES", "WECOM_RATE_LIMITED", "WeComChannel"]

WECOM_MAX_CONTENT_BYTES = 4096
WECOM_RATE_LIMITED = 45009


class WeComChannel(RobotChannel):
    """Posts each alert to a WeCom group robot.

    :param key: the robot's webhook key; :param base_url: ``https://qyapi.weixin.qq.com``.
    :param timeout_s: per-request timeout [s]. Other parameters as :class:`SmtpChannel`.
    """

    name = "wecom"

    def __init__(self, key: str, *, base_url: str = "https://qyapi.weixin.qq.com",
                 timeout_s: float = 5.0, page_base_url: str = "http://localhost:8000",
                 unit_of: Callable[[Transition], str] = lambda _t: "",
                 transport: httpx.BaseTransport | None = None) -> None:
        self._url = f"{base_url.rstrip('/')}/cgi-bin/webhook/send?key={quote(key, safe='')}"
        super().__init__(timeout_s=timeout_s, page_base_url=page_base_url, unit_of=unit_of,
                         transport=transport)

    def payload(self, t: Transition) -> dict[str, object]:
        """The documented markdown message of ``t``."""
        m = self.message(t)
        return {"msgtype": "markdown",
                "markdown": {"content": truncate_utf8(m.markdown(), WECOM_MAX_CONTENT_BYTES)}}

    def attempt(self, t: Transition) -> Attempt:
        """One POST."""
        return post_json(self._client, self._url, self.payload(t),
                         retry_codes=frozenset({WECOM_RATE_LIMITED}))
