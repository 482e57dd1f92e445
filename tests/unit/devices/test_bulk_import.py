"""Bulk import: CSV (UTF-8, UTF-8 with BOM, GBK) and XLSX files read alike; a dry run lists every
bad row with its reason and writes nothing; an apply registers all or nothing, bumps the
registry version once and issues every device's credentials once."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devices.bulk_import import ImportConflicts, ImportInvalid, ImportReport, run_import
from devices.credentials import verify_password
from devices.import_file import MAX_ROWS, UnreadableFile, read_import_file
from devices.provisioning import create_farm, create_site, provision_device
from devices.registry import Device, Farm, Site, current_version, seed_counties
from farmtel.migrate import upgrade_schema
from storage.metadata import make_engine, make_session_factory

GOOD_CSV = """\
[农场]
农场编号,农场名称,区县,乡镇
farm-n,新农场,shanyin,岱岳镇
[地块]
地块编号,农场编号,类型,名称,面积（亩）,纬度,经度,播种日期
field-n1,farm-n,农田,东地,120,39.5,112.8,2026-04-20
gh-n1,farm-n,greenhouse,一号棚,2.5,,,
[设备]
设备编号,设备类型,地块编号,网关编号,属性
gw-n1,gateway,field-n1,,
sm-n1,soil_moisture,field-n1,gw-n1,"{""depth_cm"": 40}"
gc-n1,greenhouse_climate,gh-n1,,
sm-a9,soil_moisture,field-1,gw-a,
"""


@pytest.fixture
def session(metadata_url: str) -> Iterator[Session]:
    """farm-a (Shuocheng) with field-1 and gateway gw-a, and farm-b (Youyu) with field-b."""
    engine = make_engine(metadata_url)
    upgrade_schema(engine)
    with make_session_factory(engine)() as s:
        seed_counties(s)
        create_farm(s, Farm(id="farm-a", name="A", county_id="shuocheng"))
        create_farm(s, Farm(id="farm-b", name="B", county_id="youyu"))
        create_site(s, Site(id="field-1", farm_id="farm-a", kind="field", name="F", area_mu=10))
        create_site(s, Site(id="field-b", farm_id="farm-b", kind="field", name="B", area_mu=10))
        provision_device(s, device_id="gw-a", device_type="gateway", site_id="field-1")
        provision_device(s, device_id="gw-b", device_type="gateway", site_id="field-b")
        s.commit()
        yield s


def _counts(session: Session) -> tuple[int, int, int, int]:
    return (session.scalar(select(func.count()).select_from(Farm)) or 0,
            session.scalar(select(func.count()).select_from(Site)) or 0,
            session.scalar(select(func.count()).select_from(Device)) or 0,
            current_version(session))


def _xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    book = Workbook()
    assert book.active is not None
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _dry(session: Session, data: bytes, scope: frozenset[str] | None = None) -> ImportReport:
    return run_import(session, read_import_file(data), apply=False, farms_in_scope=scope).report


@pytest.mark.parametrize(("encoding", "found"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"),
                                                  ("gbk", "gb18030")])
def test_csv_in_utf8_with_or_without_bom_and_in_gbk_reads_alike(session, encoding, found):
    before = _counts(session)
    report = _dry(session, GOOD_CSV.encode(encoding))
    assert report.ok, report.problems
    assert report.encoding == found and report.format == "csv"
    assert report.rows == report.created == {"farms": 1, "sites": 2, "devices": 4}
    assert _counts(session) == before  # a dry run writes nothing


def test_dry_run_reports_every_bad_row_with_its_reason(session):
    data = _xlsx({
        "farms": [["id", "name", "county_id"],
                  ["farm-n", "新农场", "shanyin"],
                  ["farm-n", "重复", "shanyin"],          # 3: duplicate in file
                  ["farm-a", "已有", "shuocheng"],        # 4: exists
                  ["farm-x", "无县", "atlantis"],         # 5: unknown county
                  ["bad id!", "坏编号", "shanyin"]],      # 6: malformed id
        "sites": [["site_id", "farm_id", "kind", "name", "area_mu", "lat_deg", "lon_deg"],
                  ["s-ok", "farm-n", "field", "好地", 10, 39.5, 112.8],
                  ["s-nofarm", "farm-zz", "field", "无农场", 10, None, None],   # 3: unknown farm
                  ["s-badfarm", "farm-x", "field", "坏农场", 10, None, None],   # 4: bad parent row
                  ["s-lat", "farm-n", "field", "纬度", 10, 95, 112.8],          # 5: bad latitude
                  ["s-area", "farm-n", "field", "面积", -3, None, None],        # 6: bad area
                  ["s-nan", "farm-n", "field", "文字", "十亩", None, None],     # 7: not a number
                  ["s-kind", "farm-n", "pond", "池塘", 1, None, None]],         # 8: unknown kind
        "devices": [["device_id", "type", "site_id", "gateway_id"],
                    ["d-ok", "soil_moisture", "s-ok", None],
                    ["d-type", "toaster", "s-ok", None],          # 3: unknown type
                    ["d-ok", "soil_moisture", "s-ok", None],      # 4: duplicate in file
                    ["gw-a", "gateway", "field-1", None],         # 5: exists
                    ["d-site", "soil_moisture", "nowhere", None],  # 6: unknown site
                    ["d-gw", "soil_moisture", "s-ok", "d-ok"],     # 7: parent not a gateway
                    ["d-late", "soil_moisture", "s-ok", "gw-late"],  # 8: gateway later
                    ["gw-late", "gateway", "s-ok", None],
                    ["d-lat", "soil_moisture", "s-lat", None]],    # 10: its site row is bad
        "说明": [["随便写点什么"]],                                 # unknown sheet
    })
    before = _counts(session)
    report = _dry(session, data)
    got = {(x.sheet, x.row, x.column, x.code) for x in report.problems}
    assert got == {
        ("farms", 3, "id", "duplicate_in_file"), ("farms", 4, "id", "farm_exists"),
        ("farms", 5, "county_id", "unknown_county"), ("farms", 6, "id", "invalid_id"),
        ("sites", 3, "farm_id", "unknown_farm"), ("sites", 4, "farm_id", "parent_row_bad"),
        ("sites", 5, "lat_deg", "out_of_range"), ("sites", 6, "area_mu", "out_of_range"),
        ("sites", 7, "area_mu", "not_a_number"), ("sites", 8, "kind", "unknown_kind"),
        ("devices", 3, "type", "unknown_device_type"),
        ("devices", 4, "device_id", "duplicate_in_file"),
        ("devices", 5, "device_id", "device_exists"), ("devices", 6, "site_id", "unknown_site"),
        ("devices", 7, "gateway_id", "not_a_gateway"),
        ("devices", 8, "gateway_id", "gateway_later"),
        ("devices", 10, "site_id", "parent_row_bad"),
        ("说明", 1, "", "unknown_sheet"),
    }
    by_row = {(x.sheet, x.row): x for x in report.problems}
    assert by_row[("sites", 5)].reason_zh == "“95”超出允许范围 [-90, 90]"
    assert by_row[("sites", 5)].reason_en == "'95' is outside [-90, 90]"
    assert by_row[("farms", 5)].reason_zh == "未知区县“atlantis”"
    assert by_row[("farms", 3)].reason_en == "id 'farm-n' appears twice in the file (first on row 2)"
    assert by_row[("devices", 4)].error == "invalid" and by_row[("devices", 5)].error == "conflict"
    assert report.created == {"farms": 1, "sites": 1, "devices": 2}  # farm-n, s-ok, d-ok, gw-late
    assert _counts(session) == before
    with pytest.raises(ImportInvalid) as refused:
        run_import(session, read_import_file(data), apply=True)
    assert refused.value.report.problems == report.problems
    assert _counts(session) == before  # one bad row: nothing written, version unchanged


def test_one_bad_row_and_nothing_is_written(session):
    bad = GOOD_CSV.replace("gc-n1,greenhouse_climate", "gc-n1,coffee_machine")
    before = _counts(session)
    with pytest.raises(ImportInvalid) as refused:
        run_import(session, read_import_file(bad.encode()), apply=True)
    [problem] = refused.value.report.problems
    assert (problem.sheet, problem.row, problem.column) == ("设备", 12, "type")
    assert problem.reason_zh == "未知设备类型“coffee_machine”"
    session.rollback()
    assert _counts(session) == before
    assert session.get(Farm, "farm-n") is None and session.get(Device, "gw-n1") is None


def test_a_good_xlsx_file_registers_everything_once_with_credentials(session):
    data = _xlsx({
        "农场": [["农场编号", "农场名称", "区县"], ["farm-x1", "新农场", "pinglu"]],
        "地块": [["地块编号", "农场编号", "类型", "名称", "存栏数"],
                 ["barn-x1", "farm-x1", "畜舍", "牛舍", 120]],
        "设备": [["设备编号", "设备类型", "地块编号", "网关编号"],
                 ["gw-x1", "gateway", "barn-x1", None],
                 ["col-x1", "livestock_collar", "barn-x1", "gw-x1"],
                 ["col-x2", "livestock_collar", "barn-x1", "gw-x1"],
                 [1001, "barn_climate", "barn-x1", None]],   # a numeric id cell reads as "1001"
    })
    farms, sites, devices, version = _counts(session)
    result = run_import(session, read_import_file(data), apply=True)
    session.commit()
    assert result.report.applied and result.report.created == {"farms": 1, "sites": 1,
                                                               "devices": 4}
    assert _counts(session) == (farms + 1, sites + 1, devices + 4, version + 1)
    assert session.get(Site, "barn-x1").head_count == 120
    assert session.get(Device, "col-x2").gateway_id == "gw-x1"
    logins = {x.device_id: x for x in result.logins}
    assert sorted(logins) == ["1001", "col-x1", "col-x2", "gw-x1"]
    for login in logins.values():
        stored = session.get(Device, login.device_id)
        assert stored.password_hash != login.mqtt_password
        assert verify_password(login.mqtt_password, stored.password_hash)
        assert login.telemetry_topic.startswith("farmtel/farm-x1/")
    with pytest.raises(ImportConflicts):  # the same file again: every row exists
        run_import(session, read_import_file(data), apply=True)
    assert _counts(session) == (farms + 1, sites + 1, devices + 4, version + 1)


def test_a_scoped_caller_registers_no_farms_and_sees_only_its_farms(session):
    data = GOOD_CSV.replace("sm-a9,soil_moisture,field-1,gw-a",
                            "sm-a9,soil_moisture,field-1,gw-b\nsm-b9,soil_moisture,field-b,")
    report = _dry(session, data.encode(), scope=frozenset({"farm-a"}))
    got = {(x.sheet, x.column, x.value, x.code) for x in report.problems}
    assert ("农场", "id", "farm-n", "farms_admin_only") in got
    assert ("地块", "farm_id", "farm-n", "parent_row_bad") in got
    assert ("设备", "gateway_id", "gw-b", "not_a_gateway") in got  # farm-b's gateway: unknown
    assert ("设备", "site_id", "field-b", "unknown_site") in got


@pytest.mark.parametrize("data", [b"", b"\xff\xfe\x00\x00garbage\x81\x00", b"PK\x03\x04broken"])
def test_unreadable_files_are_refused(data):
    with pytest.raises(UnreadableFile):
        read_import_file(data)


def test_a_file_with_too_many_rows_is_refused_before_any_check():
    rows = "\n".join(f"sm-{i},soil_moisture,field-1" for i in range(MAX_ROWS))
    data = f"[devices]\ndevice_id,type,site_id\n{rows}\n".encode()
    with pytest.raises(UnreadableFile, match="rows"):
        read_import_file(data)
