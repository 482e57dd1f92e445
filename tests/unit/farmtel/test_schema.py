"""The metadata schema: every table is listed, and the version is recorded."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from sqlalchemy import inspect, select

from farmtel.schema import SCHEMA_VERSION, TABLES
from storage.metadata import (
    Base,
    SchemaMismatch,
    SchemaVersion,
    create_schema,
    make_engine,
    make_session_factory,
)

PACKAGES = ("analytics", "api", "devices", "farmtel", "ingest", "storage")


def _import_every_module() -> None:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            importlib.import_module(info.name)


def test_every_table_registered_on_base_is_listed() -> None:
    _import_every_module()
    registered = {mapper.class_ for mapper in Base.registry.mappers}
    assert registered == set(TABLES)
    assert len(TABLES) == len(set(TABLES))


def test_create_schema_creates_exactly_the_listed_tables_and_records_the_version() -> None:
    engine = make_engine("sqlite:///:memory:")
    create_schema(engine, TABLES, SCHEMA_VERSION)
    create_schema(engine, TABLES, SCHEMA_VERSION)  # idempotent
    assert set(inspect(engine).get_table_names()) == {t.__tablename__ for t in TABLES}
    with make_session_factory(engine)() as session:
        assert session.scalars(select(SchemaVersion.version)).all() == [SCHEMA_VERSION]


def test_another_schema_version_is_refused() -> None:
    engine = make_engine("sqlite:///:memory:")
    create_schema(engine, TABLES, SCHEMA_VERSION)
    with pytest.raises(SchemaMismatch):
        create_schema(engine, TABLES, SCHEMA_VERSION + 1)
