"""Loopback provider servers for the channel tests: an aiosmtpd SMTP server and HTTP servers
that check WeCom, DingTalk and Alibaba Cloud SMS requests (format and signature, recomputed
here independently from the documentation) and answer success or the documented errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from analytics.alerts import Transition, TransitionKind
from analytics.alerts.rules import Severity, SubjectType
from tests.unit.analytics.alerts.helpers import T0

TITLE_ZH = "畜舍 site-1 氨气浓度高（31 ppm），请立即通风"


def critical_alert(alert_id: int = 7) -> Transition:
    """A critical alert opened at T0 (08:00 CST) with a Chinese title."""
    return Transition(
        kind=TransitionKind.OPENED, rule_id="barn.nh3_high", subject_type=SubjectType.DEVICE,
        subject_id="dev-1", severity=Severity.CRITICAL, ts_ms=T0, value=31.0, threshold=25.0,
        title_zh=TITLE_ZH, title_en="Barn site-1: ammonia high (31 ppm), ventilate now",
        device_id="dev-1", site_id="site-1", farm_id="farm-1", county_id="shuocheng",
        alert_id=alert_id)


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Any, timeout_s: float = 20.0) -> bool:
    """Poll ``cond()`` until true; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@dataclass
class Request:
    """One request as the server saw it, and what it answered."""

    method: str
    path: str
    raw_query: str
    body: bytes
    content_type: str
    status: int = 0
    answer: dict[str, Any] = field(default_factory=dict)


class ProviderServer:
    """A threaded HTTP server on a free loopback port. ``fail_first`` requests get HTTP 500;
    ``hold_first`` requests are held until :attr:`gate` is set (or 10 s); the rest go to
    :meth:`check`, which returns (status, JSON answer)."""

    def __init__(self, *, fail_first: int = 0, hold_first: int = 0) -> None:
        self.fail_first, self.hold_first = fail_first, hold_first
        self.gate = threading.Event()
        self.holding = threading.Event()  # a held request is in progress
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                url = urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                req = Request(self.command, url.path, url.query, self.rfile.read(n),
                              self.headers.get("Content-Type", ""))
                with server.lock:
                    index = len(server.requests)
                    server.requests.append(req)
                if index < server.hold_first:
                    server.holding.set()
                    server.gate.wait(10.0)
                if index < server.fail_first:
                    req.status, req.answer = 500, {"error": "internal"}
                else:
                    req.status, req.answer = server.check(req)
                data = json.dumps(req.answer, ensure_ascii=False).encode()
                try:
                    self.send_response(req.status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout)
                    pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def check(self, req: Request) -> tuple[int, dict[str, Any]]:
        """The provider's answer to a well-formed request."""
        raise NotImplementedError

    def accepted(self) -> list[Request]:
        """Requests answered with the provider's success."""
        with self.lock:
            return [r for r in self.requests if r.status == 200 and self.is_success(r.answer)]

    def is_success(self, answer: dict[str, Any]) -> bool:
        """Robots: errcode 0."""
        return answer.get("errcode") == 0

    def close(self) -> None:
        """Stop serving."""
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _json_markdown(req: Request) -> dict[str, Any] | None:
    if req.method != "POST" or not req.content_type.startswith("application/json"):
        return None
    body = json.loads(req.body.decode("utf-8"))
    if body.get("msgtype") != "markdown" or not isinstance(body.get("markdown"), dict):
        return None
    return body


class WeComServer(ProviderServer):
    """企业微信 group robot: ``POST /cgi-bin/webhook/send?key=KEY``, markdown content at most
    4096 UTF-8 bytes; ``rate_limit_first`` valid requests answer errcode 45009."""

    def __init__(self, key: str, *, rate_limit_first: int = 0, **kw: Any) -> None:
        self.key, self.rate_limit_first, self.valid = key, rate_limit_first, 0
        super().__init__(**kw)

    def check(self, req: Request) -> tuple[int, dict[str, Any]]:
        if req.path != "/cgi-bin/webhook/send" or parse_qs(req.raw_query).get("key") != [self.key]:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        body = _json_markdown(req)
        content = body["markdown"].get("content") if body else None
        if not isinstance(content, str) or len(content.encode()) > 4096:
            return 200, {"errcode": 40058, "errmsg": "invalid markdown content"}
        self.valid += 1
        if self.valid <= self.rate_limit_first:
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
        return 200, {"errcode": 0, "errmsg": "ok"}


class DingTalkServer(ProviderServer):
    """钉钉 custom robot with 加签: ``POST /robot/send?access_token&timestamp&sign``; the sign
    is recomputed as documented: urlEncode(base64(HmacSHA256(secret, f"{ts}\\n{secret}")))."""

    def __init__(self, token: str, secret: str, **kw: Any) -> None:
        self.token, self.secret = token, secret
        super().__init__(**kw)

    def check(self, req: Request) -> tuple[int, dict[str, Any]]:
        raw = dict(part.split("=", 1) for part in req.raw_query.split("&") if "=" in part)
        if req.path != "/robot/send" or raw.get("access_token") != self.token:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        ts = raw.get("timestamp", "")
        if not ts.isdigit() or abs(int(ts) - time.time() * 1000) > 3_600_000:
            return 200, {"errcode": 310000, "errmsg": "timestamp invalid"}
        mac = hmac.new(self.secret.encode(), f"{ts}\n{self.secret}".encode(),
                       hashlib.sha256).digest()
        if raw.get("sign") != quote(base64.b64encode(mac).decode(), safe=""):
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        body = _json_markdown(req)
        md = body["markdown"] if body else {}
        if not isinstance(md.get("title"), str) or not isinstance(md.get("text"), str):
            return 200, {"errcode": 40035, "errmsg": "缺少参数 markdown"}
        return 200, {"errcode": 0, "errmsg": "ok"}


def _rfc3986(s: str) -> str:
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        out.append(c if c.isascii() and (c.isalnum() or c in "-_.~") else f"%{b:02X}")
    return "".join(out)


class AliyunSmsServer(ProviderServer):
    """阿里云 SendSms (2017-05-25): a GET whose Signature is recomputed from the other
    parameters (sorted, RFC 3986-encoded, ``GET&%2F&`` + encoded, HMAC-SHA1 with secret+&)."""

    REQUIRED = ("AccessKeyId", "Action", "Format", "PhoneNumbers", "RegionId", "SignName",
                "SignatureMethod", "SignatureNonce", "SignatureVersion", "TemplateCode",
                "TemplateParam", "Timestamp", "Version")

    def __init__(self, key_id: str, secret: str, **kw: Any) -> None:
        self.key_id, self.secret = key_id, secret
        self.nonces: set[str] = set()
        super().__init__(**kw)

    def is_success(self, answer: dict[str, Any]) -> bool:
        return answer.get("Code") == "OK"

    def params(self, req: Request) -> dict[str, str]:
        """The decoded query parameters."""
        return {unquote(k): unquote(v) for k, v in
                (p.split("=", 1) for p in req.raw_query.split("&") if "=" in p)}

    def check(self, req: Request) -> tuple[int, dict[str, Any]]:
        p = self.params(req)
        missing = [k for k in self.REQUIRED if not p.get(k)]
        if req.method != "GET" or req.path != "/" or missing:
            return 400, {"Code": "MissingParameter", "Message": f"missing {missing}"}
        if (p["Action"], p["Version"], p["Format"], p["SignatureMethod"],
                p["SignatureVersion"]) != ("SendSms", "2017-05-25", "JSON", "HMAC-SHA1", "1.0"):
            return 400, {"Code": "InvalidParameter", "Message": "action/version/signature"}
        if p["AccessKeyId"] != self.key_id:
            return 404, {"Code": "InvalidAccessKeyId.NotFound", "Message": "key"}
        time.strptime(p["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        signature = p.pop("Signature", "")
        canonical = "&".join(f"{_rfc3986(k)}={_rfc3986(v)}" for k, v in sorted(p.items()))
        string_to_sign = "GET&%2F&" + _rfc3986(canonical)
        expected = base64.b64encode(hmac.new((self.secret + "&").encode(),
                                             string_to_sign.encode(), hashlib.sha1).digest())
        if signature != expected.decode():
            return 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature "
                         "is not matched with our calculation."}
        if p["SignatureNonce"] in self.nonces:
            return 400, {"Code": "SignatureNonceUsed", "Message": "nonce used"}
        self.nonces.add(p["SignatureNonce"])
        json.loads(p["TemplateParam"])
        return 200, {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0",
                     "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"}


class SmtpSink:
    """aiosmtpd handler: keeps each accepted message; the first ``fail_first`` DATA
    commands answer ``451`` (transient)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.tries = 0
        self.messages: list[Envelope] = []

    async def handle_DATA(self,  # noqa: N802 (aiosmtpd's hook name)
                           server: SMTP, session: Session, envelope: Envelope) -> str:
        self.tries += 1
        if self.tries <= self.fail_first:
            return "451 4.3.0 Try again later"
        self.messages.append(envelope)
        return "250 2.0.0 OK"


@contextmanager
def smtp_server(fail_first: int = 0) -> Iterator[tuple[SmtpSink, int]]:
    """A real SMTP server (aiosmtpd) on a free loopback port."""
    sink = SmtpSink(fail_first)
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()
