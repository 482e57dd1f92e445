"""How readings are laid out in InfluxDB: one measurement, tags per device, fields per quantity.

Measurement ``telemetry``; tags ``county``, ``device_id``, ``device_type``, ``farm_id``,
``site_id`` (empty ones omitted); one float field per quantity plus the integer fields ``seq``
and ``quality``. Readings sharing ``(device_id, ts_ms)`` are one point; timestamps are epoch ms.
"""

from __future__ import annotations

from typing import Final

MEASUREMENT: Final = "telemetry"
TAG_KEYS: Final = ("county", "device_id", "device_type", "farm_id", "site_id")
"""Every tag key, sorted (as InfluxDB likes them); ``Reading`` attributes of the same names."""
META_FIELDS: Final = frozenset({"seq", "quality"})
"""The per-point integer fields next to the quantities."""
LATEST_TAGS: Final = ("county", "device_type", "farm_id", "site_id")
"""The tags read back with a ``last()`` value (``device_id`` is the series' own tag)."""
