"""Ingest counters survive restarts: ``ingest_worker_stats.base`` holds the sum of a worker's
earlier runs (``stats`` stays the current run and its heartbeat). Written by hand.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_worker_stats") as batch:
        batch.add_column(sa.Column("base", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ingest_worker_stats") as batch:
        batch.drop_column("base")
