"""SMS through Alibaba Cloud SendSms against a loopback server that recomputes the RPC v1.0
HMAC-SHA1 signature from the canonicalised query, as the documentation describes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from analytics.alerts.channels import ChannelNotifier
from analytics.alerts.channels.aliyun_sms import AliyunSmsProvider, percent_encode
from analytics.alerts.channels.build import configured_channels
from analytics.alerts.channels.sms import SmsChannel
from analytics.alerts.notify import RetryPolicy
from farmtel.settings import Settings
from tests.unit.analytics.alerts._channel_servers import TITLE_ZH, AliyunSmsServer, critical_alert

FAST = RetryPolicy(max_attempts=4, backoff_s=0.01, backoff_max_s=0.05)
KEY_ID, SECRET = "LTAI5tTestKeyId", "testSecret*~ /+="
PHONES = ["13800000000", "13900000000"]


@pytest.fixture
def aliyun() -> Iterator[AliyunSmsServer]:
    s = AliyunSmsServer(KEY_ID, SECRET)
    yield s
    s.close()


def provider(base_url: str, secret: str = SECRET) -> AliyunSmsProvider:
    return AliyunSmsProvider(KEY_ID, secret, "农情监测", "SMS_123456789", base_url=base_url)


def test_percent_encoding_is_rfc3986() -> None:
    assert percent_encode("a b*c~d/e+f=") == "a%20b%2Ac~d%2Fe%2Bf%3D"
    assert percent_encode("严重") == "%E4%B8%A5%E9%87%8D"


def test_a_critical_alert_reaches_phones_by_sms_with_chinese_intact(
        aliyun: AliyunSmsServer) -> None:
    n = ChannelNotifier(SmsChannel(provider(aliyun.base_url), PHONES,
                                   unit_of=lambda _t: "ppm"), policy=FAST)
    n.notify([critical_alert()])
    assert n.flush()
    n.close()
    [result] = n.results()
    assert (result.channel, result.recipient, result.delivered, result.attempts) == \
        ("sms", "13800000000,13900000000", True, 1)
    assert result.answer.startswith("Code OK")
    [req] = aliyun.accepted()
    p = aliyun.params(req)
    assert (p["PhoneNumbers"], p["SignName"], p["TemplateCode"]) == \
        (",".join(PHONES), "农情监测", "SMS_123456789")
    assert p["Timestamp"].endswith("Z")
    assert json.loads(p["TemplateParam"]) == {
        "level": "严重", "title": TITLE_ZH[:35], "site": "site-1", "value": "31ppm",
        "time": "05-01 08:00"}


def test_a_wrong_signature_is_refused(aliyun: AliyunSmsServer) -> None:
    n = ChannelNotifier(SmsChannel(provider(aliyun.base_url, "wrong"), PHONES), policy=FAST)
    result = n.send(critical_alert())
    n.close()
    assert (result.delivered, result.attempts) == (False, 1)
    assert result.answer.startswith("Code SignatureDoesNotMatch")


def test_the_server_refuses_a_tampered_request(aliyun: AliyunSmsServer) -> None:
    """The test server really checks: a correctly signed URL with one parameter changed."""
    url = provider(aliyun.base_url).request_url(PHONES, {"level": "严重"})
    tampered = httpx.get(url.replace("13800000000", "13800000001", 1))
    assert tampered.json()["Code"] == "SignatureDoesNotMatch"
    assert httpx.get(url).json()["Code"] == "OK"
    assert httpx.get(url).json()["Code"] == "SignatureNonceUsed"  # replay refused


def test_500_is_retried() -> None:
    server = AliyunSmsServer(KEY_ID, SECRET, fail_first=2)
    try:
        p = AliyunSmsProvider(KEY_ID, SECRET, "农情监测", "SMS_1", base_url=server.base_url,
                              clock=lambda: datetime(2026, 5, 1, tzinfo=UTC))
        result = ChannelNotifier(SmsChannel(p, PHONES), policy=FAST).send(critical_alert())
    finally:
        server.close()
    assert (result.delivered, result.attempts) == (True, 3)
    assert [r.status for r in server.requests] == [500, 500, 200]


def test_settings_configure_every_channel(monkeypatch: pytest.MonkeyPatch,
                                          aliyun: AliyunSmsServer) -> None:
    """FARMTEL_* settings (as the README lists them) build the four channels; SMS, pointed at
    the loopback server through its base URL, delivers."""
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": "2525", "SMTP_FROM": "farmtel@example.cn",
           "WECOM_ROBOT_KEY": "k", "DINGTALK_ACCESS_TOKEN": "t", "DINGTALK_SECRET": "SECx",
           "ALIYUN_ACCESS_KEY_ID": KEY_ID, "ALIYUN_ACCESS_KEY_SECRET": SECRET,
           "ALIYUN_SMS_SIGN_NAME": "农情监测", "ALIYUN_SMS_TEMPLATE_CODE": "SMS_1",
           "ALIYUN_SMS_BASE_URL": aliyun.base_url, "NOTIFY_BACKOFF_S": "0.01"}
    for k, v in env.items():
        monkeypatch.setenv(f"FARMTEL_{k}", v)
    notifiers = configured_channels(Settings(), email_to=["a@example.cn"], sms_phones=PHONES)
    assert [n.channel.name for n in notifiers] == ["email", "wecom", "dingtalk", "sms"]
    assert notifiers[3].send(critical_alert()).delivered
    for n in notifiers:
        n.close()
    assert configured_channels(Settings(), email_to=[], sms_phones=[])[-1].channel.name == \
        "dingtalk"  # e-mail and SMS need recipients
