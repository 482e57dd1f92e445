"""Compiled rule evaluators: per-reading condition levels with hysteresis (internal).

An evaluator turns one reading into a verdict ``(level, value, threshold)`` — level 0 means
"clear", 1..n the severity band — or ``None`` when it cannot judge yet (not enough history,
inputs not paired). Hysteresis lives here (the current level is ``SubjectState.level``); the
alert lifecycle (duration, hold, latch) lives in :mod:`analytics.alerts.engine`.

Evaluators keep their own per-subject history (windows, baselines, paired inputs); readings
reach them strictly in timestamp order (the engine drops late ones).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

from analytics.alerts.derived import INDICATOR_FUNCTIONS
from analytics.alerts.rules import (
    BaselineDropRule,
    DepletionRule,
    Direction,
    FrostRule,
    HumidityHoursRule,
    IndicatorRule,
    RateOfChangeRule,
    Rule,
    RuleBase,
    Severity,
    StuckSensorRule,
    SubjectType,
    ThresholdRule,
    Trend,
)
from storage.clock import DAY_MS, HOUR_MS
from storage.telemetry import Reading

NEVER = -(2**62)
"""A timestamp older than any reading [ms]."""

Verdict: TypeAlias = tuple[int, float, float]
"""(condition level, value, threshold) — units as the rule kind documents."""

R = TypeVar("R", bound=Rule)
E = TypeVar("E", bound="Evaluator[Any]")

AnyEvaluator: TypeAlias = "Evaluator[Any]"
"""The evaluator of any rule kind."""

_EVALUATORS: dict[type[RuleBase], type[Evaluator[Any]]] = {}
"""Rule kind -> its evaluator class, filled by :func:`evaluates`."""


def evaluates(kind: type[R]) -> Callable[[type[E]], type[E]]:
    """Class decorator: register the decorated evaluator class as the one for rule ``kind``."""
    def register(cls: type[E]) -> type[E]:
        _EVALUATORS[kind] = cls
        return cls

    return register


@dataclass(slots=True)
class SubjectState:
    """Engine state of one (rule, subject): condition level and alert lifecycle."""

    rule_id: str
    subject_type: SubjectType
    subject_id: str
    device_id: str
    site_id: str
    farm_id: str
    county_id: str
    level: int = 0  # condition level from the evaluator (0 = clear)
    active: bool = False  # an alert is open or acknowledged
    severity: Severity | None = None  # severity of the active alert
    latched: bool = False  # resolved by hand: no new alert until the condition clears
    pending_since: int | None = None  # ts of the first reading of the current episode [ms]
    pending_reports: int = 0
    clear_since: int | None = None  # ts since which an active alert's condition is clear [ms]
    last_ts: int = NEVER  # last evaluated reading (no-data: last seen at opening) [ms]
    opened_ms: int = 0


def band_level(cur: int, x: float, sets: Sequence[float], clears: Sequence[float]) -> int:
    """Highest band i with x ≥ set_i, or with x ≥ clear_i while already at ≥ i (hysteresis).

    ``x``, ``sets`` and ``clears`` are oriented so that larger is worse.
    """
    for i in range(len(sets), 0, -1):
        if x >= sets[i - 1] or (cur >= i and x >= clears[i - 1]):
            return i
    return 0


def lsq_slope_per_h(points: Sequence[tuple[int, float]]) -> float:
    """Least-squares slope of (ts_ms, value) points [value unit per hour]; 0 if degenerate."""
    n = len(points)
    t0 = points[0][0]
    ts = [(t - t0) / HOUR_MS for t, _ in points]
    mt = sum(ts) / n
    mv = sum(v for _, v in points) / n
    sxx = sum((t - mt) ** 2 for t in ts)
    if sxx <= 0.0:
        return 0.0
    return sum((t - mt) * (v - mv) for t, (_, v) in zip(ts, points, strict=True)) / sxx


class Evaluator(Generic[R]):
    """Base of the compiled evaluators; attributes are read by the engine on every reading."""

    __slots__ = ("hold_ms", "min_duration_ms", "min_reports", "multi_input", "rule",
                 "severities", "site_subject")

    def __init__(self, rule: R) -> None:
        self.rule = rule
        self.severities: tuple[Severity, ...] = rule.severities
        self.min_duration_ms = int(getattr(rule, "min_duration_s", 0)) * 1000
        self.min_reports = int(getattr(rule, "min_reports", 1))
        self.hold_ms = rule.clear_hold_s * 1000
        self.site_subject = rule.subject_type is SubjectType.SITE
        self.multi_input = len(rule.quantities) > 1

    def evaluate(self, st: SubjectState, r: Reading) -> Verdict | None:
        """The verdict for reading ``r`` (in timestamp order), or ``None`` (cannot judge)."""
        raise NotImplementedError


@evaluates(ThresholdRule)
class ThresholdEvaluator(Evaluator[ThresholdRule]):
    """SET/CLEAR hysteresis on one quantity."""

    __slots__ = ("_clear", "_set", "_sign")

    def __init__(self, rule: ThresholdRule) -> None:
        super().__init__(rule)
        self._sign = 1.0 if rule.direction is Direction.ABOVE else -1.0
        self._set = self._sign * rule.set_value
        self._clear = self._sign * rule.clear_value

    def evaluate(self, st: SubjectState, r: Reading) -> Verdict | None:
        x = self._sign * r.value
        if x >= self._set or (st.level >= 1 and x >= self._clear):
            return 1, r.value, self.rule.set_value
        return 0, r.value, self.rule.clear_value


@evaluates(RateOfChangeRule)
class RateEvaluator(Evaluator[RateOfChangeRule]):
    """Least-squares trend over a trailing window."""

    __slots__ = ("_hist", "_window_ms")

    def __init__(self, rule: RateOfChangeRule) -> None:
        super().__init__(rule)
        self._window_ms = rule.window_s * 1000
        self._hist: dict[str, deque[tuple[int, float]]] = {}

    def evaluate(self, st: SubjectState, r: Reading) -> Verdict | None:
        rule = self.rule
        w = self._hist.get(st.subject_id)
        if w is None:
            w = self._hist[st.subject_id] = deque()
        w.append((r.ts_ms, r.value))
        cutoff = r.ts_ms - self._window_ms
        while w[0][0] < cutoff:
            w.popleft()
        if len(w) < rule.min_points or 2 * (w[-1][0] - w[0][0]) < self._window_ms:
            return None
        slope = lsq_slope_per_h(w)
        falling = rule.trend is Trend.FALLING
        x = -slope if falling else slope
        gate = rule.gate_value
        gate_ok = gate is None or (r.value <= gate if falling else r.value >= gate)
        if gate_ok and (x >= rule.rate_per_h or (st.level >= 1 and x >= rule.clear_rate_per_h)):
            return 1, x, rule.rate_per_h
        return 0, x, rule.clear_rate_per_h


class _MinMaxWindow:
    """Sliding minimum and maximum of the last ``n`` values (monotonic deques, O(1) amortised)."""

    __slots__ = ("_i", "_maxs", "_mins", "_n")

    def __init__(self, n: int) -> None:
        self._n = n
        self._i = 0
        self._mins: deque[tuple[int, float]] = deque()
        self._maxs: deque[tuple[int, float]] = deque()

    def push(self, v: float) -> None:
        i = self._i
        self._i += 1
        mins, maxs = self._mins, self._maxs
        while mins and mins[-1][1] >= v:
            mins.pop()
        mins.append((i, v))
        while maxs and maxs[-1][1] <= v:
            maxs.pop()
        maxs.append((i, v))
        oldest = i - self._n + 1
        while mins[0][0] < oldest:
            mins.popleft()
        while maxs[0][0] < oldest:
            maxs.popleft()

    @property
    def count(self) -> int:
        return min(self._i, self._n)

    @property
    def spread(self) -> float:
        return self._maxs[0][1] - self._mins[0][1]


@evaluates(StuckSensorRule)
class StuckEvaluator(Evaluator[StuckSensorRule]):
    """No variation over N consecutive reports."""

    __slots__ = ("_hist",)

    def __init__(self, rule: StuckSensorRule) -> None:
        super().__init__(rule)
        self._hist: dict[str, _MinMaxWindow] = {}

    def evaluate(self, st: SubjectState, r: Reading) -> Verdict | None:
        w = self._hist.get(st.subject_id)
        if w is None:
            w = self._hist[st.subject_id] = _MinMaxWindow(self.rule.reports)
        w.push(r.value)
        spread = w.spread
        if spread > self.rule.epsilon:
            return 0, spread, self.rule.epsilon
        if w.count < self.rule.reports:
            return None
        return 1, spread, self.rule.epsilon


class _PairedInputs:
    """Latest (ts, value) per input quantity of each subject; pairs them within a skew."""

    __slots__ = ("_cache", "_quantities", "_skew_ms")

    def __init__(self, quantities: tuple[str, ...], skew_s: int) -> None:
        self._quantities = quantities
        self._skew_ms = skew_s * 1000
        self._cache: dict[str, dict[str, tuple[int, float]]] = {}

    def update(self, subject_id: str, r: Reading) -> list[float] | None:
        """Record ``r``; the paired input values if ``r`` is new and completes a set."""
        cache = self._cache.get(subject_id)
        if cache is None:
            cache = self._cache[subject_id] = {}
        prev = cache.get(r.quantity)
        if prev is not None and r.ts_ms <= prev[0]:
            return None
        cache[r.quantity] = (r.ts_ms, r.value)
        values: list[float] = []
        for q in self._quantities:
            entry = cache.get(q)
            if entry is None or abs(entry[0] - r.ts_ms) > self._skew_ms:
                return None
            values.append(entry[1])
        return values


@evaluates(IndicatorRule)
class IndicatorEvaluator(Evaluator[IndicatorRule]):
    """Banded derived indicator (THI, VPD) of one device."""

    __slots__ = ("_clears", "_fn", "_inputs", "_sets", "_sign")

    def __init__(self, rule: IndicatorRule) -> None:
        super().__init__(rule)
        self._sign = 1.0 if rule.direction is Direction.ABOVE else -1.0
        self._sets = tuple(self._sign * v for v in rule.levels)
        self._clears = tuple(s - rule.clear_margin for s in self._sets)
        self._fn = INDICATOR_FUNCTIONS[rule.indicator]
        self._inputs = _PairedInputs(rule.quantities, rule.max_skew_s)

    def evaluate(self, st: SubjectState, r: Reading) -> Verdict | None:
        values = self._inputs.update(st.subject_id, r)
        if values is None:
            return None
        x = self._fn(values[0], values[1])
        if not math.isfinite(x):
            return None
        level = band_level(st.level, self._sign * x, self._sets, self._clears)
        if level:
            return level, x, self.rule.levels[level - 1]
        return 0, x, self._sign * self._clears[0]


@evaluates(FrostRule)
class FrostEvaluator(Evaluator[FrostRule]):
    """Night-time linear cooling trend extrapolated towards sunrise."""

    __slots__ = ("_hist", "_window_ms")

    def __init__(self, rule: FrostRule) -> None:
        super().__init__(rule)
        self._window_ms = rule.trend_window_s * 1000
        self._hist: dict[str, deque[tuple[int, float]]] = {}

    def _lead_h(self, ts_ms: int) -> float:
        """Hours of extrapolation at ``ts_ms``: 0 outside the night window."""
        rule = self.rule
        hour = (ts_ms / HOUR_MS + rule.utc_offset_h) % 24.0
        start, sunrise = rule.night_start_local_h, rule.sunrise_local_h
        night = (hour >= start or hour < sunrise) if start > sunrise else start <= hour < sunrise
        if not night:
            return 0.0
        return min((sunrise - hour) % 24.0, rule.max_lead_h)

    def evaluate(self, st: SubjectState, r: Reading) -> Verdict | None:
        rule = self.rule
        w = self._hist.get(st.subject_id)
        if w is None:
            w = self._hist[st.subject_id] = deque()
        w.append((r.ts_ms, r.value))
        cutoff = r.ts_ms - self._window_ms
        while w[0][0] < cutoff:
            w.popleft()
        t = r.value
        forecast = t
        lead_h = self._lead_h(r.ts_ms)
        if lead_h > 0 and len(w) >= rule.min_points and 2 * (w[-1][0] - w[0][0]) >= self._window_ms:
            forecast = t + min(lsq_slope_per_h(w), 0.0) * lead_h
        thr = rule.threshold_c
        clr = thr + rule.clear_margin_c
        cur = st.level
        if t <= thr or (cur >= 2 and t <= clr):
            return 2, t, thr
        if forecast <= thr or (cur >= 1 and (forecast <= clr or t <= clr)):
            return 1, forecast, thr
        return 0, forecast, clr


@dataclass(slots=True)
class _HumidHistory:
    first_ts: int
    prev_ts: int
    entries: deque[tuple[int, int]]  # (reading ts, humid milliseconds credited)
    total_ms: int = 0


@evaluates(HumidityHoursRule)
class HumidityHoursEvaluator(Evaluator[HumidityHoursRule]):
    """Humid hours in a trailing window (integer milliseconds: no drift)."""

    __slots__ = ("_hist", "_max_step_ms", "_window_ms")

    def __init__(self, rule: HumidityHoursRule) -> None:
        super().__init__(rule)
        self._window_ms = rule.window_s * 1000
        self._max_step_ms = rule.max_step_s * 1000
        self._hist: dict[str, _HumidHistory] = {}

    def evaluate(self, st: SubjectState, r: Reading) -> Verdict | None:
        rule = self.rule
        h = self._hist.get(st.subject_id)
        if h is None:
            h = self._hist[st.subject_id] = _HumidHistory(r.ts_ms, r.ts_ms, deque())
        elif r.value >= rule.rh_threshold_pct:
            step = min(r.ts_ms - h.prev_ts, self._max_step_ms)
            if step > 0:
                h.entries.append((r.ts_ms, step))
                h.total_ms += step
        h.prev_ts = r.ts_ms
        cutoff = r.ts_ms - self._window_ms
        entries = h.entries
        while entries and entries[0][0] <= cutoff:
            h.total_ms -= entries.popleft()[1]
        hours = h.total_ms / HOUR_MS
        clear_h = rule.hours - rule.clear_margin_h
        if hours >= rule.hours or (st.level >= 1 and hours >= clear_h):
            return 1, hours, rule.hours
        if st.level >= 1 and r.ts_ms - h.first_ts < self._window_ms:
            return None  # the window is not covered yet: cannot confirm the clear
        return 0, hours, clear_h


@evaluates(BaselineDropRule)
class BaselineDropEvaluator(Evaluator[BaselineDropRule]):
    """Drop against the mean of the previous days' daily means."""

    __slots__ = ("_days", "_offset_ms")

    def __init__(self, rule: BaselineDropRule) -> None:
        super().__init__(rule)
        self._offset_ms = round(rule.utc_offset_h * HOUR_MS)
        self._days: dict[str, dict[int, list[float]]] = {}

    def evaluate(self, st: SubjectState, r: Reading) -> Verdict | None:
        rule = self.rule
        days = self._days.get(st.subject_id)
        if days is None:
            days = self._days[st.subject_id] = {}
        day = (r.ts_ms + self._offset_ms) // DAY_MS
        first = day - rule.baseline_days
        means = [s / c for d, (s, c) in days.items() if first <= d < day]
        verdict: Verdict | None = None
        if len(means) >= rule.min_baseline_days:
            base = sum(means) / len(means)
            if base > 0:
                drop = 1.0 - r.value / base
                if drop >= rule.drop_fraction or (st.level >= 1 and drop >= rule.clear_fraction):
                    verdict = 1, r.value, base * (1.0 - rule.drop_fraction)
                else:
                    verdict = 0, r.value, base * (1.0 - rule.clear_fraction)
        acc = days.get(day)
        if acc is None:
            days[day] = [r.value, 1.0]
            for d in [d for d in days if d < first]:
                del days[d]
        else:
            acc[0] += r.value
            acc[1] += 1.0
        return verdict


@evaluates(DepletionRule)
class DepletionEvaluator(Evaluator[DepletionRule]):
    """Depletion against RAW, paired from the water-balance readings of a site."""

    __slots__ = ("_inputs",)

    def __init__(self, rule: DepletionRule) -> None:
        super().__init__(rule)
        self._inputs = _PairedInputs(rule.quantities, rule.max_skew_s)

    def evaluate(self, st: SubjectState, r: Reading) -> Verdict | None:
        values = self._inputs.update(st.subject_id, r)
        if values is None:
            return None
        depletion, raw = values
        if raw <= 0.0:
            return None
        rule = self.rule
        x = depletion / raw
        if x >= rule.set_fraction or (st.level >= 1 and x >= rule.clear_fraction):
            return 1, depletion, rule.set_fraction * raw
        return 0, depletion, rule.clear_fraction * raw


def compile_rule(rule: Rule) -> AnyEvaluator | None:
    """The evaluator of a streaming rule; ``None`` for rules the engine's tick evaluates."""
    if rule.on_tick:
        return None
    try:
        make = _EVALUATORS[type(rule)]
    except KeyError:
        raise TypeError(f"no evaluator registered for {type(rule).__name__}") from None
    return make(rule)
