"""Sites get ``irrigation_method`` (sprinkler, micro, low_pressure_pipe, surface, rainfed; NULL =
not declared): 高效节水灌溉面积 counts only sprinkler, micro and low-pressure-pipe fields.
Existing sites stay undeclared. Written by hand.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("irrigation_method", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("irrigation_method")
