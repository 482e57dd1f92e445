"""Fleet history: farms, sites and devices get ``retired_at``; ``device_placements`` records
which site each device stood on and when.

Every existing device gets its one placement: its current site from its ``created_at``, still
open (a retired or revoked device had no moves before this revision). Written by hand.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

RETIRABLE = ("farms", "sites", "devices")


def upgrade() -> None:
    for table in RETIRABLE:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "device_placements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_device_placements_device_id", "device_placements", ["device_id"])
    op.create_index("ix_device_placements_site_id", "device_placements", ["site_id"])
    op.execute(
        "INSERT INTO device_placements (device_id, site_id, valid_from, valid_to) "
        "SELECT id, site_id, created_at, NULL FROM devices ORDER BY id"
    )
    op.execute("UPDATE schema_version SET version = 2")  # a farmtel without migrations refuses it


def downgrade() -> None:
    op.execute("UPDATE schema_version SET version = 1")
    op.drop_index("ix_device_placements_site_id", table_name="device_placements")
    op.drop_index("ix_device_placements_device_id", table_name="device_placements")
    op.drop_table("device_placements")
    for table in reversed(RETIRABLE):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("retired_at")
