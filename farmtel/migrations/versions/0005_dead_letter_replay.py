"""Dead letters per message and the replay area.

``dead_letters`` gets the refused message's farm (from its topic), whether the device id is
only the topic's claim, how many refusals it carried, its counts by reason (JSON), every reason
between commas (for ``LIKE '%,reason,%'``), and when it was replayed. Existing rows were one
per refusal: ``refused`` 1, ``reasons`` their reason. ``dead_letter_replay`` keeps the whole
payload of messages refused for a cause that may be fixed later. Written by hand.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("farm_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("claimed_by_topic", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("refused", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("counts", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("reasons", sa.String(length=512), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE dead_letters SET reasons = ',' || reason || ','")
    op.create_table(
        "dead_letter_replay",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dead_letter_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("reasons", sa.String(length=512), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=True),
        sa.Column("topic", sa.String(length=256), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dead_letter_replay_received_at", "dead_letter_replay", ["received_at"])
    op.create_index("ix_dead_letter_replay_device_id", "dead_letter_replay", ["device_id"])


def downgrade() -> None:
    op.drop_index("ix_dead_letter_replay_device_id", table_name="dead_letter_replay")
    op.drop_index("ix_dead_letter_replay_received_at", table_name="dead_letter_replay")
    op.drop_table("dead_letter_replay")
    with op.batch_alter_table("dead_letters") as batch:
        for column in ("replayed_at", "reasons", "counts", "refused", "claimed_by_topic",
                       "farm_id"):
            batch.drop_column(column)
