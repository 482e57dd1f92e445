"""Alert rule definitions: frozen, slotted dataclasses, validated on construction.

A rule says *what* to watch; :mod:`analytics.alerts.engine` keeps the per-(rule, subject) state.
Every rule carries an ``id`` (stable: alerts and per-site overrides refer to it), the device
types it applies to, a severity, a Chinese and an English title template and the ``source`` of
its numbers. Values are in the catalogue's canonical units (``devices.catalogue``).

Title templates are ``str.format`` templates over ``{value}``, ``{threshold}``,
``{subject_id}``, ``{device_id}`` and ``{site_id}`` (format specs allowed, e.g.
``{value:.1f}``); what ``value``/``threshold`` mean for each kind is in the kind's docstring.

Rule kinds:

* :class:`ThresholdRule` — one quantity against SET and CLEAR thresholds (hysteresis), with a
  minimum duration [s] and a minimum number of consecutive reports before opening (low battery,
  NH3, collar fever are threshold rules);
* :class:`RateOfChangeRule` — least-squares trend of one quantity [unit/h] over a window;
* :class:`NoDataRule` — silence longer than ``multiple`` × the type's report interval;
* :class:`StuckSensorRule` — max − min ≤ ``epsilon`` over ``reports`` consecutive reports;
* :class:`IndicatorRule` — a derived indicator (THI, VPD) from several quantities of one device,
  with severity bands;
* :class:`FrostRule` — night-time air-temperature trend forecast to sunrise;
* :class:`HumidityHoursRule` — hours with RH ≥ a threshold in a trailing window;
* :class:`BaselineDropRule` — a value below the subject's own multi-day baseline (rumination);
* :class:`DepletionRule` — root-zone depletion against RAW, fed by the water-balance job
  (subject = site; see :func:`analytics.alerts.derived.water_balance_readings`).
"""

from __future__ import annotations

import itertools
import math
import string
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

__all__ = [
    "DEPLETION_MM",
    "RAW_MM",
    "TITLE_FIELDS",
    "WATER_BALANCE_DEVICE_TYPE",
    "BaselineDropRule",
    "DepletionRule",
    "Direction",
    "FrostRule",
    "HumidityHoursRule",
    "Indicator",
    "IndicatorRule",
    "NoDataRule",
    "RateOfChangeRule",
    "Rule",
    "RuleBase",
    "Season",
    "Severity",
    "StuckSensorRule",
    "SubjectType",
    "ThresholdRule",
    "Trend",
]

WATER_BALANCE_DEVICE_TYPE = "water_balance"
"""Pseudo device type of the readings the daily water-balance job emits (one per site)."""
DEPLETION_MM = "depletion_mm"
"""Derived quantity: root-zone depletion Dr [mm] (FAO-56 Eq. 85)."""
RAW_MM = "raw_mm"
"""Derived quantity: readily available water RAW = p·TAW [mm] (FAO-56 Eq. 83)."""

TITLE_FIELDS = frozenset({"value", "threshold", "subject_id", "device_id", "site_id"})
"""Placeholders a title template may use."""


class Severity(StrEnum):
    """How urgent an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 (info) < 1 (warning) < 2 (critical)."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class Direction(StrEnum):
    """Which side of a threshold is the alarm side."""

    ABOVE = "above"
    BELOW = "below"


class Trend(StrEnum):
    """Which way a rate-of-change rule watches."""

    RISING = "rising"
    FALLING = "falling"


class Season(StrEnum):
    """When a rule applies (the calendar is :mod:`analytics.alerts.seasons`)."""

    ALWAYS = "always"
    CROP_IN_FIELD = "crop_in_field"
    """On a field only while a crop stands in it (planting to harvest); other sites all year."""


class SubjectType(StrEnum):
    """What an alert is about."""

    DEVICE = "device"
    SITE = "site"


class Indicator(StrEnum):
    """Derived indicators an :class:`IndicatorRule` can evaluate (inputs in parentheses)."""

    THI = "thi"  # NRC (1971) temperature-humidity index (air_temp_c, rh_pct) [-]
    VPD_KPA = "vpd_kpa"  # vapour pressure deficit (air_temp_c, rh_pct) [kPa]


INDICATOR_INPUTS: dict[Indicator, tuple[str, ...]] = {
    Indicator.THI: ("air_temp_c", "rh_pct"),
    Indicator.VPD_KPA: ("air_temp_c", "rh_pct"),
}


def _check_template(rule_id: str, name: str, template: str) -> None:
    if not template.strip():
        raise ValueError(f"rule {rule_id}: {name} is empty")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(f"rule {rule_id}: {name} is not a valid template: {exc}") from exc
    unknown = fields - TITLE_FIELDS
    if unknown:
        raise ValueError(
            f"rule {rule_id}: {name} uses unknown fields {sorted(unknown)}; "
            f"allowed: {sorted(TITLE_FIELDS)}"
        )
    try:
        template.format(value=1.0, threshold=1.0, subject_id="s", device_id="d", site_id="x")
    except (ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"rule {rule_id}: {name} does not format: {exc}") from exc


def _finite(rule_id: str, **values: float | None) -> None:
    for name, v in values.items():
        if v is not None and not math.isfinite(v):
            raise ValueError(f"rule {rule_id}: {name} must be finite, got {v!r}")


def _positive(rule_id: str, **values: float) -> None:
    for name, v in values.items():
        if not v > 0:
            raise ValueError(f"rule {rule_id}: {name} must be > 0, got {v!r}")


def _non_negative(rule_id: str, **values: float) -> None:
    for name, v in values.items():
        if not v >= 0:
            raise ValueError(f"rule {rule_id}: {name} must be >= 0, got {v!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleBase:
    """Fields every rule has.

    ``clear_hold_s`` [s] is the flapping suppression: once an alert is open, its clear condition
    must hold continuously for this long (by reading timestamps) before it auto-resolves; a
    re-trigger meanwhile keeps the *same* alert open. ``season`` bounds when the rule applies:
    outside it the engine neither opens the rule's alerts nor keeps them open. ``local_hours``
    (start, end) [h, CST, end exclusive; start > end wraps midnight] limits evaluation to that
    time of day: readings outside it are not evaluated and change nothing.
    """

    id: str
    device_types: frozenset[str]
    title_zh: str
    title_en: str
    severity: Severity = Severity.WARNING
    source: str = ""
    enabled: bool = True
    clear_hold_s: int = 600
    season: Season = Season.ALWAYS
    local_hours: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not self.id or not self.id.strip():
            raise ValueError("rule id is empty")
        object.__setattr__(self, "device_types", frozenset(self.device_types))
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "season", Season(self.season))
        if not self.device_types:
            raise ValueError(f"rule {self.id}: device_types is empty")
        _check_template(self.id, "title_zh", self.title_zh)
        _check_template(self.id, "title_en", self.title_en)
        _non_negative(self.id, clear_hold_s=self.clear_hold_s)
        if self.local_hours is not None:
            start, end = self.local_hours
            if not (0.0 <= start < 24.0 and 0.0 <= end < 24.0 and start != end):
                raise ValueError(f"rule {self.id}: local_hours must be two different hours in [0, 24)")
        self._validate()

    def _validate(self) -> None:
        """Kind-specific checks (override)."""

    @property
    def subject_type(self) -> SubjectType:
        """What this rule's alerts are about (device unless stated)."""
        return SubjectType.DEVICE

    @property
    def on_tick(self) -> bool:
        """True if the engine's clock (``AlertEngine.tick``) evaluates it, not each reading."""
        return False

    @property
    def quantities(self) -> tuple[str, ...]:
        """The reading quantities this rule consumes."""
        return ()

    @property
    def severities(self) -> tuple[Severity, ...]:
        """Severity of each condition level 1..n (one level unless banded)."""
        return (self.severity,)


@dataclass(frozen=True, slots=True, kw_only=True)
class ThresholdRule(RuleBase):
    """``quantity`` beyond ``set_value`` opens; back past ``clear_value`` clears (hysteresis).

    ABOVE: opens at value ≥ set, clears at value < clear (clear ≤ set). BELOW: opens at
    value ≤ set, clears at value > clear (clear ≥ set). The condition must hold for at least
    ``min_duration_s`` [s] between the first and the latest reading *and* for ``min_reports``
    consecutive reports before an alert opens. ``value`` = the reading, ``threshold`` = set
    (clear on resolve), both in the quantity's unit.
    """

    quantity: str
    direction: Direction
    set_value: float
    clear_value: float
    min_duration_s: int = 0
    min_reports: int = 1

    def _validate(self) -> None:
        object.__setattr__(self, "direction", Direction(self.direction))
        _finite(self.id, set_value=self.set_value, clear_value=self.clear_value)
        _non_negative(self.id, min_duration_s=self.min_duration_s)
        if self.min_reports < 1:
            raise ValueError(f"rule {self.id}: min_reports must be >= 1")
        if self.direction is Direction.ABOVE and self.clear_value > self.set_value:
            raise ValueError(f"rule {self.id}: ABOVE needs clear_value <= set_value")
        if self.direction is Direction.BELOW and self.clear_value < self.set_value:
            raise ValueError(f"rule {self.id}: BELOW needs clear_value >= set_value")

    @property
    def quantities(self) -> tuple[str, ...]:
        return (self.quantity,)


@dataclass(frozen=True, slots=True, kw_only=True)
class RateOfChangeRule(RuleBase):
    """``quantity`` rising/falling faster than ``rate_per_h`` [unit/h].

    The rate is the least-squares slope over the readings of the last ``window_s`` [s]; it is
    judged only with ≥ ``min_points`` readings spanning ≥ half the window. Clears when the rate
    falls below ``clear_rate_per_h``. With ``gate_value`` set, the condition also needs the
    latest value at or beyond it (≤ for FALLING, ≥ for RISING), e.g. "cold *and* cooling fast".
    ``value`` = rate magnitude in the watched direction [unit/h], ``threshold`` = rate_per_h.
    """

    quantity: str
    trend: Trend
    rate_per_h: float
    clear_rate_per_h: float
    window_s: int = 3600
    min_points: int = 3
    gate_value: float | None = None

    def _validate(self) -> None:
        object.__setattr__(self, "trend", Trend(self.trend))
        _finite(self.id, rate_per_h=self.rate_per_h, clear_rate_per_h=self.clear_rate_per_h,
                gate_value=self.gate_value)
        _positive(self.id, rate_per_h=self.rate_per_h, window_s=self.window_s)
        _non_negative(self.id, clear_rate_per_h=self.clear_rate_per_h)
        if self.clear_rate_per_h > self.rate_per_h:
            raise ValueError(f"rule {self.id}: clear_rate_per_h must be <= rate_per_h")
        if self.min_points < 2:
            raise ValueError(f"rule {self.id}: min_points must be >= 2")

    @property
    def quantities(self) -> tuple[str, ...]:
        return (self.quantity,)


@dataclass(frozen=True, slots=True, kw_only=True)
class NoDataRule(RuleBase):
    """No reading for ``multiple`` × the report interval; clears on the next reading.

    The interval is ``interval_s`` [s] if set, else the catalogue's ``report_interval_s`` of the
    device type. Evaluated by ``AlertEngine.tick``. ``value`` = silence [min], ``threshold`` =
    the limit [min].
    """

    multiple: float = 3.0
    interval_s: int | None = None

    @property
    def on_tick(self) -> bool:
        return True

    def _validate(self) -> None:
        _finite(self.id, multiple=self.multiple)
        _positive(self.id, multiple=self.multiple)
        if self.interval_s is not None:
            _positive(self.id, interval_s=self.interval_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class StuckSensorRule(RuleBase):
    """``reports`` consecutive values of ``quantity`` with max − min ≤ ``epsilon``.

    Clears as soon as the trailing window shows more variation than ``epsilon``.
    ``value`` = max − min over the window, ``threshold`` = epsilon (quantity's unit).
    """

    quantity: str
    reports: int
    epsilon: float = 0.0

    def _validate(self) -> None:
        _finite(self.id, epsilon=self.epsilon)
        _non_negative(self.id, epsilon=self.epsilon)
        if self.reports < 2:
            raise ValueError(f"rule {self.id}: reports must be >= 2")

    @property
    def quantities(self) -> tuple[str, ...]:
        return (self.quantity,)


@dataclass(frozen=True, slots=True, kw_only=True)
class IndicatorRule(RuleBase):
    """A derived indicator of one device against severity bands.

    ``levels`` are the SET thresholds of bands 1..n (ascending for ABOVE, descending for
    BELOW) with ``severities`` (same length); band *i* is left when the indicator is back past
    ``levels[i] ∓ clear_margin``. One alert per (rule, device): its severity escalates and
    de-escalates with the band. The inputs are paired when their timestamps are within
    ``max_skew_s`` [s]. ``min_duration_s`` applies to opening. ``value`` = indicator, in its unit
    (THI: dimensionless; VPD: kPa), ``threshold`` = the current band's level.
    """

    indicator: Indicator
    direction: Direction
    levels: tuple[float, ...]
    band_severities: tuple[Severity, ...]
    clear_margin: float
    min_duration_s: int = 0
    max_skew_s: int = 60

    def _validate(self) -> None:
        object.__setattr__(self, "indicator", Indicator(self.indicator))
        object.__setattr__(self, "direction", Direction(self.direction))
        object.__setattr__(self, "levels", tuple(float(v) for v in self.levels))
        object.__setattr__(self, "band_severities",
                           tuple(Severity(s) for s in self.band_severities))
        if not self.levels or len(self.levels) != len(self.band_severities):
            raise ValueError(f"rule {self.id}: levels and band_severities need the same length")
        _finite(self.id, clear_margin=self.clear_margin, **{
            f"levels[{i}]": v for i, v in enumerate(self.levels)})
        _non_negative(self.id, clear_margin=self.clear_margin,
                      min_duration_s=self.min_duration_s, max_skew_s=self.max_skew_s)
        sign = 1.0 if self.direction is Direction.ABOVE else -1.0
        oriented = [sign * v for v in self.levels]
        if any(b <= a for a, b in itertools.pairwise(oriented)):
            raise ValueError(f"rule {self.id}: levels must be strictly increasing in severity")

    @property
    def quantities(self) -> tuple[str, ...]:
        return INDICATOR_INPUTS[self.indicator]

    @property
    def severities(self) -> tuple[Severity, ...]:
        return self.band_severities


@dataclass(frozen=True, slots=True, kw_only=True)
class FrostRule(RuleBase):
    """Frost risk from the night-time trend of ``air_temp_c``.

    Between ``night_start_local_h`` and ``sunrise_local_h`` (local time = UTC +
    ``utc_offset_h``) the air temperature is extrapolated with the least-squares slope of the
    last ``trend_window_s`` [s] (only cooling counts) for min(hours to sunrise,
    ``max_lead_h``) hours; a forecast ≤ ``threshold_c`` [°C] opens at ``severity``, a measured
    value ≤ ``threshold_c`` escalates to ``observed_severity``. Clears when both the forecast
    and the measurement are above ``threshold_c + clear_margin_c``. Outside the night window only
    the measurement counts. ``value`` = forecast (or measured) temperature [°C], ``threshold``
    = threshold_c.
    """

    threshold_c: float = 0.0
    clear_margin_c: float = 1.0
    trend_window_s: int = 3 * 3600
    min_points: int = 4
    max_lead_h: float = 4.0
    night_start_local_h: float = 20.0
    sunrise_local_h: float = 6.0
    utc_offset_h: float = 8.0
    observed_severity: Severity = Severity.CRITICAL

    def _validate(self) -> None:
        object.__setattr__(self, "observed_severity", Severity(self.observed_severity))
        _finite(self.id, threshold_c=self.threshold_c, clear_margin_c=self.clear_margin_c,
                max_lead_h=self.max_lead_h, utc_offset_h=self.utc_offset_h)
        _non_negative(self.id, clear_margin_c=self.clear_margin_c, max_lead_h=self.max_lead_h)
        _positive(self.id, trend_window_s=self.trend_window_s)
        if self.min_points < 2:
            raise ValueError(f"rule {self.id}: min_points must be >= 2")
        for name, h in (("night_start_local_h", self.night_start_local_h),
                        ("sunrise_local_h", self.sunrise_local_h)):
            if not 0.0 <= h < 24.0:
                raise ValueError(f"rule {self.id}: {name} must be in [0, 24)")
        if self.night_start_local_h == self.sunrise_local_h:
            raise ValueError(f"rule {self.id}: the night window is empty")

    @property
    def quantities(self) -> tuple[str, ...]:
        return ("air_temp_c",)

    @property
    def severities(self) -> tuple[Severity, ...]:
        return (self.severity, self.observed_severity)


@dataclass(frozen=True, slots=True, kw_only=True)
class HumidityHoursRule(RuleBase):
    """Hours with ``rh_pct`` ≥ ``rh_threshold_pct`` in the trailing ``window_s`` ≥ ``hours``.

    Each reading at or above the threshold credits the time since the previous reading, capped
    at ``max_step_s`` [s] (a gap is not counted as humid). Clears below ``hours −
    clear_margin_h``, but only once the window is covered by data (no clearing on a half-empty
    history after a restart). ``value`` = humid hours [h], ``threshold`` = hours.
    """

    rh_threshold_pct: float = 90.0
    hours: float = 7.0
    clear_margin_h: float = 2.0
    window_s: int = 24 * 3600
    max_step_s: int = 900

    def _validate(self) -> None:
        _finite(self.id, rh_threshold_pct=self.rh_threshold_pct, hours=self.hours,
                clear_margin_h=self.clear_margin_h)
        _positive(self.id, hours=self.hours, window_s=self.window_s, max_step_s=self.max_step_s)
        _non_negative(self.id, clear_margin_h=self.clear_margin_h)
        if self.hours * 3600 > self.window_s:
            raise ValueError(f"rule {self.id}: hours exceed the window")

    @property
    def quantities(self) -> tuple[str, ...]:
        return ("rh_pct",)


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineDropRule(RuleBase):
    """``quantity`` at least ``drop_fraction`` below the subject's own baseline.

    The baseline is the mean of the daily means of the previous ``baseline_days`` local days
    (UTC + ``utc_offset_h``), needing at least ``min_baseline_days`` of them. Clears when the
    drop is below ``clear_fraction``. ``value`` = the reading (quantity's unit), ``threshold``
    = baseline × (1 − drop_fraction).
    """

    quantity: str
    drop_fraction: float = 0.30
    clear_fraction: float = 0.20
    baseline_days: int = 7
    min_baseline_days: int = 3
    utc_offset_h: float = 8.0

    def _validate(self) -> None:
        _finite(self.id, drop_fraction=self.drop_fraction, clear_fraction=self.clear_fraction,
                utc_offset_h=self.utc_offset_h)
        if not 0.0 < self.drop_fraction < 1.0:
            raise ValueError(f"rule {self.id}: drop_fraction must be in (0, 1)")
        if not 0.0 <= self.clear_fraction <= self.drop_fraction:
            raise ValueError(f"rule {self.id}: clear_fraction must be in [0, drop_fraction]")
        if not 1 <= self.min_baseline_days <= self.baseline_days:
            raise ValueError(f"rule {self.id}: need 1 <= min_baseline_days <= baseline_days")

    @property
    def quantities(self) -> tuple[str, ...]:
        return (self.quantity,)


@dataclass(frozen=True, slots=True, kw_only=True)
class DepletionRule(RuleBase):
    """Root-zone depletion ``depletion_mm`` ≥ ``set_fraction`` × ``raw_mm`` (per site).

    Consumes the two derived quantities the water-balance job emits for a site with the same
    timestamp (:func:`analytics.alerts.derived.water_balance_readings`). Clears at depletion <
    ``clear_fraction`` × RAW. ``value`` = depletion [mm], ``threshold`` = set_fraction × RAW [mm].
    """

    set_fraction: float = 1.0
    clear_fraction: float = 0.9
    max_skew_s: int = 0

    def _validate(self) -> None:
        _finite(self.id, set_fraction=self.set_fraction, clear_fraction=self.clear_fraction)
        _positive(self.id, set_fraction=self.set_fraction)
        _non_negative(self.id, max_skew_s=self.max_skew_s)
        if not 0.0 <= self.clear_fraction <= self.set_fraction:
            raise ValueError(f"rule {self.id}: clear_fraction must be in [0, set_fraction]")

    @property
    def subject_type(self) -> SubjectType:
        return SubjectType.SITE

    @property
    def quantities(self) -> tuple[str, ...]:
        return (DEPLETION_MM, RAW_MM)


Rule: TypeAlias = (
    ThresholdRule
    | RateOfChangeRule
    | NoDataRule
    | StuckSensorRule
    | IndicatorRule
    | FrostRule
    | HumidityHoursRule
    | BaselineDropRule
    | DepletionRule
)
"""Any rule kind."""
