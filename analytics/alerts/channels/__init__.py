"""Channels that reach people: e-mail (SMTP), WeCom and DingTalk group robots, SMS.

Each channel formats one alert transition in its provider's documented format and makes one
attempt (:class:`~analytics.alerts.notify.Attempt`); :class:`ChannelNotifier` runs a channel
in the background with the retry policy shared with the webhook notifier, and reports a
:class:`SendResult` per send.
"""

from analytics.alerts.channels.base import Channel, ChannelNotifier, SendResult
from analytics.alerts.channels.message import AlertMessage, alert_message

__all__ = ["AlertMessage", "Channel", "ChannelNotifier", "SendResult", "alert_message"]
