"""Knobs of the indicator computation (one frozen object, built by the caller)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ACTIVE_THRESHOLD_PCT = 80.0
DEFAULT_MIN_FARMS_PER_GROUP = 3
DEFAULT_MAX_WINDOWS_PER_DEVICE = 800


@dataclass(frozen=True, slots=True)
class IndicatorConfig:
    """How devices are judged and how much detail the bureau sees.

    ``active_threshold_pct``: a device is active in a period when its completeness reaches this
    [%]. ``min_farms_per_group``: the bureau sees a breakdown below county level only for groups
    of at least this many farms (k-anonymity). ``max_windows_per_device``: the store is asked
    for at most this many COUNT windows per device and period; longer periods get windows of
    several report intervals (see :mod:`analytics.indicators.measure`). ``until_cached``: a
    period reaching past the hourly-count cache (the last refresh, 10 minutes to an hour and
    10 minutes ago) is measured up to the cache's end instead of reading the hours after it
    from the store — the figures the exact computation gives at that instant, reported as
    ``measured_until``; off by default (exact up to "now").
    """

    active_threshold_pct: float = DEFAULT_ACTIVE_THRESHOLD_PCT
    min_farms_per_group: int = DEFAULT_MIN_FARMS_PER_GROUP
    max_windows_per_device: int = DEFAULT_MAX_WINDOWS_PER_DEVICE
    until_cached: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.active_threshold_pct <= 100.0:
            raise ValueError("active_threshold_pct must be in (0, 100]")
        if self.min_farms_per_group < 1:
            raise ValueError("min_farms_per_group must be at least 1")
        if self.max_windows_per_device < 1:
            raise ValueError("max_windows_per_device must be at least 1")
