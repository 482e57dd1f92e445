"""Bureau digitisation indicators against the plan's targets, measured from what reports.

Modules, one job each:

* ``periods`` (CST months, ranges), ``config`` (threshold, k, window budget),
* ``registry_view`` (the registry as plain values), ``completeness`` (window arithmetic for
  many devices at once), ``hourly`` (package: readings per device and hour, cached per CST day
  by a scheduled refresh), ``measure`` (counts from the hourly cache, else COUNT queries per
  site, judged by ``completeness``), ``counters``
  (flow meter volumes from daily summaries), ``rollup`` (site/farm/township/county/city),
* ``reference`` (sector weights and denominators, data with sources), ``coverage`` (sector
  coverage), ``water`` (灌溉水有效利用系数 from active meters), ``definitions`` and
  ``compute`` (indicator values), ``progress`` (straight-line trajectory),
* ``targets`` (versioned target sets in the DB), ``snapshots`` (write-once monthly and
  on-demand snapshots), ``serialize``/``export`` (JSON, CSV), ``privacy`` (k-anonymity),
  ``jobs`` (APScheduler registration: monthly snapshot, cache refresh), ``service`` (one
  evaluation end to end).

Nothing runs at import time.
"""

from analytics.indicators.config import IndicatorConfig
from analytics.indicators.jobs import register_hourly_counts_job, register_indicator_jobs
from analytics.indicators.periods import Period, month_period, parse_month, previous_month
from analytics.indicators.service import Evaluation, evaluate

__all__ = [
    "Evaluation",
    "IndicatorConfig",
    "Period",
    "evaluate",
    "month_period",
    "parse_month",
    "previous_month",
    "register_hourly_counts_job",
    "register_indicator_jobs",
]
