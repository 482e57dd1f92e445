"""Time windows and chart specifications: server-side downsampling to at most ~500 points.

A page asks the store for window aggregates (``RangeQuery`` with ``every_s``) whose window is
the smallest step of ``LADDER_S`` that keeps a chart at or under ``MAX_POINTS`` points, so a
90-day chart costs as little as a one-day one. Charts go to the browser as JSON specs that
``static/charts.js`` draws with uPlot; every chart also gets a text summary (a table) so its
content does not depend on seeing the drawing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from api.web.i18n import Translator
from storage.clock import DAY_MS, cst_date, cst_midnight_ms
from storage.telemetry import Aggregation, RangeQuery, TelemetryStore

RANGES: Final = {"1d": 1, "7d": 7, "30d": 30, "90d": 90}
DEFAULT_RANGE: Final = "7d"
MAX_POINTS: Final = 500
LADDER_S: Final = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800,
                   604800)


def pick_every(span_s: int, *, min_s: int = 60, max_points: int = MAX_POINTS) -> int:
    """The smallest ladder window ≥ ``min_s`` giving at most ``max_points`` windows in ``span_s``."""
    for step in LADDER_S:
        if step >= min_s and math.ceil(span_s / step) <= max_points:
            return step
    return max(LADDER_S[-1], math.ceil(span_s / max_points))


@dataclass(frozen=True, slots=True)
class Window:
    """A chart time range ``[start_ms, end_ms)`` and its aggregation window [s]."""

    key: str
    start_ms: int
    end_ms: int
    every_s: int
    end_day: date
    explicit_end: bool

    @property
    def max_windows(self) -> int:
        """An upper bound on windows in the range (the store query limit)."""
        return math.ceil((self.end_ms - self.start_ms) / (self.every_s * 1000)) + 2


def resolve_window(range_key: str | None, end_day: str | None, now_ms: int, *,
                   min_every_s: int = 60) -> Window:
    """The range named ``range_key`` (default 7 days) ending at the end of ``end_day`` (a CST
    ISO date; default now). Bad values fall back to the defaults."""
    key = range_key if range_key in RANGES else DEFAULT_RANGE
    days = RANGES[key]
    end_ms, explicit = now_ms, False
    if end_day:
        try:
            day = date.fromisoformat(end_day)
        except ValueError:
            day = None
        if day is not None and date(2000, 1, 1) <= day:
            end_ms, explicit = min(now_ms, cst_midnight_ms(day) + DAY_MS), True
    start_ms = end_ms - days * DAY_MS
    every = pick_every(days * 86_400, min_s=min_every_s)
    return Window(key, start_ms, end_ms, every, cst_date(end_ms - 1), explicit)


def every_label(t: Translator, every_s: int) -> str:
    """'15 分钟' / '15 min' for a window length."""
    if every_s % 86_400 == 0:
        return t("every.d", n=every_s // 86_400)
    if every_s % 3600 == 0:
        return t("every.h", n=every_s // 3600)
    return t("every.min", n=every_s // 60)


def windows(store: TelemetryStore, device_id: str, quantity: str, w: Window,
            agg: Aggregation = Aggregation.MEAN, *, start_ms: int | None = None) -> dict[int, float]:
    """{window start [ms]: aggregate} of one device's quantity in ``w``."""
    q = RangeQuery(quantity=quantity, start_ms=w.start_ms if start_ms is None else start_ms,
                   end_ms=w.end_ms, device_id=device_id, every_s=w.every_s, agg=agg,
                   limit=w.max_windows + 2)
    return {p.ts_ms: p.value for p in store.query(q)}


def _round(v: float | None) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return round(v, 3 if abs(v) < 10 else 2 if abs(v) < 1000 else 1)


@dataclass
class Series:
    """One drawn series: a line (default) or bars, on the left (0) or right (1) axis."""

    label: str
    values: list[float | None]
    kind: str = "line"
    axis: int = 0
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Line:
    """A horizontal reference line (threshold) with its meaning."""

    label: str
    value: float
    axis: int = 0
    short: str = ""
    """What the chart itself writes next to the line (the full label is listed below it)."""


@dataclass(frozen=True, slots=True)
class Band:
    """A horizontal band ``[lo, hi)`` (None = open) with its name, e.g. a THI stress class."""

    label: str
    lo: float | None
    hi: float | None
    level: int


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """A series in numbers, for the chart's text alternative."""

    label: str
    unit: str
    latest: float | None
    minimum: float | None
    maximum: float | None
    mean: float | None
    points: int


@dataclass
class Chart:
    """A chart of aligned series over one x axis (epoch seconds)."""

    id: str
    title: str
    unit: str
    x_ms: list[int]
    series: list[Series]
    unit2: str = ""
    lines: list[Line] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    xfmt: str = "time"
    bar_width_s: int = 0
    x_label: str = ""

    @property
    def has_data(self) -> bool:
        """Whether any series has a value."""
        return any(v is not None for s in self.series for v in s.values)

    def spec(self) -> dict[str, Any]:
        """The JSON the browser draws."""
        return {
            "id": self.id, "title": self.title, "unit": self.unit, "unit2": self.unit2,
            "xlabel": self.x_label,
            "xfmt": self.xfmt, "bar_s": self.bar_width_s,
            "x": [ts // 1000 for ts in self.x_ms],
            "series": [{"label": s.label, "kind": s.kind, "axis": s.axis,
                        "values": [_round(v) for v in s.values]} for s in self.series],
            "lines": [{"label": ln.short or ln.label, "value": _round(ln.value), "axis": ln.axis}
                      for ln in self.lines],
            "bands": [{"label": b.label, "lo": b.lo, "hi": b.hi, "level": b.level}
                      for b in self.bands],
        }

    def summary(self) -> list[SummaryRow]:
        """Latest, min, max and mean of each series."""
        rows = []
        for s in self.series:
            vals = [v for v in s.values if v is not None]
            rows.append(SummaryRow(
                s.label, s.unit or (self.unit2 if s.axis else self.unit),
                vals[-1] if vals else None, min(vals) if vals else None,
                max(vals) if vals else None, sum(vals) / len(vals) if vals else None, len(vals)))
        return rows


def aligned(parts: Sequence[Mapping[int, float | None]]) -> tuple[list[int], list[list[float | None]]]:
    """Union of the parts' timestamps and each part's values on it (None where missing)."""
    xs = sorted({ts for p in parts for ts in p})
    return xs, [[p.get(ts) for ts in xs] for p in parts]


def chart(chart_id: str, title: str, unit: str,
          parts: Iterable[tuple[Series, Mapping[int, float | None]]], **kwargs: Any) -> Chart:
    """A chart from (series template, {ts: value}) pairs, aligned on one x axis."""
    pairs = list(parts)
    xs, cols = aligned([p for _, p in pairs])
    series = []
    for (s, _), values in zip(pairs, cols, strict=True):
        s.values = values
        series.append(s)
    return Chart(chart_id, title, unit, xs, series, **kwargs)
