"""Jurisdictions as data: ``jurisdictions`` and ``jurisdiction_units`` (the city or
county-level city, its units with plan group and townships), and the append-only
``official_denominators`` and ``reported_indicator_values`` (each figure with its
provenance; an edit is a new row). The packaged jurisdiction is loaded by the application
the first time indicators are needed, not here. Written by hand.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def _provenance() -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("jurisdiction_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("document", sa.String(length=512), nullable=False),
        sa.Column("section", sa.String(length=512), nullable=False),
        sa.Column("entered_by", sa.String(length=128), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["jurisdiction_id"], ["jurisdictions.id"]),
        sa.PrimaryKeyConstraint("id"),
    ]


def upgrade() -> None:
    op.create_table(
        "jurisdictions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("level_zh", sa.String(length=32), nullable=False),
        sa.Column("unit_level_zh", sa.String(length=32), nullable=False),
        sa.Column("target_set_version", sa.String(length=64), nullable=True),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "jurisdiction_units",
        sa.Column("county_id", sa.String(length=32), nullable=False),
        sa.Column("jurisdiction_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("townships", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["county_id"], ["counties.id"]),
        sa.ForeignKeyConstraint(["jurisdiction_id"], ["jurisdictions.id"]),
        sa.PrimaryKeyConstraint("county_id"),
    )
    op.create_index("ix_jurisdiction_units_jurisdiction_id", "jurisdiction_units",
                    ["jurisdiction_id"])
    op.create_table("official_denominators", *_provenance(),
                    sa.Column("key", sa.String(length=32), nullable=False),
                    sa.Column("valid_from", sa.Date(), nullable=False))
    op.create_index("ix_official_denominators_jurisdiction_id", "official_denominators",
                    ["jurisdiction_id"])
    op.create_table("reported_indicator_values", *_provenance(),
                    sa.Column("key", sa.String(length=64), nullable=False))
    op.create_index("ix_reported_indicator_values_jurisdiction_id", "reported_indicator_values",
                    ["jurisdiction_id"])


def downgrade() -> None:
    for table in ("reported_indicator_values", "official_denominators"):
        op.drop_index(f"ix_{table}_jurisdiction_id", table_name=table)
        op.drop_table(table)
    op.drop_index("ix_jurisdiction_units_jurisdiction_id", table_name="jurisdiction_units")
    op.drop_table("jurisdiction_units")
    op.drop_table("jurisdictions")
