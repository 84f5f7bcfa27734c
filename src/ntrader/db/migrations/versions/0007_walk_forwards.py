"""Walk-forward analyses: one record linking each window's training sweep and test run.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ntrader.db.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "walk_forwards",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("strategy_type", sa.String(length=64), nullable=False),
        sa.Column("base_config", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("efficiency", sa.Float(), nullable=True),
        sa.Column("created_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_walk_forwards")),
    )
    op.create_index(op.f("ix_walk_forwards_created_at"), "walk_forwards", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_walk_forwards_created_at"), table_name="walk_forwards")
    op.drop_table("walk_forwards")
