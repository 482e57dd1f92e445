"""Irrigation flow-meter model.

The meter reports a cumulative volume counter [m³] (monotonic, never reset) and the
instantaneous flow [m³/h], which is zero except during irrigation sessions. Sessions come
from a recurring :class:`DailyIrrigation` schedule (local clock, irrigation months only)
or are started on demand with :meth:`FlowMeterModel.start_irrigation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import ClassVar, Literal

from simulators.models import DAY_MS, HOUR_MS, RANGES, DeviceModel, clamp, derive_seed
from simulators.weather import WeatherDriver

_EPOCH = date(1970, 1, 1)
_LOCAL_OFFSET_MS = 8 * HOUR_MS  # China Standard Time

Role = Literal["source", "field"]


@dataclass(frozen=True, slots=True)
class IrrigationSession:
    """Water flowing at ``rate_m3_h`` [m³/h] during [start_ms, end_ms)."""

    start_ms: int
    end_ms: int
    rate_m3_h: float

    def volume_between(self, t0_ms: int, t1_ms: int) -> float:
        """Volume [m³] delivered within [t0_ms, t1_ms)."""
        lo = max(t0_ms, self.start_ms)
        hi = min(t1_ms, self.end_ms)
        return 0.0 if hi <= lo else self.rate_m3_h * (hi - lo) / HOUR_MS

    def active(self, ts_ms: int) -> bool:
        """Whether water flows at ``ts_ms``."""
        return self.start_ms <= ts_ms < self.end_ms


@dataclass(frozen=True, slots=True)
class DailyIrrigation:
    """A recurring session: ``start_hour`` local clock [h], ``duration_h`` [h],
    ``rate_m3_h`` [m³/h], every ``every_days`` days, only in ``months``; skipped when at
    least ``skip_after_rain_mm`` [mm] fell in the 24 h before (``None``: never skipped)."""

    start_hour: float
    duration_h: float
    rate_m3_h: float
    every_days: int = 1
    months: tuple[int, ...] = (5, 6, 7, 8, 9)
    skip_after_rain_mm: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.start_hour < 24.0 or self.duration_h <= 0.0 or self.rate_m3_h < 0.0:
            raise ValueError("need 0 <= start_hour < 24, duration_h > 0, rate_m3_h >= 0")
        if self.every_days < 1:
            raise ValueError("every_days must be >= 1")


class FlowMeterModel(DeviceModel):
    """Flow meter on a well (``role="source"``) or a field's delivery line (``"field"``).

    ``nominal_rate_m3_h`` [m³/h] is the default session rate (wells ~40-80, field lines
    ~10-30); ``initial_volume_m3`` [m³] the counter at installation; ``schedule`` recurring
    sessions. Each session's real rate differs from the asked one by a few percent.
    """

    __slots__ = (
        "_manual",
        "_sched_cache",
        "nominal_rate_m3_h",
        "role",
        "schedule",
        "volume_m3",
    )

    device_type: ClassVar[str] = "flow_meter"

    def __init__(
        self,
        seed: int,
        driver: WeatherDriver,
        *,
        role: Role = "field",
        nominal_rate_m3_h: float | None = None,
        initial_volume_m3: float | None = None,
        schedule: Sequence[DailyIrrigation] = (),
    ) -> None:
        super().__init__(seed, driver)
        if role not in ("source", "field"):
            raise ValueError("role must be 'source' or 'field'")
        rng = self._rng
        self.role: Role = role
        if nominal_rate_m3_h is None:
            nominal_rate_m3_h = (
                rng.uniform(40.0, 80.0) if role == "source" else rng.uniform(10.0, 30.0)
            )
        self.nominal_rate_m3_h = nominal_rate_m3_h
        #: counter value [m³] at the last reading
        self.volume_m3 = (
            rng.uniform(0.0, 50_000.0) if initial_volume_m3 is None else initial_volume_m3
        )
        if self.volume_m3 < 0:
            raise ValueError("initial_volume_m3 must be >= 0")
        self.schedule = tuple(schedule)
        self._manual: list[IrrigationSession] = []
        self._sched_cache: dict[int, tuple[IrrigationSession, ...]] = {}

    def start_irrigation(
        self,
        duration_s: float,
        rate_m3_h: float | None = None,
        start_ms: int | None = None,
    ) -> IrrigationSession:
        """Irrigate for ``duration_s`` [s] at ``rate_m3_h`` [m³/h] (default: nominal).

        Starts at ``start_ms`` (default: the last reading's time, or 0 before any reading -
        i.e. already running at the first one). Returns the session as it will be measured.
        """
        if duration_s <= 0:
            raise ValueError("duration_s must be positive")
        rate = self.nominal_rate_m3_h if rate_m3_h is None else rate_m3_h
        if rate < 0:
            raise ValueError("rate_m3_h must be >= 0")
        if start_ms is None:
            start_ms = self._last_ms if self._last_ms is not None else 0
        session = IrrigationSession(
            start_ms, start_ms + int(duration_s * 1000), rate * (1.0 + self._rng.normal(0.0, 0.02))
        )
        self._manual.append(session)
        return session

    def stop_irrigation(self, ts_ms: int | None = None) -> None:
        """End manual sessions running at ``ts_ms`` (default: the last reading) and drop
        those not yet started."""
        at = ts_ms if ts_ms is not None else self._last_ms
        if at is None:
            self._manual.clear()
            return
        kept: list[IrrigationSession] = []
        for s in self._manual:
            if s.start_ms >= at:
                continue
            kept.append(IrrigationSession(s.start_ms, min(s.end_ms, at), s.rate_m3_h))
        self._manual = kept

    def sessions_between(self, t0_ms: int, t1_ms: int) -> list[IrrigationSession]:
        """Sessions (manual and scheduled) overlapping [t0_ms, t1_ms)."""
        found = [s for s in self._manual if s.start_ms < t1_ms and s.end_ms > t0_ms]
        if self.schedule:
            first = (t0_ms + _LOCAL_OFFSET_MS) // DAY_MS - 1
            last = (t1_ms + _LOCAL_OFFSET_MS) // DAY_MS
            for day in range(first, last + 1):
                found.extend(
                    s for s in self._scheduled(day) if s.start_ms < t1_ms and s.end_ms > t0_ms
                )
        return found

    def is_irrigating(self, ts_ms: int) -> bool:
        """Whether any session delivers water at ``ts_ms``."""
        return any(s.active(ts_ms) for s in self.sessions_between(ts_ms, ts_ms + 1))

    def next_readings(self, ts_ms: int) -> dict[str, float]:
        """Cumulative volume [m³] and flow [m³/h]."""
        last = self._last_ms
        self._advance(ts_ms)
        if last is not None and ts_ms > last:
            for s in self.sessions_between(last, ts_ms):
                self.volume_m3 += s.volume_between(last, ts_ms)
        flow = sum(
            (s.rate_m3_h for s in self.sessions_between(ts_ms, ts_ms + 1) if s.active(ts_ms)), 0.0
        )
        if flow > 0.0:
            flow = max(0.0, flow * (1.0 + self._rng.normal(0.0, 0.01)))
        self._manual = [s for s in self._manual if s.end_ms > ts_ms]
        return {
            "volume_m3": round(clamp(self.volume_m3, *RANGES["volume_m3"]), 3),
            "flow_m3_h": round(clamp(flow, *RANGES["flow_m3_h"]), 3),
        }

    def _scheduled(self, day: int) -> tuple[IrrigationSession, ...]:
        """The schedule's sessions starting on local ``day`` (cached for a few days)."""
        cached = self._sched_cache.get(day)
        if cached is not None:
            return cached
        month = (_EPOCH + timedelta(days=day)).month
        day_start = day * DAY_MS - _LOCAL_OFFSET_MS
        sessions = []
        for i, entry in enumerate(self.schedule):
            if month not in entry.months or day % entry.every_days != 0:
                continue
            start = day_start + int(entry.start_hour * HOUR_MS)
            skip = entry.skip_after_rain_mm
            if skip is not None and self.driver.rain_between(start - DAY_MS, start) >= skip:
                continue
            # per-session rate deviation [-1, 1]: a pure function of (seed, day, entry)
            jitter = derive_seed(self.seed, day, i) % 2_001 / 1_000.0 - 1.0
            sessions.append(
                IrrigationSession(
                    start,
                    start + int(entry.duration_h * HOUR_MS),
                    entry.rate_m3_h * (1.0 + 0.03 * jitter),
                )
            )
        if len(self._sched_cache) >= 8:
            self._sched_cache.clear()
        result = tuple(sessions)
        self._sched_cache[day] = result
        return result
