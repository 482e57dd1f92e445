"""Progress towards a plan target along a straight line from the baseline year to the target year.

The line runs from the baseline value at the end of the baseline year (31 Dec 2020) to the
target at the end of the target year (31 Dec 2025). At a period's last day the expected value
is read off the line; a value at or past it (in the target's direction) is on track. A target
with no published baseline (the plan's "-") starts the line at 0: farmtel measured nothing
before it was connected; the result says so (``baseline_assumed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Status(StrEnum):
    """Where an indicator stands against its trajectory."""

    ACHIEVED = "achieved"
    ON_TRACK = "on_track"
    BEHIND = "behind"
    NO_DATA = "no_data"
    NO_TARGET = "no_target"
    REGISTRY_COVERAGE = "registered_sites"
    """A share of what is registered, not of the scope's agriculture: no target applies (at
    most 16 characters: ``indicator_snapshot_values.status``)."""


@dataclass(frozen=True, slots=True)
class Progress:
    """An indicator value against the straight-line trajectory to its target."""

    value: float | None
    baseline: float | None
    target: float | None
    expected: float | None
    """Value on the trajectory at the period's date."""
    progress_pct: float | None
    """Share of the way from the line's start to the target [%]."""
    status: Status
    baseline_assumed: bool


def line_fraction(*, on: date, baseline_year: int, target_year: int) -> float:
    """How far ``on`` is from 31 Dec of ``baseline_year`` to 31 Dec of ``target_year`` [0-1]."""
    start = date(baseline_year, 12, 31)
    end = date(target_year, 12, 31)
    if end <= start:
        raise ValueError("the target year must follow the baseline year")
    return min(1.0, max(0.0, (on - start).days / (end - start).days))


def progress(*, value: float | None, baseline: float | None, target: float | None, on: date,
             baseline_year: int, target_year: int) -> Progress:
    """``value`` measured for the period ending ``on`` against the line to ``target``."""
    assumed = baseline is None
    if target is None:
        return Progress(value, baseline, None, None, None, Status.NO_TARGET, assumed)
    start = 0.0 if baseline is None else baseline
    frac = line_fraction(on=on, baseline_year=baseline_year, target_year=target_year)
    expected = start + (target - start) * frac
    if value is None:
        return Progress(None, baseline, target, expected, None, Status.NO_DATA, assumed)
    rising = target >= start
    span = target - start
    share = 100.0 if span == 0 else 100.0 * (value - start) / span
    if (value >= target) if rising else (value <= target):
        status = Status.ACHIEVED
    elif (value >= expected) if rising else (value <= expected):
        status = Status.ON_TRACK
    else:
        status = Status.BEHIND
    return Progress(value, baseline, target, expected, share, status, assumed)
