"""The InfluxDB telemetry backend: ``InfluxTelemetryStore`` (API v1 and v2 writes, InfluxQL
reads), with the line-protocol and InfluxQL builders it is made of."""

from storage.influx._influxql import latest_statement, quote_ident, quote_literal, range_statement
from storage.influx._layout import MEASUREMENT, TAG_KEYS
from storage.influx._line_protocol import (
    LineEncoder,
    escape_key,
    escape_measurement,
    to_line_protocol,
)
from storage.influx.store import InfluxTelemetryStore

__all__ = [
    "MEASUREMENT",
    "TAG_KEYS",
    "InfluxTelemetryStore",
    "LineEncoder",
    "escape_key",
    "escape_measurement",
    "latest_statement",
    "quote_ident",
    "quote_literal",
    "range_statement",
    "to_line_protocol",
]
