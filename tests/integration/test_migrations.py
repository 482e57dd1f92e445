"""Migrations on SQLite and a real PostgreSQL: a database of the last release without migrations
upgrades with its data intact; the revisions build exactly the models' schema; a database newer
than this farmtel, or behind it for a service, is refused with a clear message.

The released database is made the old way, from ``released_schema/v1.<dialect>.sql``: the DDL
that ``create_schema`` (``create_all`` + the ``schema_version`` row) emitted at that release,
frozen, so later model changes do not change what "released" means here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, inspect, select, text

from analytics.alerts.store import Alert, AlertRepository
from api.auth import authenticate
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
from tests.integration._released import TOKEN, create_released_database, insert_released_data

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]



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
