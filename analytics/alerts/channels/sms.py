"""SMS: a short zh-CN template message per alert, through an :class:`SmsProvider`.

Providers send a pre-approved template (China requires a registered signature and template),
so the channel hands over named template parameters, not free text:
``level`` (严重/警告/提示), ``title``, ``site``, ``value``, ``time`` (CST, ``MM-DD HH:MM``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from analytics.alerts.channels.message import SEVERITY_ZH
from analytics.alerts.notify import Attempt
from analytics.alerts.transitions import Transition
from storage.clock import cst_datetime

__all__ = ["SmsChannel", "SmsProvider", "sms_params"]


class SmsProvider(Protocol):
    """An SMS gateway that sends one template message to some phone numbers."""

    def send_sms(self, phones: Sequence[str], params: Mapping[str, str]) -> Attempt:
        """One try; never raises for delivery problems."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def sms_params(t: Transition, unit_of: Callable[[Transition], str] = lambda _t: "",
               max_chars: int = 35) -> dict[str, str]:
    """The template parameters of ``t``, each cut to ``max_chars`` characters (providers
    limit a variable's length; Alibaba Cloud: 35 characters for most variable kinds)."""
    value = "—" if t.value is None else f"{t.value:g}{unit_of(t)}"
    params = {"level": SEVERITY_ZH[t.severity], "title": t.title_zh,
              "site": t.site_id or t.farm_id or t.county_id or "—", "value": value,
              "time": cst_datetime(t.ts_ms).strftime("%m-%d %H:%M")}
    return {k: v[:max_chars] for k, v in params.items()}


class SmsChannel:
    """Texts each alert to ``phones`` through ``provider``."""

    name = "sms"

    def __init__(self, provider: SmsProvider, phones: Sequence[str], *,
                 unit_of: Callable[[Transition], str] = lambda _t: "") -> None:
        self._provider, self._phones, self._unit_of = provider, tuple(phones), unit_of

    @property
    def recipient(self) -> str:
        """The phone numbers."""
        return ",".join(self._phones)

    def attempt(self, t: Transition) -> Attempt:
        """One provider call."""
        return self._provider.send_sms(self._phones, sms_params(t, self._unit_of))

    def close(self) -> None:
        """Close the provider."""
        self._provider.close()
