"""People channels against real loopback servers: e-mail (aiosmtpd), WeCom and DingTalk robots
(HTTP servers that check the documented format and recompute DingTalk's signature)."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from analytics.alerts.channels import ChannelNotifier, SendResult
from analytics.alerts.channels.dingtalk import DingTalkChannel, dingtalk_sign
from analytics.alerts.channels.smtp import SmtpChannel
from analytics.alerts.channels.wecom import WeComChannel
from analytics.alerts.notify import FanoutNotifier, RetryPolicy
from analytics.alerts.transitions import Transition
from tests.unit.analytics.alerts._channel_servers import (
    TITLE_ZH,
    DingTalkServer,
    WeComServer,
    critical_alert,
    free_port,
    smtp_server,
    wait_for,
)

FAST = RetryPolicy(max_attempts=4, backoff_s=0.01, backoff_max_s=0.05)
KEY, TOKEN, SECRET = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa", "tok-1", "SEC0123456789abcdef"
PAGES = "https://farmtel.example.cn"


def ppm(_t: Transition) -> str:
    return "ppm"


@pytest.fixture
def wecom() -> Iterator[WeComServer]:
    s = WeComServer(KEY)
    yield s
    s.close()


@pytest.fixture
def dingtalk() -> Iterator[DingTalkServer]:
    s = DingTalkServer(TOKEN, SECRET)
    yield s
    s.close()


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_dingtalk_sign_matches_a_published_vector() -> None:
    # the dingding crate's test of the documented algorithm (docs.rs/crate/dingding, signature.rs)
    assert dingtalk_sign(1700000000000, "secret") == \
        "OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D"


def test_a_critical_alert_reaches_email_wecom_and_dingtalk_once_each(
        wecom: WeComServer, dingtalk: DingTalkServer) -> None:
    results: list[SendResult] = []
    with smtp_server() as (sink, port):
        notifiers = [
            ChannelNotifier(SmtpChannel("127.0.0.1", port, "farmtel@example.cn",
                                        ["agronomist@example.cn"], page_base_url=PAGES,
                                        unit_of=ppm), policy=FAST, on_result=results.append),
            ChannelNotifier(WeComChannel(KEY, base_url=wecom.base_url, page_base_url=PAGES,
                                         unit_of=ppm), policy=FAST, on_result=results.append),
            ChannelNotifier(DingTalkChannel(TOKEN, SECRET, base_url=dingtalk.base_url,
                                            page_base_url=PAGES, unit_of=ppm),
                            policy=FAST, on_result=results.append),
        ]
        fanout = FanoutNotifier(notifiers)
        fanout.notify([critical_alert()])
        assert all(n.flush() for n in notifiers)
        fanout.close()

        assert len(sink.messages) == 1
        env = sink.messages[0]
        assert env.rcpt_tos == ["agronomist@example.cn"]
        assert isinstance(env.content, bytes)
        raw_subject = [ln for ln in env.content.split(b"\r\n") if ln.startswith(b"Subject:")]
        assert raw_subject[0].startswith(b"Subject: =?utf-8?")  # RFC 2047 encoded word
        msg = parsed(env.content)
        assert msg["Subject"] == f"【严重】{TITLE_ZH}"
        assert msg.get_content_type() == "text/plain"
        assert msg.get_content_charset() == "utf-8"
        body = msg.get_content()
        for text in ("级别：严重", "县 shuocheng / 农场 farm-1 / 站点 site-1", "数值：31 ppm",
                     "阈值：25 ppm", "时间：2026-05-01 08:00:00 (北京时间)",
                     f"详情：{PAGES}/alerts/7"):
            assert text in body

    assert len(wecom.requests) == len(wecom.accepted()) == 1
    content = wecom.accepted()[0]
    w = json.loads(content.body)
    assert w["msgtype"] == "markdown" and TITLE_ZH in w["markdown"]["content"]
    assert f"({PAGES}/alerts/7)" in w["markdown"]["content"]
    assert len(dingtalk.requests) == len(dingtalk.accepted()) == 1
    d = json.loads(dingtalk.accepted()[0].body)
    assert d["markdown"]["title"] == f"【严重】{TITLE_ZH}"
    assert "31 ppm" in d["markdown"]["text"]

    assert sorted((r.channel, r.delivered, r.attempts, r.alert_id) for r in results) == [
        ("dingtalk", True, 1, 7), ("email", True, 1, 7), ("wecom", True, 1, 7)]
    assert {r.channel: r.answer for r in results}["wecom"] == "errcode 0: ok"


def test_a_wrong_dingtalk_signature_is_refused(dingtalk: DingTalkServer) -> None:
    n = ChannelNotifier(DingTalkChannel(TOKEN, "SEC-wrong", base_url=dingtalk.base_url),
                        policy=FAST)
    result = n.send(critical_alert())
    n.close()
    assert not result.delivered and result.attempts == 1  # refused, not retried
    assert result.answer == "errcode 310000: sign not match"
    assert dingtalk.accepted() == []


def test_a_wrong_wecom_key_is_refused(wecom: WeComServer) -> None:
    n = ChannelNotifier(WeComChannel("other-key", base_url=wecom.base_url), policy=FAST)
    result = n.send(critical_alert())
    n.close()
    assert (result.delivered, result.attempts) == (False, 1)
    assert result.answer.startswith("errcode 93000")


def test_wecom_rate_limit_is_retried() -> None:
    server = WeComServer(KEY, rate_limit_first=2)
    try:
        n = ChannelNotifier(WeComChannel(KEY, base_url=server.base_url), policy=FAST)
        result = n.send(critical_alert())
        n.close()
    finally:
        server.close()
    assert (result.delivered, result.attempts) == (True, 3)
    assert [r.answer["errcode"] for r in server.requests] == [45009, 45009, 0]
    assert n.deliveries()[("wecom", "retried")] == 2


def test_wecom_content_is_cut_to_4096_utf8_bytes(wecom: WeComServer) -> None:
    long_title = "霜冻预警" * 600  # 7200 bytes
    alert = Transition(**{**{f: getattr(critical_alert(), f) for f in Transition.__slots__},
                          "title_zh": long_title})
    n = ChannelNotifier(WeComChannel(KEY, base_url=wecom.base_url), policy=FAST)
    assert n.send(alert).delivered
    n.close()
    content = json.loads(wecom.accepted()[0].body)["markdown"]["content"]
    assert 4090 <= len(content.encode()) <= 4096 and content.startswith("### 【严重】霜冻预警")


def test_email_transient_4xx_is_retried_then_delivered() -> None:
    with smtp_server(fail_first=1) as (sink, port):
        n = ChannelNotifier(SmtpChannel("127.0.0.1", port, "farmtel@example.cn",
                                        ["a@example.cn"]), policy=FAST)
        result = n.send(critical_alert())
        n.close()
    assert (result.delivered, result.attempts) == (True, 2)
    assert len(sink.messages) == 1


def test_an_outage_is_retried_and_delays_nothing_else(
        wecom: WeComServer, dingtalk: DingTalkServer) -> None:
    """Server down, slow (held past the client timeout) and answering 500: the engine's
    ``notify`` returns while they are still failing, the healthy channel delivers meanwhile,
    and each outage is retried (the slow and 500 ones then deliver)."""
    slow = DingTalkServer(TOKEN, SECRET, hold_first=1)
    broken = WeComServer(KEY, fail_first=2)
    down_port = free_port()
    results: list[SendResult] = []
    try:
        notifiers = {
            "down": ChannelNotifier(SmtpChannel("127.0.0.1", down_port, "f@example.cn",
                                                ["a@example.cn"], timeout_s=1.0),
                                    policy=FAST, on_result=results.append),
            "slow": ChannelNotifier(DingTalkChannel(TOKEN, SECRET, base_url=slow.base_url,
                                                    timeout_s=0.3),
                                    policy=FAST, on_result=results.append),
            "500": ChannelNotifier(WeComChannel(KEY, base_url=broken.base_url),
                                   policy=RetryPolicy(4, 0.2, 0.4), on_result=results.append),
            "healthy": ChannelNotifier(DingTalkChannel(TOKEN, SECRET,
                                                       base_url=dingtalk.base_url),
                                       policy=FAST, on_result=results.append),
        }
        fanout = FanoutNotifier(list(notifiers.values()))
        fanout.notify([critical_alert()])  # the engine thread: returns at once
        # while the slow server still holds its first request, the healthy robot has it
        assert wait_for(lambda: len(dingtalk.accepted()) == 1)
        assert not slow.gate.is_set() and notifiers["slow"].results() == []
        assert wait_for(lambda: len(slow.requests) >= 2)  # timed out, retried
        slow.gate.set()
        assert all(n.flush(30) for n in notifiers.values())
        fanout.close()
    finally:
        slow.close()
        broken.close()

    by = {r.channel + ("-slow" if r.recipient == "dingtalk robot" and r.attempts > 1 else ""): r
          for r in results}
    assert by["email"].delivered is False and by["email"].attempts == FAST.max_attempts
    assert "ConnectionRefusedError" in by["email"].answer
    assert by["dingtalk-slow"].delivered and by["dingtalk-slow"].attempts >= 2
    assert by["wecom"].delivered and by["wecom"].attempts == 3
    assert [r.status for r in broken.requests] == [500, 500, 200]
