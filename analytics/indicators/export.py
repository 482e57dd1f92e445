"""CSV export of indicator values (UTF-8 with BOM, so spreadsheet programs read the Chinese)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

CSV_COLUMNS = ("period", "scope", "scope_name_zh", "key", "name_zh", "name_en", "unit", "value",
               "baseline", "target", "expected", "progress_pct", "status", "target_set")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A cell; text that a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return f"{value:.6g}" if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def values_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV text of value rows (keys as in ``CSV_COLUMNS``; missing ones are blank)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in CSV_COLUMNS])
    return out.getvalue()
