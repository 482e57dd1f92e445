"""FARMTEL_LOG_FORMAT=json: one JSON object per log line with time, level, logger, message,
exception and extra fields; text stays the default."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from datetime import datetime

import orjson

from farmtel.logs import JsonFormatter
from tests.servers import farmtel_env


def test_json_lines_carry_level_message_exception_and_extras():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("farmtel.test_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("spool at %d bytes", 42, extra={"device_id": "sm-1", "level": "spoofed"})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("write failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    first, second = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING" and first["message"] == "spool at 42 bytes"
    assert first["logger"] == "farmtel.test_logs" and first["device_id"] == "sm-1"
    assert first["time"].endswith("Z") and datetime.fromisoformat(first["time"])
    assert "exception" not in first
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


def test_the_farmtel_command_logs_json_when_asked(tmp_path):
    code = ("import logging; from farmtel import cli; "
            "cli._HANDLERS['api'] = lambda settings, args: logging.getLogger('farmtel').info("
            "'serving', extra={'port': settings.api_port}); cli.main(['api'])")
    env = farmtel_env(data_dir=tmp_path, log_format="json", api_port="8123")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    line = orjson.loads(out.stderr.strip().splitlines()[-1])
    assert (line["level"], line["logger"], line["message"], line["port"]) == \
        ("INFO", "farmtel", "serving", 8123)
    text = subprocess.run([sys.executable, "-c", code], env=farmtel_env(data_dir=tmp_path),
                          capture_output=True, text=True, timeout=60, check=True)
    assert " INFO farmtel: serving" in text.stderr  # the default stays text
