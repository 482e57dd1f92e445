"""Reading a registry import file into sections of rows, before any meaning is given to them.

Two formats, told apart by their first bytes:

* XLSX (a zip): every worksheet is a section named after its sheet; its first non-empty row is
  the header. Row numbers are the sheet's own (1 = Excel's first row).
* CSV (comma-separated, as Excel writes it): UTF-8 with or without a byte-order mark, or
  GB18030 (a superset of GBK, what Chinese Excel writes for "CSV"), detected by trying UTF-8
  first. A line whose first cell is
  ``[name]`` (for example ``[farms]`` or ``[农场]``) starts a section, and the next non-empty
  line is its header; a file without such lines is one unnamed section. Row numbers are the
  file's line numbers (1 = the first line).

Empty rows are skipped. ``UnreadableFile`` (422) when the bytes are neither.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Final

from storage.errors import InvalidInput

Cell = str | int | float | bool | date | datetime | time | None
"""One cell as the file gives it (CSV cells are always text)."""

XLSX_MAGIC: Final = b"PK\x03\x04"
MAX_ROWS: Final = 10_000
"""Rows a file may hold over all its sections. An import registers about 100-150 rows a second
on a busy 2-core machine, inside one transaction (on SQLite one write lock held throughout), so
this keeps a request near a minute; split larger fleets into several files."""

_SECTION_LINE: Final = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*$")
_UTF8_BOM: Final = b"\xef\xbb\xbf"


class UnreadableFile(InvalidInput):
    """The upload is not a CSV or XLSX file this module can read."""


@dataclass(frozen=True, slots=True)
class RawRow:
    """A non-empty row: its number in the file (1-based) and its cells."""

    number: int
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Section:
    """A sheet (XLSX) or a ``[name]`` section (CSV): its header and the rows under it."""

    name: str
    header_row: int
    header: tuple[str, ...]
    rows: tuple[RawRow, ...]


@dataclass(frozen=True, slots=True)
class ImportFile:
    """A read file: ``format`` is ``xlsx`` or ``csv``; ``encoding`` is a CSV's text encoding."""

    format: str
    encoding: str | None
    sections: tuple[Section, ...]


def decode_text(data: bytes) -> tuple[str, str]:
    """CSV bytes as text and the encoding found: ``utf-8-sig``, ``utf-8`` or ``gb18030``."""
    if data.startswith(_UTF8_BOM):
        return data[len(_UTF8_BOM):].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise UnreadableFile("the file is neither UTF-8 nor GBK/GB18030 text") from exc


def _cell(value: object) -> Cell:
    """An XLSX value as a ``Cell`` (decimals as floats, anything else as its text)."""
    if value is None or isinstance(value, str | int | float | date | time):
        return value
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _empty(cells: tuple[Cell, ...]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _sections(named_rows: list[tuple[str, list[RawRow]]]) -> tuple[Section, ...]:
    """Sections from (name, rows) pairs: the first row of each is its header."""
    out = []
    for name, rows in named_rows:
        if not rows:
            continue
        header, *body = rows
        out.append(Section(name=name, header_row=header.number,
                           header=tuple("" if c is None else str(c).strip() for c in header.cells),
                           rows=tuple(body)))
    return tuple(out)


def _count(rows: int) -> None:
    if rows > MAX_ROWS:
        raise UnreadableFile(f"more than {MAX_ROWS} rows")


def read_csv(data: bytes) -> ImportFile:
    """A CSV file with ``[name]`` section lines (or one unnamed section)."""
    text, encoding = decode_text(data)
    if "\x00" in text:
        raise UnreadableFile("binary data in a CSV file")
    parts: list[tuple[str, list[RawRow]]] = [("", [])]
    total = 0
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for cells in reader:
            number = reader.line_num
            row = tuple[Cell, ...](cells)
            if _empty(row):
                continue
            marker = _SECTION_LINE.match(cells[0]) if cells else None
            if marker and _empty(row[1:]):
                parts.append((marker.group(1), []))
                continue
            total += 1
            _count(total)
            parts[-1][1].append(RawRow(number, row))
    except csv.Error as exc:
        raise UnreadableFile(f"CSV line {reader.line_num}: {exc}") from exc
    return ImportFile("csv", encoding, _sections(parts))


def read_xlsx(data: bytes) -> ImportFile:
    """An XLSX workbook, one section per worksheet (values, not formulas)."""
    from openpyxl import load_workbook  # imported when an XLSX file comes

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnreadableFile("not a readable XLSX workbook") from exc
    parts: list[tuple[str, list[RawRow]]] = []
    total = 0
    try:
        for sheet in book.worksheets:
            rows: list[RawRow] = []
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                row = tuple(_cell(v) for v in values)
                if _empty(row):
                    continue
                total += 1
                _count(total)
                rows.append(RawRow(number, row))
            parts.append((sheet.title, rows))
    finally:
        book.close()
    return ImportFile("xlsx", None, _sections(parts))


def read_import_file(data: bytes) -> ImportFile:
    """An uploaded CSV or XLSX file (told apart by content, not by name)."""
    if not data.strip():
        raise UnreadableFile("the file is empty")
    if data.startswith(XLSX_MAGIC):
        return read_xlsx(data)
    return read_csv(data)
