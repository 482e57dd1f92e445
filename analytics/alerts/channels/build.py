"""The configured channels (``FARMTEL_SMTP_*``, ``FARMTEL_WECOM_*``, ``FARMTEL_DINGTALK_*``,
``FARMTEL_ALIYUN_*``), each as a background :class:`ChannelNotifier`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from analytics.alerts.channels.aliyun_sms import AliyunSmsProvider
from analytics.alerts.channels.base import Channel, ChannelNotifier, SendResult
from analytics.alerts.channels.dingtalk import DingTalkChannel
from analytics.alerts.channels.sms import SmsChannel
from analytics.alerts.channels.smtp import SmtpChannel
from analytics.alerts.channels.wecom import WeComChannel
from analytics.alerts.notify import RetryPolicy
from analytics.alerts.transitions import Transition
from farmtel.settings import Settings

__all__ = ["configured_channels"]


def configured_channels(settings: Settings, *, email_to: Sequence[str] = (),
                        sms_phones: Sequence[str] = (),
                        unit_of: Callable[[Transition], str] = lambda _t: "",
                        on_result: Callable[[SendResult], None] | None = None,
                        ) -> list[ChannelNotifier]:
    """One notifier per channel whose settings are complete (e-mail and SMS also need
    recipients: until subscriptions exist, the caller names them)."""
    s, link = settings, settings.alert_page_base_url
    channels: list[Channel] = []
    if s.smtp_host and s.smtp_from and email_to:
        channels.append(SmtpChannel(s.smtp_host, s.smtp_port, s.smtp_from, email_to,
                                    user=s.smtp_user, password=s.smtp_password,
                                    starttls=s.smtp_starttls, timeout_s=s.notify_timeout_s,
                                    page_base_url=link, unit_of=unit_of))
    if s.wecom_robot_key:
        channels.append(WeComChannel(s.wecom_robot_key, base_url=s.wecom_base_url,
                                     timeout_s=s.notify_timeout_s, page_base_url=link,
                                     unit_of=unit_of))
    if s.dingtalk_access_token and s.dingtalk_secret:
        channels.append(DingTalkChannel(s.dingtalk_access_token, s.dingtalk_secret,
                                        base_url=s.dingtalk_base_url,
                                        timeout_s=s.notify_timeout_s, page_base_url=link,
                                        unit_of=unit_of))
    if (s.aliyun_access_key_id and s.aliyun_access_key_secret and s.aliyun_sms_sign_name
            and s.aliyun_sms_template_code and sms_phones):
        provider = AliyunSmsProvider(s.aliyun_access_key_id, s.aliyun_access_key_secret,
                                     s.aliyun_sms_sign_name, s.aliyun_sms_template_code,
                                     base_url=s.aliyun_sms_base_url,
                                     region_id=s.aliyun_sms_region_id,
                                     timeout_s=s.notify_timeout_s)
        channels.append(SmsChannel(provider, sms_phones, unit_of=unit_of))
    policy = RetryPolicy(s.notify_max_attempts, s.notify_backoff_s)
    return [ChannelNotifier(c, policy=policy, on_result=on_result) for c in channels]
