"""The InfluxDB backend: line protocol over HTTP for writes, InfluxQL over ``/query`` for reads.

Writes go to ``/write`` (API v1) or ``/api/v2/write`` (API v2: InfluxDB 2/3, VictoriaMetrics);
reads use InfluxQL on ``/query`` for both (InfluxDB 2 serves it through its v1 compatibility
API). The layout is in ``_layout``, the lines in ``_line_protocol``, the statements and their
answers in ``_influxql``, the HTTP and its error mapping in ``_transport``.

The store rule is SQLite's (``storage.telemetry.first_wins``): InfluxDB itself overwrites a
field written again, so ``write`` first reads what the batch's devices hold at the batch's
instants (API v1; with API v2 within the batch only, as VictoriaMetrics has no InfluxQL) and
writes only new values. Two writers racing on one key between that read and their write can
still overwrite each other. ``seq``/``quality`` are stored once per point: those of the first
record stored at that device and instant (a later record adding another quantity there leaves
them as they are).

Retention and downsampling (API v1): ``_rollups``. With API v2 (``influxdb2://``) InfluxQL is
read-only (no ``INTO``, ``DELETE`` or retention policies through ``/query``): the bucket's own
retention period applies, ``maintain()`` refuses (``RollupsUnsupported``, with that
reason) and queries read raw data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from operator import itemgetter
from typing import Any, Final, Literal

from storage.clock import now_ms
from storage.influx._influxql import (
    IDS_PER_STATEMENT,
    bulk_statements,
    chunks,
    count_devices_statement,
    device_rows,
    field_keys_statement,
    latest_reading,
    latest_statement,
    quantities,
    quote_ident,
    range_statement,
    stored_points_statements,
)
from storage.influx._line_protocol import LineEncoder
from storage.influx._rollups import InfluxRollups, late_lines
from storage.influx._transport import FieldTypeConflict, Transport
from storage.naming import check_id, check_quantity, storable_quantity
from storage.rollups import (
    ROLLUPS_NEED_V1,
    Maintenance,
    Retention,
    RollupsUnsupported,
    late_marks,
    plan,
    reduce,
    rollups_may_answer,
)
from storage.telemetry import (
    TIME_MAX_MS,
    ClosedOnExit,
    RangeQuery,
    Reading,
    SeriesPoint,
    WriteResult,
    clamp_range,
)

__all__ = ["InfluxTelemetryStore"]

_DEVICE_ID: Final = itemgetter(0)  # Reading.device_id
_QUANTITY: Final = itemgetter(1)
_TS_MS: Final = itemgetter(3)


class InfluxTelemetryStore(ClosedOnExit):
    """``TelemetryStore`` on InfluxDB 1.x (API v1) or an ``/api/v2/write``-speaking server.

    ``base_url`` is e.g. ``http://127.0.0.1:8086``. API v1 needs ``database`` (plus optional
    ``username``/``password``); API v2 needs ``org``, ``bucket`` and ``token``, and reads go to
    the database ``database or bucket`` of the v1-compatible ``/query``. ``timeout_s`` bounds
    each HTTP request [s]; ``max_lines`` bounds the lines sent per write request. Errors are
    ``StoreUnavailable`` or ``StoreRejected`` as ``_transport`` maps them. ``retention`` is
    what ``maintain()`` keeps (API v1).
    """

    def __init__(
        self,
        base_url: str,
        database: str = "",
        *,
        username: str | None = None,
        password: str | None = None,
        api: Literal["v1", "v2"] = "v1",
        org: str = "",
        bucket: str = "",
        token: str = "",
        timeout_s: float = 10.0,
        max_connections: int = 8,
        max_lines: int = 5_000,
        auto_create: bool = True,
        retention: Retention | None = None,
    ) -> None:
        if api not in ("v1", "v2"):
            raise ValueError(f"api must be 'v1' or 'v2', not {api!r}")
        if api == "v1" and not database:
            raise ValueError("API v1 needs a database")
        if api == "v2" and not (org and bucket and token):
            raise ValueError("API v2 needs org, bucket and token")
        self.base_url = base_url.rstrip("/")
        self.api = api
        self.database = database or bucket
        self.org, self.bucket = org, bucket
        self._max_lines = max(1, max_lines)
        self._encoder = LineEncoder()
        self._transport = Transport(
            self.base_url, self.database, api=api, username=username, password=password,
            org=org, bucket=bucket, token=token, timeout_s=timeout_s,
            max_connections=max_connections, auto_create=auto_create,
        )
        self._rollups = (InfluxRollups(self._transport, retention or Retention())
                         if api == "v1" else None)

    # -- lifecycle --

    def close(self) -> None:
        """Close the HTTP connection pools."""
        self._transport.close()

    def create_database(self) -> None:
        """``CREATE DATABASE`` (API v1; a no-op when it exists)."""
        self._transport.create_database()

    def ping(self) -> None:
        """One cheap InfluxQL statement (checks the server, the credentials and ``/query``)."""
        self._transport.query("SHOW MEASUREMENTS LIMIT 1")

    # -- writes --

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        """Write a batch under the store rule (``first_wins``): the points of the batch's
        devices and instants already stored are read first (one request), then one line per
        device and instant goes out with the late marks of a batch holding readings of closed
        hours (API v1) in the same request.

        A partial write for a field type conflict (another writer made the field an integer)
        refuses that quantity's readings (``Refused.TYPE_CONFLICT``) and writes the batch
        again without them: one more request per clashing field, never one per reading.
        """
        if not readings:
            return WriteResult()
        stored = self._stored_points(readings)
        late: list[str] = []
        if self._rollups is not None:
            at = now_ms()
            marks = late_marks(readings, at)
            if marks:
                late = late_lines(marks, at)
        skip: dict[str, str] = {}
        while True:
            lines, result = self._encoder.encode(readings, stored, skip)
            try:
                for chunk in chunks(lines + late, self._max_lines):
                    self._transport.write(list(chunk))
            except FieldTypeConflict as exc:
                if exc.field in skip or not any(r.quantity == exc.field for r in readings):
                    raise  # not a quantity of this batch (seq, quality): refuse the batch
                skip[exc.field] = str(exc)
                continue
            return result

    def _stored_points(self, readings: Sequence[Reading]) -> dict[tuple[str, int], dict[str, float]]:
        """The values already stored at the batch's devices and instants, by (device, ts_ms):
        one request of statements over the batch's time span, ``IDS_PER_STATEMENT`` devices
        each (``seq`` is selected so that a point without these quantities is seen too)."""
        if self.api != "v1":  # InfluxQL reads may be missing (VictoriaMetrics): the batch only
            return {}
        names = sorted(storable_quantity(q) for q in set(map(_QUANTITY, readings)))
        devices = sorted({str(d) for d in map(_DEVICE_ID, readings)})
        statements = stored_points_statements(names, devices, min(map(_TS_MS, readings)),
                                              max(map(_TS_MS, readings)))
        out: dict[tuple[str, int], dict[str, float]] = {}
        for result in self._transport.query(";".join(statements)):
            for series in result.get("series", ()):
                device = (series.get("tags") or {}).get("device_id", "")
                columns = series["columns"][1:-1]  # time, *names, seq
                for row in series.get("values", ()):
                    out[device, int(row[0])] = {q: float(v) for q, v in zip(columns, row[1:-1],
                                                                           strict=True)
                                                if v is not None}
        return out

    def maintain(self, now_ms: int) -> Maintenance:
        """Roll up, recompute late hours, apply the retention (``_rollups``); with API v2
        ``RollupsUnsupported`` (InfluxQL there is read-only; the bucket's retention applies)."""
        if self._rollups is None:
            # ops13 (issue 13): refused instead of a silent no-op, so an influxdb2:// store never
            # looks as if it had rollups; the scheduler logs this once and drops its job.
            raise RollupsUnsupported(ROLLUPS_NEED_V1)
        return self._rollups.maintain(now_ms, self._quantities())

    # -- reads --

    def latest(
        self, device_ids: Sequence[str] | None = None, quantity: str | None = None
    ) -> list[Reading]:
        """The newest reading per (device, quantity): one ``last()`` per quantity."""
        if device_ids is not None:
            device_ids = [check_id(d) for d in device_ids]
            if not device_ids:
                return []
        names = [check_quantity(quantity)] if quantity is not None else self._quantities()
        if not names:
            return []
        out: list[Reading] = []
        id_chunks = list(chunks(device_ids, IDS_PER_STATEMENT)) if device_ids else [None]
        for ids in id_chunks:
            statements = [latest_statement(q, ids) for q in names]
            for q, result in zip(names, self._transport.query(";".join(statements)), strict=True):
                out += [latest_reading(device, q, row) for device, row in device_rows(result)]
        out.sort(key=lambda r: (r.device_id, r.quantity))
        return out

    def query(self, q: RangeQuery) -> list[SeriesPoint]:
        """Raw or window-aggregated points in ``[start_ms, end_ms)``, oldest first; windows of
        whole hours read the rollups for the rolled-up whole hours (and days) of the range."""
        span = clamp_range(q.start_ms, q.end_ms)
        if span is None or q.limit <= 0:  # InfluxQL reads LIMIT 0 as "no limit"
            range_statement(q)  # the names are checked all the same
            return []
        q = replace(q, start_ms=span[0], end_ms=span[1])
        statement = range_statement(q)
        if self._rollups is not None and rollups_may_answer(q):
            segments = plan(q, self._rollups.rolled_until())
            if segments is not None:
                return reduce(self._rollups.partials(segments, q), q)
        (result,) = self._transport.query(statement)
        points = [
            SeriesPoint(device, q.quantity, int(row[0]), float(row[1]))
            for device, row in device_rows(result)
            if row[1] is not None
        ]
        points.sort(key=lambda p: (p.ts_ms, p.device_id))
        return points[: max(q.limit, 0)]

    def count_devices_since(self, since_ms: int) -> int:
        """Distinct devices with a line at or after ``since_ms``."""
        span = clamp_range(since_ms, TIME_MAX_MS)
        if span is None:
            return 0
        (result,) = self._transport.query(count_devices_statement(span[0]))
        return len({device for device, row in device_rows(result) if row[1]})

    # -- bulk reads (indicator counts and counters; see TelemetryStore) --

    def window_counts(
        self, quantity: str, start_ms: int, end_ms: int, *, every_s: int,
        device_ids: Sequence[str] | None = None,
    ) -> list[tuple[str, int, int]]:
        """``count(field)`` per ``time(every_s)`` window and device (fill none), ordered by
        device then window; many ``device_ids`` are read as one unfiltered statement and
        filtered here (cheaper for InfluxDB than thousands of OR-ed tag filters)."""
        if every_s <= 0:
            raise ValueError("every_s must be positive")
        select = f"count({quote_ident(check_quantity(quantity))})"
        group = f'time({int(every_s)}s), "device_id" fill(none)'
        rows = self._bulk(select, group, start_ms, end_ms, device_ids)
        return sorted((d, int(row[0]), int(row[1])) for d, row in rows if row[1])

    def raw_series(
        self, quantity: str, start_ms: int, end_ms: int, *,
        device_ids: Sequence[str] | None = None,
    ) -> list[tuple[str, int, float]]:
        """Every value of the field in ``[start_ms, end_ms)`` per device, ordered by device
        then time."""
        rows = self._bulk(quote_ident(check_quantity(quantity)), '"device_id"', start_ms, end_ms,
                          device_ids)
        return sorted((d, int(row[0]), float(row[1])) for d, row in rows if row[1] is not None)

    def _bulk(self, select: str, group: str, start_ms: int, end_ms: int,
              device_ids: Sequence[str] | None) -> list[tuple[str, list[Any]]]:
        """(device, row) of ``SELECT select ... GROUP BY group`` over ``[start_ms, end_ms)``,
        only of ``device_ids`` when given; ``StoreRejected`` if the answer was cut short."""
        span = clamp_range(start_ms, end_ms)
        if span is None:
            return []
        start_ms, end_ms = span
        wanted = None if device_ids is None else {check_id(d) for d in device_ids}
        if wanted is not None and not wanted:
            return []
        statements = bulk_statements(select, group, start_ms, end_ms,
                                     None if wanted is None else sorted(wanted))
        return [(d, row) for result in self._transport.query(";".join(statements))
                for d, row in device_rows(result, complete=True) if wanted is None or d in wanted]

    def _quantities(self) -> list[str]:
        (result,) = self._transport.query(field_keys_statement())
        return quantities(result)
