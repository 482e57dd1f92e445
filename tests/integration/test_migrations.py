"""Migrations on SQLite and a real PostgreSQL: a database of the last release without migrations
upgrades with its data intact; the revisions build exactly the models' schema; a database newer
than this farmtel, or behind it for a service, is refused with a clear message.

The released database is made the old way, from ``released_schema/v1.<dialect>.sql``: the DDL
that ``create_schema`` (``create_all`` + the ``schema_version`` row) emitted at that release,
frozen, so later model changes do not change what "released" means here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, inspect, select, text

from analytics.alerts.store import Alert, AlertRepository
from api.auth import authenticate
from devices.credentials import hash_token
from devices.registry import Device
from farmtel.cli import main
from farmtel.migrate import (
    SchemaTooNew,
    downgrade_schema,
    head_revision,
    schema_status,
    upgrade_schema,
)
from farmtel.runtime import open_metadata
from farmtel.schema import TABLES
from farmtel.settings import Settings
from storage.metadata import Base, make_engine

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

RELEASED = Path(__file__).with_name("released_schema")
TOKEN = "ft_viewer_token_of_the_released_database"
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty metadata database: a new SQLite file, or a new database on the session's
    PostgreSQL (``metadata_url`` gives one already at head there)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def engine(empty_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cli_env(empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``farmtel`` commands of this test run on ``empty_url``."""
    monkeypatch.setenv("FARMTEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FARMTEL_DATABASE_URL", empty_url)
    monkeypatch.setenv("FARMTEL_ADMIN_TOKEN", "ft_admin_of_the_migration_test")
    return Settings()


def create_released_database(engine: Engine) -> None:
    """Today's released schema, made the old way (its frozen DDL), with ``schema_version`` 1."""
    sql = (RELEASED / f"v1.{engine.dialect.name}.sql").read_text()
    body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    with engine.begin() as conn:
        for statement in body.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)


def insert_released_data(engine: Engine) -> None:
    """Representative rows in the released columns, written like the release wrote them
    (serial ids from the database): registry, a token, alerts with their audit trail, a
    snapshot with values and evidence, a field day, a dead letter, hourly counts."""
    meta = MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(t["counties"].insert(), [
            {"id": "legacy", "name_zh": "旧县", "name_en": "Legacy County", "plan_group": "先行示范"}])
        conn.execute(t["farms"].insert(), [
            {"id": "farm-1", "name": "Legacy farm", "county_id": "legacy", "township": "东关"}])
        conn.execute(t["sites"].insert(), [
            {"id": "site-1", "farm_id": "farm-1", "kind": "field", "name": "North field",
             "area_mu": 120.5, "head_count": None, "crop": "maize", "species": None,
             "planting_date": date(2026, 5, 1), "lat_deg": 39.33, "lon_deg": 112.43,
             "elevation_m": 1050.0, "attributes": {"soil": "loam", "irrigation": "drip"}},
            {"id": "barn-1", "farm_id": "farm-1", "kind": "barn", "name": "Barn",
             "area_mu": None, "head_count": 400, "crop": None, "species": "dairy cattle",
             "planting_date": None, "lat_deg": None, "lon_deg": None, "elevation_m": None,
             "attributes": {}}])
        device = {"attributes": {}, "password_hash": "$scrypt$released", "created_at": T0,
                  "revoked_at": None}
        conn.execute(t["devices"].insert(), [
            device | {"id": "gw-1", "type": "gateway", "site_id": "site-1", "gateway_id": None,
                      "mqtt_username": "dev-gw-1"},
            device | {"id": "soil-1", "type": "soil_probe", "site_id": "site-1",
                      "gateway_id": "gw-1", "mqtt_username": "dev-soil-1",
                      "attributes": {"depths_cm": [10, 30, 60]}},
            device | {"id": "barn-env-1", "type": "barn_env", "site_id": "barn-1",
                      "gateway_id": None, "mqtt_username": "dev-barn-env-1", "revoked_at": T0}])
        conn.execute(t["registry_version"].insert(), [{"id": 1, "version": 7}])
        conn.execute(t["api_tokens"].insert(), [
            {"name": "county viewer", "role": "viewer", "token_hash": hash_token(TOKEN),
             "scope": {"counties": ["legacy"]}, "created_at": T0, "revoked_at": None}])
        alert = {"subject_type": "device", "device_id": "soil-1", "site_id": "site-1",
                 "farm_id": "farm-1", "county_id": "legacy", "title_zh": "土壤过干",
                 "title_en": "Soil too dry", "value": 12.5, "threshold": 15.0, "note": None}
        open_id = conn.execute(t["alerts"].insert().returning(t["alerts"].c.id), alert | {
            "rule_id": "soil_dry", "subject_id": "soil-1", "severity": "warning",
            "state": "acknowledged", "opened_at": T0, "acknowledged_at": T0,
            "acknowledged_by": "agronomist", "resolved_at": None, "resolved_by": None,
            "open_key": 1}).scalar_one()
        closed_id = conn.execute(t["alerts"].insert().returning(t["alerts"].c.id), alert | {
            "rule_id": "no_data", "subject_id": "soil-1", "severity": "critical",
            "state": "resolved", "opened_at": T0, "acknowledged_at": None,
            "acknowledged_by": None, "resolved_at": T0, "resolved_by": "system",
            "open_key": None, "note": "data back"}).scalar_one()
        conn.execute(t["alert_events"].insert(), [
            {"alert_id": open_id, "at": T0, "from_state": None, "to_state": "open",
             "actor": "system", "note": None},
            {"alert_id": open_id, "at": T0, "from_state": "open", "to_state": "acknowledged",
             "actor": "agronomist", "note": "irrigating tomorrow"},
            {"alert_id": closed_id, "at": T0, "from_state": None, "to_state": "open",
             "actor": "system", "note": None},
            {"alert_id": closed_id, "at": T0, "from_state": "open", "to_state": "resolved",
             "actor": "system", "note": "data back"}])
        set_id = conn.execute(t["indicator_target_sets"].insert().returning(
            t["indicator_target_sets"].c.id), {
            "version": "plan-2026", "title": "朔州市十四五规划", "baseline_year": 2025,
            "target_year": 2030, "source": {"document": "plan.pdf", "page": 12},
            "created_at": T0, "created_by": "bureau"}).scalar_one()
        conn.execute(t["indicator_targets"].insert(), [
            {"set_id": set_id, "position": 0, "key": "water_saving", "name_zh": "节水",
             "name_en": "Water saving", "unit": "%", "baseline": 0.0, "target": 20.0,
             "scope": "city", "source_ref": "p. 12"}])
        snap = t["indicator_snapshots"]
        snapshot_id = conn.execute(snap.insert().returning(snap.c.id), {
            "kind": "monthly", "month": "2026-06", "period_label": "2026年6月",
            "period_start": T0, "period_end": T0, "measured_until": T0, "created_at": T0,
            "created_by": "bureau", "target_set_id": set_id, "active_threshold_pct": 80.0,
            "reference": {"devices": 3}}).scalar_one()
        value = {"snapshot_id": snapshot_id, "name_zh": "节水", "name_en": "Water saving",
                 "unit": "%", "baseline": 0.0, "target": 20.0, "expected": 4.0,
                 "status": "on_track"}
        conn.execute(t["indicator_snapshot_values"].insert(), [
            value | {"key": "water_saving", "scope": "city", "value": 5.5, "progress_pct": 27.5},
            value | {"key": "water_saving", "scope": "legacy", "value": None,
                     "progress_pct": None, "status": "no_data"}])
        conn.execute(t["indicator_snapshot_evidence"].insert(), [
            {"snapshot_id": snapshot_id, "evidence": {"sites": ["site-1"], "days": 30}}])
        conn.execute(t["field_days"].insert(), [
            {"site_id": "site-1", "day": date(2026, 6, 1), "station_id": "gw-1",
             "et0_mm": 5.1, "et0_method": "fao56", "kc": 1.2, "etc_mm": 6.12,
             "etc_adj_mm": 6.0, "rain_mm": None, "effective_rain_mm": 0.0,
             "irrigation_mm": 20.0, "irrigation_m3": 1606.7, "deep_percolation_mm": 0.5,
             "depletion_mm": 31.0, "observed_depletion_mm": 29.5, "taw_mm": 120.0,
             "raw_mm": 66.0, "root_depth_m": 0.8, "computed_at": T0}])
        conn.execute(t["dead_letters"].insert(), [
            {"received_at": T0, "reason": "bad_json", "detail": "not JSON", "topic": "t/x",
             "device_id": None, "quantity": None, "payload": b"\x00\xffnot json"}])
        conn.execute(t["indicator_hourly_counts"].insert(), [
            {"day": date(2026, 6, 1), "quantity": "soil_moisture", "hours": 24, "final": True,
             "n_devices": 2, "list_key": "k" * 40, "device_ids": "soil-1\nbarn-env-1",
             "counts": bytes(range(48)), "counters": None, "updated_at": T0}])


def released_rows(engine: Engine, columns: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the released tables, in their released columns, in primary-key order."""
    meta = MetaData()
    meta.reflect(engine, only=list(columns))
    rows = {}
    with engine.connect() as conn:
        for name, cols in columns.items():
            table = meta.tables[name]
            order = list(table.primary_key.columns)
            query = select(*(table.c[c] for c in cols)).order_by(*order)
            rows[name] = [tuple(r) for r in conn.execute(query)]
    return rows


def schema_differences(engine: Engine) -> list[Any]:
    """What autogenerate would still change: the models against the migrated database."""
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                     Base.metadata))


def legacy_schema_version(engine: Engine) -> int:
    with engine.connect() as conn:
        (version,) = conn.execute(text("SELECT version FROM schema_version WHERE id = 1")).one()
    return int(version)


def refusal(argv: list[str]) -> str:
    """The message ``farmtel ARGV`` exits with (it must refuse before starting anything)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert isinstance(exit_info.value.code, str), exit_info.value.code
    return exit_info.value.code


@pytest.mark.parametrize("upgrader", ["farmtel db upgrade", "farmtel up"])
def test_a_released_database_upgrades_with_its_data_intact(engine, cli_env, upgrader, capsys):
    create_released_database(engine)
    insert_released_data(engine)
    columns = {name: [c["name"] for c in inspect(engine).get_columns(name)]
               for name in inspect(engine).get_table_names() if name != "schema_version"}
    before = released_rows(engine, columns)
    assert sum(map(len, before.values())) == 24  # in 16 tables
    status = schema_status(engine)
    assert status.legacy and not status.current

    # a service of the multi-process topology does not upgrade: it says what to run
    message = refusal(["ingest"])
    assert "created before migrations" in message and "farmtel db upgrade" in message

    if upgrader == "farmtel db upgrade":
        main(["db", "upgrade"])
        assert f"-> {head_revision()} (head)" in capsys.readouterr().out
        assert released_rows(engine, columns) == before
        meta = open_metadata(cli_env, upgrade=False)  # what `farmtel api` etc. then do
    else:
        meta = open_metadata(cli_env)  # what `farmtel up` does on start
    try:
        # every released row is still there, unchanged (starting seeds counties and a token)
        after = released_rows(engine, columns)
        assert {name: [r for r in rows if r in before[name]] for name, rows in after.items()} == before
        assert schema_status(engine).at_head
        main(["db", "current"])
        assert capsys.readouterr().out.strip() == f"farmtel db current: {head_revision()} (head)"
        assert schema_differences(engine) == []

        # the application reads and writes the upgraded data
        with meta.sessions() as session:
            token = authenticate(session, TOKEN)
            assert token is not None and token.scope == {"counties": ["legacy"]}
            soil = session.get(Device, "soil-1")
            assert soil is not None and soil.gateway_id == "gw-1"
            assert soil.attributes == {"depths_cm": [10, 30, 60]}
            alert_id = session.scalars(select(Alert.id).where(Alert.rule_id == "soil_dry")).one()
        alerts = AlertRepository(meta.sessions)
        assert [a.rule_id for a in alerts.active_alerts()] == ["soil_dry"]
        trail = [(e.from_state, e.to_state, e.note) for e in alerts.events(alert_id)]
        assert trail == [(None, "open", None), ("open", "acknowledged", "irrigating tomorrow")]
        assert alerts.resolve(alert_id, "agronomist", "irrigated").state == "resolved"
        assert len(alerts.events(alert_id)) == 3  # a new event id after the released ones
    finally:
        meta.engine.dispose()


def test_the_revisions_build_exactly_the_models_schema_and_downgrade_to_nothing(engine):
    status = upgrade_schema(engine)
    assert status.at_head and status.current == (head_revision(),)
    assert set(inspect(engine).get_table_names()) == (
        {t.__tablename__ for t in TABLES} | {"alembic_version"})
    assert schema_differences(engine) == []
    assert upgrade_schema(engine) == status  # at head: nothing to do

    # schema_version, all a farmtel from before migrations checks, says 1 exactly at 0001
    assert legacy_schema_version(engine) == (1 if head_revision() == "0001" else 2)
    downgrade_schema(engine, "0001")
    assert legacy_schema_version(engine) == 1

    downgrade_schema(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    assert schema_status(engine).current == ()
    assert upgrade_schema(engine).at_head
    assert schema_differences(engine) == []


def test_a_database_newer_than_this_farmtel_is_refused_by_every_command(engine, cli_env):
    upgrade_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))

    with pytest.raises(SchemaTooNew):
        open_metadata(cli_env)
    for argv in (["up"], ["ingest"], ["api"], ["db", "upgrade"]):
        message = refusal(argv)
        assert message.startswith(f"farmtel {argv[0]}: the metadata database is at revision "
                                  "9999, which this farmtel does not know"), message
        assert "newer farmtel" in message
    with engine.connect() as conn:  # left as it was
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999"


def test_a_service_refuses_a_database_behind_head_and_an_empty_one(engine, cli_env):
    message = refusal(["scheduler"])
    assert "empty database" in message and "run `farmtel db upgrade`" in message
    assert "0099" in refusal(["db", "upgrade", "--revision", "0099"])  # no such revision
    main(["db", "upgrade", "--revision", "0001"])
    assert schema_status(engine).current == ("0001",)
    if head_revision() != "0001":
        assert "run `farmtel db upgrade`" in refusal(["api"])
