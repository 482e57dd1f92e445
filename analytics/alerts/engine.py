"""The alert engine: per-(rule, subject) state, fed reading by reading; no I/O, no DB.

Lifecycle of one (rule, subject) — subject = device id (site id for site rules)::

    clear ──condition holds ≥ min_duration_s and ≥ min_reports──▶ OPENED
    OPENED ──band changes──▶ SEVERITY_CHANGED (same alert)
    OPENED ──condition clear (past the CLEAR threshold) for ≥ clear_hold_s──▶ RESOLVED

* **One alert per (rule, subject)**: the engine never opens a second while one is active; the
  repository enforces the same in the database.
* **Hysteresis**: each rule kind has a SET and a CLEAR side (see :mod:`.rules`), so values
  oscillating between them neither clear nor reopen.
* **Flapping** (chosen policy: *hold open*): an active alert auto-resolves only after its clear
  condition has held continuously for the rule's ``clear_hold_s`` (by reading timestamps); if
  the condition returns meanwhile the *same* alert simply stays open. No resolve/reopen pairs,
  no cool-down gaps. No-data alerts resolve on the next reading, without hold.
* **Late readings**: a reading not newer than the last one evaluated for that (rule, subject) is
  ignored for streaming evaluation (counted in ``stats["late_ignored"]``); it never flips state.
  Readings flagged ``Quality.CLOCK_SUSPECT`` are not evaluated either (their timestamp cannot
  order them) but still count as a sign of life for no-data.
* **By hand**: after ``resolved_by_hand`` the engine opens no new alert for that (rule, subject)
  until its condition has cleared once (for no-data: until the device reports again).
* **Seasons**: a rule with ``season=CROP_IN_FIELD`` (frost, root-zone depletion) applies to a
  field only while its crop stands in it (:mod:`.seasons`); a reading outside the season
  resolves the rule's open alert with the note ``out_of_season``, and so does ``tick`` once the
  season has ended, so an alert of July is not left open in December.
* **Time of day**: a rule with ``local_hours`` is evaluated only in that CST window (e.g.
  ``gh.vpd_low`` in daylight); other readings leave its state untouched.
* **Restart**: ``restore`` marks the open alerts from the database as active (optionally after
  silently replaying recent history into the windows), so nothing fires twice.

Not thread-safe: use one engine per ingest worker and route every device to one engine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

from analytics.alerts.defaults import default_rules
from analytics.alerts.evaluators import NEVER, AnyEvaluator, SubjectState, compile_rule
from analytics.alerts.overrides import RuleOverrides, apply_overrides
from analytics.alerts.rules import NoDataRule, Rule, Season, Severity, SubjectType
from analytics.alerts.seasons import OUT_OF_SEASON_NOTE, SiteSeason
from analytics.alerts.transitions import ActiveAlert, Transition, TransitionKind
from devices.catalogue import DEVICE_TYPES
from devices.directory import DeviceInfo
from storage.clock import CST_OFFSET_MS, DAY_MS, HOUR_MS, MINUTE_MS
from storage.telemetry import Quality, Reading

__all__ = ["AlertEngine"]

log = logging.getLogger(__name__)

_CLOCK_SUSPECT = int(Quality.CLOCK_SUSPECT)


@dataclass(slots=True)
class _Index:
    """The enabled rules of one site (or of every site without overrides), ready for lookups."""

    rules: dict[str, Rule]
    by_input: dict[tuple[str, str], tuple[AnyEvaluator, ...]] = field(default_factory=dict)
    no_data: dict[str, tuple[NoDataRule, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, rules: Iterable[Rule]) -> _Index:
        index = cls(rules={})
        by_input: dict[tuple[str, str], list[AnyEvaluator]] = {}
        no_data: dict[str, list[NoDataRule]] = {}
        for rule in rules:
            index.rules[rule.id] = rule
            if not rule.enabled:
                continue
            ev = compile_rule(rule)
            if ev is None:  # evaluated by the clock: only no-data rules are
                for dt in rule.device_types:
                    no_data.setdefault(dt, []).append(cast(NoDataRule, rule))
                continue
            for dt in rule.device_types:
                for q in rule.quantities:
                    by_input.setdefault((dt, q), []).append(ev)
        index.by_input = {k: tuple(v) for k, v in by_input.items()}
        index.no_data = {k: tuple(v) for k, v in no_data.items()}
        return index


def _render(template: str, st: SubjectState, value: float | None, threshold: float | None) -> str:
    return template.format(
        value=value if value is not None else float("nan"),
        threshold=threshold if threshold is not None else float("nan"),
        subject_id=st.subject_id, device_id=st.device_id, site_id=st.site_id,
    )


def _within_hours(ts_ms: int, hours: tuple[float, float]) -> bool:
    """True if ``ts_ms`` [UTC ms] falls in the CST time-of-day window ``hours`` [h)."""
    h = (ts_ms + CST_OFFSET_MS) % DAY_MS / HOUR_MS
    start, end = hours
    return start <= h < end if start < end else h >= start or h < end


class AlertEngine:
    """Evaluates rules over readings (``observe``) and silence (``tick``); returns transitions.

    :param rules: the rule set (default: :func:`analytics.alerts.defaults.default_rules`).
    :param site_overrides: per site id, ``{rule_id: {param: value}}`` (see
        :func:`analytics.alerts.overrides.apply_overrides`); validated here (``ValueError``).
    :param devices: the registry view (e.g. ``DeviceDirectory`` contents) used by ``tick``;
        devices are also learnt from the readings they send.
    :param seasons: per site id, when its crop is in the field
        (:func:`analytics.alerts.seasons.load_site_seasons`); a site missing here is treated as
        always in season.
    """

    def __init__(
        self,
        rules: Iterable[Rule] | None = None,
        *,
        site_overrides: Mapping[str, RuleOverrides] | None = None,
        devices: Mapping[str, DeviceInfo] | None = None,
        seasons: Mapping[str, SiteSeason] | None = None,
    ) -> None:
        self._rules: tuple[Rule, ...] = tuple(default_rules() if rules is None else rules)
        ids = [r.id for r in self._rules]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate rule ids")
        self._default = _Index.build(self._rules)
        self._sites: dict[str, _Index] = {}
        for site_id, overrides in (site_overrides or {}).items():
            self.set_site_overrides(site_id, overrides)
        self._devices: dict[str, DeviceInfo] = dict(devices or {})
        self._seasons: dict[str, SiteSeason] = dict(seasons or {})
        self._states: dict[tuple[str, str], SubjectState] = {}
        self._last_seen: dict[str, int] = {}
        self.stats: dict[str, int] = {"observed": 0, "late_ignored": 0, "clock_suspect": 0}

    # -- configuration ----------------------------------------------------------------------

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The base rule set (before per-site overrides)."""
        return self._rules

    def rules_for_site(self, site_id: str) -> tuple[Rule, ...]:
        """The effective rules of ``site_id`` (overrides applied)."""
        return tuple(self._sites.get(site_id, self._default).rules.values())

    def set_site_overrides(self, site_id: str, overrides: RuleOverrides) -> None:
        """Replace the overrides of one site (``ValueError`` if invalid; nothing changes then).

        The site's rule windows and baselines restart empty; open alerts stay open.
        """
        if overrides:
            self._sites[site_id] = _Index.build(apply_overrides(self._rules, overrides))
        else:
            self._sites.pop(site_id, None)

    def set_devices(self, devices: Mapping[str, DeviceInfo]) -> None:
        """Replace the registry view used by ``tick`` (revoked devices get no no-data alerts)."""
        self._devices = dict(devices)

    def set_seasons(self, seasons: Mapping[str, SiteSeason]) -> None:
        """Replace the site seasons (crop calendars) that season-bound rules obey."""
        self._seasons = dict(seasons)

    def _in_season(self, rule: Rule, site_id: str, ts_ms: int) -> bool:
        if rule.season is Season.ALWAYS:
            return True
        season = self._seasons.get(site_id)
        return season is None or season.crop_in_field(ts_ms)

    def last_seen(self) -> dict[str, int]:
        """Newest reading timestamp per device this engine has observed [UTC ms]."""
        return dict(self._last_seen)

    # -- streaming --------------------------------------------------------------------------

    def observe(self, r: Reading) -> list[Transition]:
        """Evaluate one reading; readings of one device must come in timestamp order."""
        return self.observe_many((r,))

    def observe_many(self, readings: Iterable[Reading]) -> list[Transition]:
        """Evaluate readings in order (e.g. one durable batch); returns their transitions.

        Cost: a few dict lookups per matching rule and reading; no I/O.
        """
        out: list[Transition] = []
        stats = self.stats
        sites, default = self._sites, self._default
        last_seen, devices = self._last_seen, self._devices
        observed = suspects = 0
        for r in readings:
            observed += 1
            index = sites.get(r.site_id, default) if sites else default
            device_id, ts_ms = r.device_id, r.ts_ms
            if ts_ms > last_seen.get(device_id, NEVER):
                last_seen[device_id] = ts_ms
            if device_id not in devices and r.device_type:
                devices[device_id] = DeviceInfo(device_id, r.device_type, r.site_id,
                                                r.farm_id, r.county, None, False)
            suspect = bool(r.quality & _CLOCK_SUSPECT)
            no_data = index.no_data.get(r.device_type)
            if no_data:
                self._alive(no_data, r, suspect, out)
            if suspect:
                suspects += 1
                continue
            evaluators = index.by_input.get((r.device_type, r.quantity))
            if evaluators:
                for ev in evaluators:
                    self._run(ev, r, out)
        stats["observed"] += observed
        stats["clock_suspect"] += suspects
        return out

    def _state(self, rule: Rule, subject_id: str, device_id: str, site_id: str, farm_id: str,
               county_id: str) -> SubjectState:
        key = (rule.id, subject_id)
        st = self._states.get(key)
        if st is None:
            st = SubjectState(rule.id, rule.subject_type, subject_id, device_id, site_id,
                              farm_id, county_id)
            self._states[key] = st
        return st

    def _run(self, ev: AnyEvaluator, r: Reading, out: list[Transition]) -> None:
        if ev.site_subject:
            st = self._state(ev.rule, r.site_id, "", r.site_id, r.farm_id, r.county)
        else:
            st = self._state(ev.rule, r.device_id, r.device_id, r.site_id, r.farm_id, r.county)
        # multi-input rules see the readings of one record with equal timestamps
        if r.ts_ms < st.last_ts or (r.ts_ms == st.last_ts and not ev.multi_input):
            self.stats["late_ignored"] += 1
            return
        hours = ev.rule.local_hours
        if hours is not None and not _within_hours(r.ts_ms, hours):
            return
        if not self._in_season(ev.rule, r.site_id, r.ts_ms):
            st.last_ts = r.ts_ms
            self._leave_season(ev.rule, st, r.ts_ms, out)
            return
        verdict = ev.evaluate(st, r)
        if verdict is None:
            if not ev.multi_input:
                st.last_ts = r.ts_ms
            return
        st.last_ts = r.ts_ms
        self._advance(ev, st, r.ts_ms, verdict, out)

    def _advance(self, ev: AnyEvaluator, st: SubjectState, ts: int,
                 verdict: tuple[int, float, float], out: list[Transition]) -> None:
        level, value, threshold = verdict
        st.level = level
        if level > 0:
            st.clear_since = None
            if st.latched:
                return
            severity = ev.severities[level - 1]
            if st.active:
                if severity is not st.severity:
                    previous, st.severity = st.severity, severity
                    out.append(self._transition(TransitionKind.SEVERITY_CHANGED, ev.rule, st, ts,
                                                value, threshold, severity, previous))
                return
            if st.pending_since is None:
                st.pending_since = ts
                st.pending_reports = 0
            st.pending_reports += 1
            if (ts - st.pending_since >= ev.min_duration_ms
                    and st.pending_reports >= ev.min_reports):
                st.active, st.severity, st.opened_ms = True, severity, ts
                st.pending_since = None
                out.append(self._transition(TransitionKind.OPENED, ev.rule, st, ts, value,
                                            threshold, severity))
            return
        st.pending_since = None
        st.pending_reports = 0
        st.latched = False
        if st.active:
            if st.clear_since is None:
                st.clear_since = ts
            if ts - st.clear_since >= ev.hold_ms:
                self._resolve(ev.rule, st, ts, value, threshold, out)

    def _resolve(self, rule: Rule, st: SubjectState, ts: int, value: float | None,
                 threshold: float | None, out: list[Transition], note: str | None = None) -> None:
        severity = st.severity or rule.severity
        st.active, st.severity, st.clear_since = False, None, None
        out.append(self._transition(TransitionKind.RESOLVED, rule, st, ts, value, threshold,
                                    severity, note=note))

    def _leave_season(self, rule: Rule, st: SubjectState, ts: int,
                      out: list[Transition]) -> None:
        """The site's crop is not in the field: nothing pending, the open alert resolved."""
        st.pending_since, st.pending_reports, st.level, st.latched = None, 0, 0, False
        if st.active:
            self._resolve(rule, st, ts, None, None, out, note=OUT_OF_SEASON_NOTE)

    @staticmethod
    def _transition(kind: TransitionKind, rule: Rule, st: SubjectState, ts: int,
                    value: float | None, threshold: float | None, severity: Severity,
                    previous: Severity | None = None, note: str | None = None) -> Transition:
        return Transition(
            kind=kind, rule_id=rule.id, subject_type=st.subject_type, subject_id=st.subject_id,
            severity=severity, ts_ms=ts, value=value, threshold=threshold,
            title_zh=_render(rule.title_zh, st, value, threshold),
            title_en=_render(rule.title_en, st, value, threshold),
            device_id=st.device_id, site_id=st.site_id, farm_id=st.farm_id,
            county_id=st.county_id, previous_severity=previous, note=note,
        )

    # -- no-data ----------------------------------------------------------------------------

    @staticmethod
    def _limit_ms(rule: NoDataRule, device_type: str) -> int | None:
        interval = rule.interval_s
        if interval is None:
            dt = DEVICE_TYPES.get(device_type)
            if dt is None:
                return None
            interval = dt.report_interval_s
        return round(rule.multiple * interval * 1000)

    def _alive(self, rules: tuple[NoDataRule, ...], r: Reading, suspect: bool,
               out: list[Transition]) -> None:
        """A reading arrived: clear (or un-latch) the device's no-data alerts."""
        for rule in rules:
            st = self._states.get((rule.id, r.device_id))
            if st is None or not (st.active or st.latched):
                continue
            if not suspect and r.ts_ms <= st.last_ts:
                continue  # a late copy of data seen before the silence
            st.latched = False
            if st.active:
                silence_min = max(r.ts_ms - st.last_ts, 0) / MINUTE_MS if st.last_ts > NEVER else None
                limit = self._limit_ms(rule, r.device_type)
                self._resolve(rule, st, r.ts_ms, silence_min,
                              limit / MINUTE_MS if limit is not None else None, out)
            st.last_ts = max(st.last_ts, r.ts_ms)

    def tick(self, now_ms: int, last_seen: Mapping[str, int]) -> list[Transition]:
        """Evaluate no-data rules at ``now_ms`` (UTC ms) given each device's last reading time.

        ``last_seen`` (e.g. from the store's latest readings) is merged with what this engine
        observed itself; devices never seen at all, unknown to the registry view or revoked are
        skipped. Opens after ``multiple`` × interval of silence; resolves when a newer reading
        is seen.
        """
        out = self._end_seasons(now_ms)
        seen = dict(last_seen)
        for device_id, ts in self._last_seen.items():
            if ts > seen.get(device_id, NEVER):
                seen[device_id] = ts
        for device_id, ts in seen.items():
            info = self._devices.get(device_id)
            if info is None or info.revoked:
                continue
            index = self._sites.get(info.site_id, self._default)
            for rule in index.no_data.get(info.device_type, ()):
                limit = self._limit_ms(rule, info.device_type)
                if limit is None:
                    continue
                st = self._state(rule, device_id, device_id, info.site_id, info.farm_id,
                                 info.county)
                silence = now_ms - ts
                if silence >= limit:
                    if not st.active and not st.latched and ts >= st.last_ts:
                        st.active, st.severity, st.opened_ms = True, rule.severity, now_ms
                        st.last_ts = ts
                        out.append(self._transition(TransitionKind.OPENED, rule, st, now_ms,
                                                    silence / MINUTE_MS, limit / MINUTE_MS,
                                                    rule.severity))
                elif ts > st.last_ts and (st.active or st.latched):
                    st.latched = False
                    if st.active:
                        self._resolve(rule, st, ts, (ts - st.last_ts) / MINUTE_MS,
                                      limit / MINUTE_MS, out)
                    st.last_ts = ts
        return out

    def _end_seasons(self, now_ms: int) -> list[Transition]:
        """Resolve the open alerts of season-bound rules whose site's season is over."""
        out: list[Transition] = []
        for st in self._states.values():
            if not st.active:
                continue
            rule = self._sites.get(st.site_id, self._default).rules.get(st.rule_id)
            if rule is not None and not self._in_season(rule, st.site_id, now_ms):
                self._leave_season(rule, st, now_ms, out)
        return out

    # -- people and restarts ----------------------------------------------------------------

    def resolved_by_hand(self, rule_id: str, subject_id: str) -> None:
        """A person resolved the alert: forget it, and open no new one until the condition
        has cleared once (no-data: until the device reports again)."""
        st = self._states.get((rule_id, subject_id))
        if st is None:
            return
        rule = self._find_rule(rule_id)
        is_no_data = rule is not None and rule.on_tick
        st.active, st.severity, st.clear_since, st.pending_since = False, None, None, None
        st.latched = is_no_data or st.level > 0

    def _find_rule(self, rule_id: str) -> Rule | None:
        return self._default.rules.get(rule_id)

    def restore(self, open_alerts: Iterable[ActiveAlert],
                history: Iterable[Reading] = ()) -> None:
        """Resume after a restart, before the first live reading.

        ``history`` (recent readings, oldest first per device) is replayed silently to refill
        windows and baselines; its transitions are discarded. Then exactly the alerts in
        ``open_alerts`` (open or acknowledged in the database) are marked active, so they are
        neither opened again nor lost: they resolve when their condition clears.
        """
        for r in history:
            self.observe(r)
        for st in self._states.values():
            st.active, st.severity, st.clear_since, st.latched = False, None, None, False
        for alert in open_alerts:
            rule = self._find_rule(alert.rule_id)
            if rule is None:
                log.warning("restore: unknown rule %s (alert kept in the database only)",
                            alert.rule_id)
                continue
            device_id = alert.device_id or (
                alert.subject_id if alert.subject_type is SubjectType.DEVICE else "")
            st = self._state(rule, alert.subject_id, device_id, alert.site_id, alert.farm_id,
                             alert.county_id)
            st.active, st.severity, st.opened_ms = True, alert.severity, alert.opened_ms
            st.pending_since = None
            if rule.on_tick:  # no-data: the alert's value is the silence [min]
                silence_ms = round((alert.value or 0.0) * MINUTE_MS)
                st.last_ts = alert.opened_ms - silence_ms
            elif st.last_ts == NEVER:  # no replayed history: assume the alert's band
                severities = rule.severities
                st.level = severities.index(alert.severity) + 1 \
                    if alert.severity in severities else 1

    def active(self) -> list[tuple[str, str, Severity]]:
        """(rule id, subject id, severity) of every alert the engine holds open."""
        return [(st.rule_id, st.subject_id, st.severity or Severity.WARNING)
                for st in self._states.values() if st.active]
