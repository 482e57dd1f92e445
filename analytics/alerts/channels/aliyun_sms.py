"""Alibaba Cloud SMS (阿里云短信服务) ``SendSms``, RPC API version 2017-05-25.

Formats: SendSms (https://help.aliyun.com/zh/sms/developer-reference/api-dysmsapi-2017-05-25-sendsms):
``PhoneNumbers`` (comma-separated), ``SignName``, ``TemplateCode``, ``TemplateParam`` (JSON);
the answer ``{"Code": "OK", "Message", "BizId", "RequestId"}`` is success, any other Code a
failure (``Throttling*``/``isv.BUSINESS_LIMIT_CONTROL`` rate limits and ``ServiceUnavailable``
are retried). Signature, RPC style v1.0 (https://www.alibabacloud.com/help/doc-detail/127287.htm):
parameters sorted by name, each name and value percent-encoded per RFC 3986 (UTF-8; only
``A-Za-z0-9-_.~`` kept), joined ``k=v&…``; ``StringToSign = "GET&%2F&" +
percentEncode(canonicalised)``; ``Signature = base64(HMAC-SHA1(AccessKeySecret + "&",
StringToSign))``, added as the last query parameter (percent-encoded).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from analytics.alerts.notify import Attempt, retryable_status

__all__ = ["AliyunSmsProvider", "aliyun_signature", "canonical_query", "percent_encode"]

_RETRY_CODES = ("Throttling", "isv.BUSINESS_LIMIT_CONTROL", "ServiceUnavailable")


def percent_encode(s: str) -> str:
    """RFC 3986 percent-encoding of UTF-8 ``s`` (space → %20, ``*`` → %2A, ``~`` kept)."""
    return quote(s, safe="~")


def canonical_query(params: Mapping[str, str]) -> str:
    """The canonicalised query string: sorted by name, encoded names and values."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def aliyun_signature(params: Mapping[str, str], secret: str, method: str = "GET") -> str:
    """``Signature`` of ``params`` (without Signature) for ``method``, base64 (not encoded)."""
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunSmsProvider:
    """Sends template SMS through Alibaba Cloud's ``SendSms``.

    :param access_key_id: and :param access_key_secret: a RAM user's AccessKey.
    :param sign_name: the approved signature (签名); :param template_code: ``SMS_…``.
    :param base_url: ``https://dysmsapi.aliyuncs.com``; :param region_id: ``cn-hangzhou``.
    :param timeout_s: per request [s].
    """

    def __init__(self, access_key_id: str, access_key_secret: str, sign_name: str,
                 template_code: str, *, base_url: str = "https://dysmsapi.aliyuncs.com",
                 region_id: str = "cn-hangzhou", timeout_s: float = 5.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 transport: httpx.BaseTransport | None = None) -> None:
        self._key_id, self._secret = access_key_id, access_key_secret
        self._sign_name, self._template = sign_name, template_code
        self._base, self._region, self._clock = base_url.rstrip("/"), region_id, clock
        self._client = httpx.Client(timeout=timeout_s, transport=transport)

    def request_url(self, phones: Sequence[str], params: Mapping[str, str]) -> str:
        """The signed GET URL (fresh nonce and timestamp each call)."""
        query = {
            "AccessKeyId": self._key_id, "Action": "SendSms", "Format": "JSON",
            "PhoneNumbers": ",".join(phones), "RegionId": self._region,
            "SignName": self._sign_name, "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex, "SignatureVersion": "1.0",
            "TemplateCode": self._template,
            "TemplateParam": json.dumps(dict(params), ensure_ascii=False, separators=(",", ":")),
            "Timestamp": self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        signature = percent_encode(aliyun_signature(query, self._secret))
        return f"{self._base}/?{canonical_query(query)}&Signature={signature}"

    def send_sms(self, phones: Sequence[str], params: Mapping[str, str]) -> Attempt:
        """One signed SendSms call."""
        try:
            r = self._client.get(self.request_url(phones, params))
        except httpx.HTTPError as exc:
            return Attempt(False, True, f"{type(exc).__name__}: {exc}")
        try:
            answer = r.json()
            code = str(answer["Code"])
        except (ValueError, KeyError, TypeError):
            return Attempt(False, retryable_status(r.status_code),
                           f"HTTP {r.status_code}: {r.text[:200]}")
        text = f"Code {code}: {answer.get('Message', '')}"
        if code == "OK":
            return Attempt(True, False, f"{text} (BizId {answer.get('BizId', '')})")
        return Attempt(False, code.startswith(_RETRY_CODES) or retryable_status(r.status_code),
                       text)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
