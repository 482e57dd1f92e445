"""Bulk registration of farms, sites and devices from one CSV or XLSX file: a dry run that
reports every bad row, and an all-or-nothing apply that issues the devices' credentials once.

File layout (``devices.import_file`` reads it): one sheet (XLSX) or ``[section]`` (CSV) per
kind, named ``farms``/``农场``, ``sites``/``地块`` and ``devices``/``设备``, each with a header
row. Columns, by their English name or any alias (case, spaces and full-width brackets do not
matter); * = required:

========  ===============================================================================
farms     id* (farm_id, 农场编号), name* (名称, 农场名称), county_id* (county, 区县, 区县编号),
          township (乡镇)
sites     id* (site_id, 地块编号), farm_id* (农场编号), kind* (类型: field 农田, greenhouse 温室,
          barn 畜舍, water_source 水源), name* (名称, 地块名称), area_mu (面积(亩)), head_count
          (存栏数), crop (作物), species (畜种), planting_date (播种日期, YYYY-MM-DD), lat_deg
          (纬度), lon_deg (经度), elevation_m (海拔(米))
devices   device_id* (id, 设备编号), type* (设备类型: a catalogue type), site_id* (地块编号),
          gateway_id (网关编号), attributes (属性: a JSON object)
========  ===============================================================================

Rules: every row passes the very checks of single registration (``devices.provisioning``:
ids, ranges, catalogue types, county, farm, site, gateway, "exists"), run by calling those
functions in a transaction; on top, the file's own rules: no id twice in the file, a site's
farm registered or in the file, a device's gateway registered or on an earlier row, and the
caller's scope (``farms_in_scope``: a scoped caller registers no farms and sees only its farms'
sites and gateways; others look unknown). Rows that depend on a bad row are reported too.

A dry run rolls the transaction back; an apply with any problem rolls it back and raises
``ImportRefused`` (``ImportConflicts``, 409, when every problem is an id that exists, as when a
file is applied twice; ``ImportInvalid``, 422, otherwise); a clean apply leaves the rows in the
caller's transaction with the registry version bumped once, and returns every new device's
credentials, which exist nowhere else.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from devices import provisioning as p
from devices.contract import telemetry_topic
from devices.credentials_file import DeviceLogin
from devices.import_file import Cell, ImportFile, RawRow, Section
from devices.registry import Device, Farm, Site, bump_version
from storage.errors import Conflict, InvalidInput, NotFound, OutOfScope

FARMS, SITES, DEVICES = "farms", "sites", "devices"
KINDS: Final = (FARMS, SITES, DEVICES)
"""The kinds of rows, in the order they are registered."""

KIND_ALIASES: Final[Mapping[str, str]] = {
    "farms": FARMS, "farm": FARMS, "农场": FARMS,
    "sites": SITES, "site": SITES, "地块": SITES, "场所": SITES, "地块与设施": SITES,
    "devices": DEVICES, "device": DEVICES, "设备": DEVICES,
}

COLUMN_ALIASES: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = {
    FARMS: {"id": ("farm_id", "农场编号", "编号"), "name": ("farm_name", "名称", "农场名称"),
            "county_id": ("county", "区县", "区县编号"), "township": ("乡镇",)},
    SITES: {"id": ("site_id", "地块编号", "场所编号", "编号"), "farm_id": ("farm", "农场编号"),
            "kind": ("类型", "场所类型"), "name": ("site_name", "名称", "地块名称"),
            "area_mu": ("area", "面积", "面积(亩)", "面积_亩"),
            "head_count": ("存栏", "存栏数"), "crop": ("作物",), "species": ("畜种",),
            "planting_date": ("播种日期",), "lat_deg": ("lat", "latitude", "纬度"),
            "lon_deg": ("lon", "longitude", "经度"),
            "elevation_m": ("elevation", "海拔", "海拔(米)", "海拔_米")},
    DEVICES: {"device_id": ("id", "设备编号", "编号"), "type": ("device_type", "设备类型"),
              "site_id": ("site", "地块编号", "场所编号"),
              "gateway_id": ("gateway", "网关", "网关编号"), "attributes": ("属性",)},
}
REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {
    FARMS: ("id", "name", "county_id"), SITES: ("id", "farm_id", "kind", "name"),
    DEVICES: ("device_id", "type", "site_id"),
}
ID_COLUMN: Final = {FARMS: "id", SITES: "id", DEVICES: "device_id"}
SITE_KIND_ALIASES: Final[Mapping[str, str]] = {
    "农田": "field", "大田": "field", "温室": "greenhouse", "大棚": "greenhouse",
    "畜舍": "barn", "圈舍": "barn", "牛舍": "barn", "水源": "water_source",
}
_FLOATS: Final = ("area_mu", "lat_deg", "lon_deg", "elevation_m")

REASONS: Final[Mapping[str, tuple[str, str]]] = {
    # code: (zh-CN, en); {value} is the cell, {detail} what the code adds
    "unknown_sheet": ("未知的工作表或分区“{value}”（应为 farms/农场、sites/地块、devices/设备）",
                      "unknown sheet or section '{value}' (expected farms, sites or devices)"),
    "no_rows": ("文件中没有农场、地块或设备行", "the file holds no farm, site or device rows"),
    "unknown_column": ("未知的列“{value}”", "unknown column '{value}'"),
    "missing_column": ("缺少必填列 {value}", "required column {value} is missing"),
    "required": ("必填项为空", "required value is empty"),
    "not_a_number": ("“{value}”不是数字", "'{value}' is not a number"),
    "not_an_integer": ("“{value}”不是整数", "'{value}' is not a whole number"),
    "not_a_date": ("“{value}”不是日期（YYYY-MM-DD）", "'{value}' is not a date (YYYY-MM-DD)"),
    "bad_json": ("属性必须是 JSON 对象", "attributes must be a JSON object"),
    "duplicate_in_file": ("编号“{value}”在文件中重复（第 {detail} 行已出现）",
                          "id '{value}' appears twice in the file (first on row {detail})"),
    "invalid_id": ("编号“{value}”格式不对（字母或数字开头，只含字母、数字和 . _ -）",
                   "id '{value}' is malformed (letters, digits, . _ -; starting with a letter or digit)"),
    "unknown_kind": ("未知的场所类型“{value}”（field 农田、greenhouse 温室、barn 畜舍、water_source 水源）",
                     "unknown site kind '{value}' (field, greenhouse, barn, water_source)"),
    "bad_text": ("“{value}”长度不合规（名称 1–128 个字符，乡镇、作物、畜种至多 64 个）",
                 "'{value}' has a bad length (names 1-128 characters, township, crop, species up to 64)"),
    "out_of_range": ("“{value}”超出允许范围 {detail}", "'{value}' is outside {detail}"),
    "unknown_county": ("未知区县“{value}”", "unknown county '{value}'"),
    "farm_exists": ("农场“{value}”已存在", "farm '{value}' exists already"),
    "unknown_farm": ("未知农场“{value}”（系统和文件中都没有）",
                     "unknown farm '{value}' (neither registered nor in the file)"),
    "farm_retired": ("农场“{value}”已停用", "farm '{value}' is retired"),
    "site_exists": ("地块“{value}”已存在", "site '{value}' exists already"),
    "unknown_site": ("未知地块“{value}”（系统和文件中都没有）",
                     "unknown site '{value}' (neither registered nor in the file)"),
    "site_retired": ("地块“{value}”已停用", "site '{value}' is retired"),
    "device_exists": ("设备“{value}”已存在", "device '{value}' exists already"),
    "unknown_device_type": ("未知设备类型“{value}”", "unknown device type '{value}'"),
    "not_a_gateway": ("“{value}”不是已登记的网关，也不是文件中前面的网关",
                      "'{value}' is not a registered gateway nor one on an earlier row"),
    "gateway_other_farm": ("网关“{value}”属于另一个农场，设备只能通过本农场的网关上报",
                           "gateway '{value}' is on another farm; a device reports only through "
                           "a gateway of its own farm"),
    "gateway_behind_gateway": ("网关不能挂在另一个网关“{value}”后面",
                               "a gateway cannot report through another gateway ('{value}')"),
    "gateway_later": ("网关“{value}”在后面的第 {detail} 行才出现，请把网关放在前面",
                      "gateway '{value}' comes on a later row ({detail}); put gateways first"),
    "parent_row_bad": ("所依赖的“{value}”（第 {detail} 行）有错误",
                       "'{value}' it depends on (row {detail}) has errors"),
    "farms_admin_only": ("只有管理员可以登记农场", "only administrators register farms"),
    "refused": ("登记被拒绝：{detail}", "refused: {detail}"),
}

_CODE_OF: Final[Mapping[type[p.ProvisioningError], tuple[str, str]]] = {
    # provisioning refusal -> (reason code, column)
    p.UnknownCounty: ("unknown_county", "county_id"),
    p.FarmExists: ("farm_exists", "id"),
    p.UnknownFarm: ("unknown_farm", "farm_id"),
    p.FarmRetired: ("farm_retired", "farm_id"),
    p.SiteExists: ("site_exists", "id"),
    p.UnknownSite: ("unknown_site", "site_id"),
    p.SiteRetired: ("site_retired", "site_id"),
    p.InvalidDeviceId: ("invalid_id", "device_id"),
    p.UnknownDeviceType: ("unknown_device_type", "type"),
    p.DeviceExists: ("device_exists", "device_id"),
    p.NotAGateway: ("not_a_gateway", "gateway_id"),
    p.GatewayOfAnotherFarm: ("gateway_other_farm", "gateway_id"),
    p.GatewayBehindGateway: ("gateway_behind_gateway", "gateway_id"),
}
_FIELD_CODES: Final = {"id": "invalid_id", "kind": "unknown_kind", "name": "bad_text",
                       "township": "bad_text", "crop": "bad_text", "species": "bad_text"}
_KIND_OF_ERROR: Final = ((Conflict, "conflict"), (NotFound, "not_found"),
                         (OutOfScope, "out_of_scope"), (InvalidInput, "invalid"))


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one row (or one column of the file) is bad. ``row`` is the file's own row number
    (0: the file as a whole); ``error`` is ``invalid``, ``conflict``, ``not_found`` or
    ``out_of_scope``."""

    sheet: str
    row: int
    column: str
    value: str
    code: str
    error: str
    reason_zh: str
    reason_en: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What a file would do (dry run) or did (apply): rows read and created per kind, and
    every problem, by sheet order and row."""

    format: str
    encoding: str | None
    rows: dict[str, int]
    created: dict[str, int]
    problems: list[Problem]
    applied: bool

    @property
    def ok(self) -> bool:
        """True when no row is bad."""
        return not self.problems


@dataclass(frozen=True, slots=True)
class ImportResult:
    """An applied import: its report and the new devices' credentials (shown once)."""

    report: ImportReport
    logins: list[DeviceLogin]


class ImportRefused(Exception):
    """An apply refused because of bad rows; nothing was written. ``report`` says why."""

    def __init__(self, report: ImportReport) -> None:
        first = report.problems[0]
        super().__init__(f"import refused, nothing written: {len(report.problems)} problem(s); "
                         f"first: {first.sheet} row {first.row} {first.column}: {first.reason_en}")
        self.report = report


class ImportInvalid(ImportRefused, InvalidInput):
    """Refused: some row is malformed, unknown or out of scope."""


class ImportConflicts(ImportRefused, Conflict):
    """Refused: every problem is an id that exists already (the file was applied before?)."""


def _text(cell: Cell) -> str | None:
    """A cell as trimmed text (whole floats without ``.0``, as Excel shows ids); None if empty."""
    if cell is None:
        return None
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    if isinstance(cell, datetime):
        cell = cell.date()
    text = str(cell).strip()
    return text or None


def _normal(header: str) -> str:
    return re.sub(r"\s+", "", header.replace("（", "(").replace("）", ")")).lower()


def _column_names(kind: str) -> dict[str, str]:
    """Normalised header -> column, for one kind."""
    names = {}
    for column, aliases in COLUMN_ALIASES[kind].items():
        for alias in (column, *aliases):
            names[_normal(alias)] = column
    return names


def _guess_kind(header: Sequence[str]) -> str | None:
    """The kind of an unnamed CSV section, from its header."""
    for kind in (DEVICES, SITES, FARMS):
        names = _column_names(kind)
        if all(c in {names.get(_normal(h)) for h in header} for c in REQUIRED[kind]):
            return kind
    return None


@dataclass
class _Row:
    """A row of one kind with its values by column (parsed) and its number."""

    kind: str
    number: int
    values: dict[str, Any]
    cells: dict[str, str]


@dataclass
class _Run:
    """The state of one import: problems found, ids seen, what was created."""

    sheet_names: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[int, int, int, Problem]] = field(default_factory=list)
    errors_of_row: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    first_row: dict[tuple[str, str], int] = field(default_factory=dict)
    bad_rows: dict[tuple[str, str], int] = field(default_factory=dict)
    site_farm: dict[str, str] = field(default_factory=dict)
    logins: list[DeviceLogin] = field(default_factory=list)

    def add(self, kind: str, number: int, column: str, value: object, code: str,
            error: str = "invalid", detail: object = "") -> None:
        """Record a problem of row ``number`` of ``kind`` (a kind or a sheet's own name)."""
        zh, en = REASONS[code]
        shown = "" if value is None else str(value)
        order = KINDS.index(kind) if kind in KINDS else -1
        self.problems.append((order, number, len(self.problems), Problem(
            sheet=self.sheet_names.get(kind, kind), row=number, column=column, value=shown,
            code=code, error=error, reason_zh=zh.format(value=shown, detail=detail),
            reason_en=en.format(value=shown, detail=detail))))
        self.errors_of_row.setdefault((kind, number), set()).add(error)


def _parse_value(run: _Run, kind: str, number: int, column: str, cell: Cell) -> Any:
    """A cell as the column's type; records a problem and returns None when it is not."""
    text = _text(cell)
    if text is None:
        return {} if column == "attributes" else None
    try:
        if column in _FLOATS:
            value = float(cell) if isinstance(cell, int | float) else float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        if column == "head_count":
            number_value = float(cell) if isinstance(cell, int | float) else float(text)
            if not number_value.is_integer():
                run.add(kind, number, column, text, "not_an_integer")
                return None
            return int(number_value)
    except ValueError:
        run.add(kind, number, column, text, "not_a_number")
        return None
    if column == "planting_date":
        if isinstance(cell, datetime):
            return cell.date()
        if isinstance(cell, date):
            return cell
        try:
            return datetime.strptime(text.replace("/", "-"), "%Y-%m-%d").date()
        except ValueError:
            run.add(kind, number, column, text, "not_a_date")
            return None
    if column == "attributes":
        try:
            attributes = json.loads(text)
        except ValueError:
            attributes = None
        if not isinstance(attributes, dict):
            run.add(kind, number, column, text, "bad_json")
            return None
        return attributes
    if column == "kind":
        return SITE_KIND_ALIASES.get(text, text.lower())
    return text


def _rows_of(run: _Run, kind: str, section: Section) -> list[_Row]:
    """The rows of a section with parsed values; column and cell problems recorded."""
    names = _column_names(kind)
    columns: list[str | None] = []
    for header in section.header:
        column = names.get(_normal(header)) if header else None
        if header and column is None:
            run.add(kind, section.header_row, header, header, "unknown_column")
        columns.append(column)
    missing = [c for c in REQUIRED[kind] if c not in columns]
    for column in missing:
        run.add(kind, section.header_row, column, column, "missing_column")
    if missing:  # the section's rows cannot be read: one problem, not one per row
        return []
    return [_parse_row(run, kind, columns, raw) for raw in section.rows]


def _parse_row(run: _Run, kind: str, columns: Sequence[str | None], raw: RawRow) -> _Row:
    values: dict[str, Any] = {}
    cells: dict[str, str] = {}
    for column, cell in zip(columns, raw.cells, strict=False):
        if column is None:
            continue
        cells[column] = _text(cell) or ""
        values[column] = _parse_value(run, kind, raw.number, column, cell)
    for column in REQUIRED[kind]:
        if not cells.get(column):
            run.add(kind, raw.number, column, "", "required")
    return _Row(kind, raw.number, values, cells)


def _error_problem(run: _Run, row: _Row, exc: p.ProvisioningError) -> None:
    """Record a provisioning refusal of ``row``."""
    error_kind = next((name for cls, name in _KIND_OF_ERROR if isinstance(exc, cls)), "invalid")
    if isinstance(exc, p.InvalidField):
        code = _FIELD_CODES.get(exc.field, "out_of_range")
        lo_hi = p.SITE_LIMITS.get(exc.field)
        detail = f"[{lo_hi[0]:g}, {lo_hi[1]:g}]" if lo_hi else ""
        run.add(row.kind, row.number, exc.field, row.cells.get(exc.field, ""), code, error_kind,
                detail)
        return
    code, column = _CODE_OF.get(type(exc), ("refused", ID_COLUMN[row.kind]))
    run.add(row.kind, row.number, column, row.cells.get(column, ""), code, error_kind, str(exc))


def _parent_bad(run: _Run, row: _Row, parent_kind: str, column: str) -> bool:
    """Record and say so when the row's parent (by ``column``) is a bad row of the file."""
    parent = row.values.get(column)
    bad_at = run.bad_rows.get((parent_kind, parent)) if parent else None
    if bad_at is None:
        return False
    run.add(row.kind, row.number, column, parent, "parent_row_bad", "invalid", bad_at)
    return True


def _register(session: Session, run: _Run, row: _Row, farms_in_scope: frozenset[str] | None,
              device_rows: Mapping[str, int]) -> None:
    """Register one parsed row through ``devices.provisioning``, or record why not."""
    v = row.values
    try:
        if row.kind == FARMS:
            if farms_in_scope is not None:
                run.add(row.kind, row.number, "id", row.cells.get("id"), "farms_admin_only",
                        "out_of_scope")
                return
            p.create_farm(session, Farm(id=v["id"], name=v.get("name"),
                                        county_id=v.get("county_id"),
                                        township=v.get("township")), bump=False)
        elif row.kind == SITES:
            if _parent_bad(run, row, FARMS, "farm_id"):
                return
            if farms_in_scope is not None and v["farm_id"] not in farms_in_scope:
                run.add(row.kind, row.number, "farm_id", v["farm_id"], "unknown_farm",
                        "not_found")
                return
            p.create_site(session, Site(**{c: v.get(c) for c in COLUMN_ALIASES[SITES]},
                                        attributes={}), bump=False)
            run.site_farm[v["id"]] = v["farm_id"]
        else:
            _register_device(session, run, row, farms_in_scope, device_rows)
            return
        session.flush()
        run.created[row.kind] += 1
    except p.ProvisioningError as exc:
        _error_problem(run, row, exc)


def _farm_of_site(session: Session, run: _Run, site_id: str) -> str | None:
    if site_id in run.site_farm:
        return run.site_farm[site_id]
    site = session.get(Site, site_id)
    return site.farm_id if site is not None else None


def _register_device(session: Session, run: _Run, row: _Row,
                     farms_in_scope: frozenset[str] | None, device_rows: Mapping[str, int]) -> None:
    v = row.values
    if _parent_bad(run, row, SITES, "site_id") or _parent_bad(run, row, DEVICES, "gateway_id"):
        return
    site_id: str = v["site_id"]
    gateway_id: str | None = v.get("gateway_id")
    farm_id = _farm_of_site(session, run, site_id)
    if farms_in_scope is not None and farm_id not in farms_in_scope:
        run.add(row.kind, row.number, "site_id", site_id, "unknown_site", "not_found")
        return
    if gateway_id is not None:
        later = device_rows.get(gateway_id)
        if later is not None and later > row.number and (DEVICES, gateway_id) not in run.first_row:
            run.add(row.kind, row.number, "gateway_id", gateway_id, "gateway_later", "invalid",
                    later)
            return
        gateway = session.get(Device, gateway_id)
        if farms_in_scope is not None and gateway is not None \
                and _farm_of_site(session, run, gateway.site_id) not in farms_in_scope:
            run.add(row.kind, row.number, "gateway_id", gateway_id, "not_a_gateway", "not_found")
            return
    issued = p.provision_device(session, device_id=v["device_id"], device_type=v["type"],
                                site_id=site_id, attributes=v.get("attributes") or {},
                                gateway_id=gateway_id, bump=False)
    session.flush()
    run.created[DEVICES] += 1
    assert farm_id is not None  # provisioning found the site
    run.logins.append(DeviceLogin(
        device_id=issued.device_id, type=v["type"], site_id=site_id, farm_id=farm_id,
        mqtt_username=issued.mqtt_username, mqtt_password=issued.mqtt_password,
        telemetry_topic=telemetry_topic(farm_id, issued.device_id)))


def _sections_by_kind(run: _Run, file: ImportFile) -> dict[str, list[_Row]]:
    """Parsed rows per kind (file order within a kind); sheet problems recorded."""
    by_kind: dict[str, list[_Row]] = {k: [] for k in KINDS}
    for section in file.sections:
        kind = KIND_ALIASES.get(_normal(section.name)) if section.name \
            else _guess_kind(section.header)
        if kind is None:
            run.add(section.name or "?", section.header_row, "", section.name or "?",
                    "unknown_sheet")
            continue
        run.sheet_names.setdefault(kind, section.name or kind)
        by_kind[kind].extend(_rows_of(run, kind, section))
    return by_kind


def _mark_duplicates(run: _Run, by_kind: Mapping[str, list[_Row]]) -> None:
    """Record ids given twice in the file (the later rows are the bad ones)."""
    for kind, rows in by_kind.items():
        seen: dict[str, int] = {}
        for row in rows:
            rid = row.values.get(ID_COLUMN[kind])
            if not rid:
                continue
            if rid in seen:
                run.add(kind, row.number, ID_COLUMN[kind], rid, "duplicate_in_file", "invalid",
                        seen[rid])
            else:
                seen[rid] = row.number


def run_import(session: Session, file: ImportFile, *, apply: bool,
               farms_in_scope: frozenset[str] | None = None) -> ImportResult:
    """Check (``apply=False``: always rolled back) or register (``apply=True``) the rows of
    ``file`` in ``session``'s transaction; see the module docstring. ``farms_in_scope`` None
    = every farm (an administrator). The caller commits an apply."""
    run = _Run()
    by_kind = _sections_by_kind(run, file)
    _mark_duplicates(run, by_kind)
    device_rows = {r.values["device_id"]: r.number for r in by_kind[DEVICES]
                   if r.values.get("device_id")}
    for kind in KINDS:
        for row in by_kind[kind]:
            run.rows[kind] += 1
            if (kind, row.number) not in run.errors_of_row:
                _register(session, run, row, farms_in_scope, device_rows)
            rid = row.values.get(ID_COLUMN[kind])
            if rid and (kind, rid) not in run.first_row:
                run.first_row[(kind, rid)] = row.number
                # rows under it are checked against what exists unless it is bad for more
                # than existing already
                if run.errors_of_row.get((kind, row.number), set()) - {"conflict"}:
                    run.bad_rows[(kind, rid)] = row.number
    if not any(run.rows.values()) and not run.problems:
        run.add("", 0, "", "", "no_rows")
    problems = [x[-1] for x in sorted(run.problems, key=lambda x: x[:3])]
    ok = not problems
    report = ImportReport(format=file.format, encoding=file.encoding, rows=run.rows,
                          created=run.created if ok or not apply else dict.fromkeys(KINDS, 0),
                          problems=problems, applied=apply and ok)
    if not apply or not ok:
        session.rollback()
        if apply:
            refused = all(x.error == "conflict" for x in problems)
            raise (ImportConflicts if refused else ImportInvalid)(report)
        return ImportResult(report, [])
    if any(run.created.values()):
        bump_version(session)
        session.flush()
    return ImportResult(report, run.logins)
