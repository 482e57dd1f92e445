"""The zh-CN text of an alert notification, shared by every channel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from analytics.alerts.rules import Severity
from analytics.alerts.transitions import Transition, TransitionKind
from storage.clock import cst_datetime

__all__ = ["SEVERITY_ZH", "AlertMessage", "alert_message", "truncate_utf8"]

SEVERITY_ZH = {Severity.INFO: "提示", Severity.WARNING: "警告", Severity.CRITICAL: "严重"}
KIND_ZH = {TransitionKind.OPENED: "新告警", TransitionKind.SEVERITY_CHANGED: "告警级别变化",
           TransitionKind.ACKNOWLEDGED: "告警已确认", TransitionKind.RESOLVED: "告警已解除"}


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One alert as people read it: a subject line and ``(label, value)`` lines, in zh-CN."""

    subject: str
    lines: tuple[tuple[str, str], ...]
    link: str

    def text(self) -> str:
        """Plain text: one ``label：value`` per line, then the link."""
        return "\n".join([*(f"{k}：{v}" for k, v in self.lines), f"详情：{self.link}"]) + "\n"

    def markdown(self) -> str:
        """Markdown (heading, one bold label per line, link) as both robots render it."""
        body = "\n".join(f"> **{k}**：{v}" for k, v in self.lines)
        return f"### {self.subject}\n{body}\n\n[查看告警]({self.link})"


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:g} {unit}".rstrip()


def alert_message(t: Transition, *, page_base_url: str,
                  unit_of: Callable[[Transition], str] = lambda _t: "") -> AlertMessage:
    """The message of a transition: severity, what happened, site/farm/county, value and
    threshold with ``unit_of(t)``, time in China Standard Time (UTC+8) and the link to the
    alert's page ``{page_base_url}/alerts/{alert_id}``."""
    level = SEVERITY_ZH[t.severity]
    unit = unit_of(t)
    lines = (
        ("级别", level),
        ("类型", KIND_ZH[t.kind]),
        ("地点", f"县 {t.county_id or '—'} / 农场 {t.farm_id or '—'} / 站点 {t.site_id or '—'}"),
        ("设备", t.device_id or t.subject_id),
        ("数值", _value(t.value, unit)),
        ("阈值", _value(t.threshold, unit)),
        ("时间", cst_datetime(t.ts_ms).strftime("%Y-%m-%d %H:%M:%S") + " (北京时间)"),
    )
    link = f"{page_base_url.rstrip('/')}/alerts/{t.alert_id if t.alert_id is not None else ''}"
    return AlertMessage(f"【{level}】{t.title_zh}", lines, link)


def truncate_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, never inside a character."""
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes].decode(errors="ignore")
