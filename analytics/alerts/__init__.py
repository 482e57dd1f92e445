"""farmtel alerts: rules, a streaming evaluator, persistence with an audit trail, notifiers.

A library; wiring it into ingest, the API and the scheduler is done elsewhere. Importing this
package has no side effects: it neither registers the alert tables nor imports ``httpx``; take those
from their modules (``analytics.alerts.store``, ``analytics.alerts.notify``).

Public surface
--------------

Rules (the kinds in ``analytics.alerts.rules``, the defaults here)
    ``ThresholdRule`` (SET/CLEAR hysteresis, min duration, min reports), ``RateOfChangeRule``,
    ``NoDataRule``, ``StuckSensorRule``, ``IndicatorRule`` (THI, VPD bands),
    ``FrostRule``, ``HumidityHoursRule``, ``BaselineDropRule`` (rumination),
    ``DepletionRule`` (Dr vs RAW); ``Severity`` info < warning < critical.
    ``default_rules()`` — the cited defaults; ``apply_overrides(rules, {rule_id: {param:
    value}})`` — per-site overrides as stored in JSON (``ValueError`` on anything unknown).

Engine (``analytics.alerts.engine``) — pure, in memory, cheap per reading::

    engine = AlertEngine(default_rules(), site_overrides={"gh-7": {"gh.vpd_high": {...}}},
                         devices=directory_snapshot)          # devices.directory.DeviceInfo
    engine.restore(repo.active_alerts(), history=recent)      # once, at start-up
    transitions = engine.observe(reading)                     # ingest hot path, in ts order
    transitions += engine.tick(now_ms, last_seen)             # scheduler, e.g. every minute
    engine.resolved_by_hand(alert.rule_id, alert.subject_id)  # after repo.resolve(...)

Derived inputs (``analytics.alerts.derived``)
    ``water_balance_readings(site_id=…, depletion_mm=…, raw_mm=…)`` — how the water-balance
    job feeds ``DepletionRule`` through ``observe``.

Persistence (``analytics.alerts.store``)
    ``Alert``/``AlertEvent`` tables; ``AlertRepository(sessions)`` with
    ``apply(transitions) -> transitions with alert_id``, ``acknowledge(id, actor, note)``,
    ``resolve(id, actor, note)`` (``InvalidTransition``/``AlertNotFound``),
    ``list(county=, farm=, site=, severity=, state=, limit=)``, ``events(id)``,
    ``active_alerts()``.

Service (``analytics.alerts.service``)
    ``AlertService(engine, repo, notifier)``: the engine on its own thread behind a queue
    (ingest batches, scheduler ticks, water balance, hand resolutions); the
    ``SiteRuleOverride`` table and ``load_site_overrides(sessions)``.

Notification (``analytics.alerts.notify``)
    ``Notifier`` protocol; ``WebhookNotifier(urls)`` (background, bounded, retried, counted);
    ``MqttAlertPublisher(publish)`` on ``farmtel/alerts/{farm_id}/{site_id}``;
    ``FanoutNotifier``.

Typical flow: ``applied = repo.apply(engine.observe(r)); notifier.notify(applied)``.

Semantics worth knowing
-----------------------
* One open (or acknowledged) alert per (rule, subject), in the engine and in the database.
* Hysteresis on every kind; flapping is suppressed by *holding the alert open*: it resolves
  only after its clear condition held for ``clear_hold_s`` (default 600 s); banded rules (THI)
  keep one alert whose severity escalates/de-escalates (``severity_changed``).
* Readings older than (or as old as) the last one evaluated for a (rule, subject) are ignored
  for evaluation; ``CLOCK_SUSPECT`` readings are not evaluated but prove a device alive.
* No-data opens after ``multiple`` × the catalogue report interval without a reading and
  resolves on the next reading.
"""

from analytics.alerts.defaults import default_rules, rules_for_site, rules_for_site_kind
from analytics.alerts.derived import water_balance_readings
from analytics.alerts.engine import AlertEngine
from analytics.alerts.overrides import RuleOverrides, apply_overrides
from analytics.alerts.transitions import ActiveAlert, Transition, TransitionKind

__all__ = [
    "ActiveAlert",
    "AlertEngine",
    "RuleOverrides",
    "Transition",
    "TransitionKind",
    "apply_overrides",
    "default_rules",
    "rules_for_site",
    "rules_for_site_kind",
    "water_balance_readings",
]
