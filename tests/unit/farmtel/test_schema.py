"""The metadata schema: every table is listed, and the migrations create exactly those
(on both databases, against the models column by column: tests/integration/test_migrations.py)."""

from __future__ import annotations

import importlib
import pkgutil

from sqlalchemy import inspect

from farmtel.migrate import upgrade_schema
from farmtel.schema import TABLES
from storage.metadata import Base, make_engine

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


def test_the_migrations_create_exactly_the_listed_tables_once() -> None:
    engine = make_engine("sqlite:///:memory:")
    status = upgrade_schema(engine)
    assert upgrade_schema(engine) == status  # at head: nothing left to do
    assert status.at_head
    assert set(inspect(engine).get_table_names()) == (
        {t.__tablename__ for t in TABLES} | {"alembic_version"})
