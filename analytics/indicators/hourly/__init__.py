"""Readings per device and hour, kept per CST day, so that a month's completeness reads a few
rows instead of every reading (200,000 devices x a month = ~1.8 billion readings).

One row per (CST day, counted quantity) in ``indicator_hourly_counts`` (metadata database):

* ``device_ids``: the registry devices of that quantity when the row was written, sorted, one
  per line (the same list day after day until the registry changes, so readers map it once);
* ``counts``: their readings per hour of the day, uint8 [n, 24] saturating at 255, zlib;
* ``counters`` (counter quantities, ``volume_m3``): per device, its readings of the covered
  hours reduced to what counter differencing needs (``COUNTER_FIELDS``: count, first and last
  time [UTC ms] and value [m³], the sum of the non-negative steps between consecutive readings
  [m³], the number of decreases), float64 [n, 7], zlib;
* ``hours``: hours covered from 00:00 CST (24 = the whole day); ``final``: recomputed in full
  once the day was ``final_after_s`` old, and never touched again.

The counted quantities are the representative quantities of the catalogue (the first of each
device type: ``vwc_pct``, ``air_temp_c``, ``body_temp_c``, ``volume_m3``). The scheduled
``refresh.refresh_hourly_counts`` adds the hours that ended at least ``settle_s`` ago. Readers
(``counts.hourly_counts``, ``counter_days.counter_days``) take cached hours from here and every
other hour from the store (``window_counts``/``raw_series``), so results never depend on
whether the job has run (devices a row does not list — registered after it was written — are
read from the store too). What the cache can miss: readings stored for an hour after it was
cached (more than ``settle_s`` late) count once the day is final (``final_after_s``, default
2 days, covers gateway backlogs); readings arriving later than that do not count until
``refresh_hourly_counts`` is run with ``rebuild=True`` (after a backfill, for instance).

Modules, one job each:

* ``parts``: one day's counts of one quantity (``DayPart``) as arrays, and their encoding;
* ``table``: the ``indicator_hourly_counts`` table, the counted quantities, reading its rows;
* ``refresh``: the scheduled job that fills the cache (``refresh_hourly_counts``);
* ``counts``: readings per device and hour for an evaluation, from the cache and the store;
* ``counter_days``: flow-meter counter summaries per device and day, the same way;
* ``_store``: bounded bulk reads of the store shared by the three above.
"""
