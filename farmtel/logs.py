"""The one logging setup of every ``farmtel`` command: text lines or JSON lines on stderr.

Text (the default): ``2026-05-09 07:35:25,123 INFO farmtel.runtime: message``. JSON
(``FARMTEL_LOG_FORMAT=json``), one object per line for log shippers (Loki, Elasticsearch,
journald): ``time`` (ISO 8601, UTC, milliseconds), ``level``, ``logger``, ``message``,
``exception`` (the formatted traceback, when there is one) and every ``extra=`` field of the
call. uvicorn's loggers go through the same handler (``log_config=None``).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_QUIET = ("amqtt", "transitions", "alembic")  # chatty libraries: warnings and worse only
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; extras never overwrite the standard keys."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                doc.setdefault(key, value)
        try:
            return orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # e.g. an int beyond 64 bits in an extra field
            return json.dumps(doc, default=str, ensure_ascii=False)


def configure_logging(log_format: Literal["text", "json"] = "text", *,
                      verbose: bool = False) -> None:
    """Log to stderr in ``log_format`` at INFO (DEBUG when ``verbose``).

    Like ``logging.basicConfig``, a no-op on a root logger that already has handlers (a test
    runner's).
    """
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
