"""Parameter sweeps: one record per sweep and one per point, each point linked to its run.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ntrader.db.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("strategy_type", sa.String(length=64), nullable=False),
        sa.Column("base_config", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("executor", sa.String(length=16), nullable=False),
        sa.Column("statistics", sa.JSON(), nullable=True),
        sa.Column("created_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
    )
    op.create_index(op.f("ix_sweeps_created_at"), "sweeps", ["created_at"])
    op.create_table(
        "sweep_points",
        sa.Column("sweep_id", sa.String(length=36), nullable=False),
        sa.Column("point_index", sa.Integer(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("backtest_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["sweep_id"],
            ["sweeps.id"],
            name=op.f("fk_sweep_points_sweep_id_sweeps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["backtest_id"],
            ["backtest_results.id"],
            name=op.f("fk_sweep_points_backtest_id_backtest_results"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("sweep_id", "point_index", name=op.f("pk_sweep_points")),
    )
    op.create_index(op.f("ix_sweep_points_backtest_id"), "sweep_points", ["backtest_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sweep_points_backtest_id"), table_name="sweep_points")
    op.drop_table("sweep_points")
    op.drop_index(op.f("ix_sweeps_created_at"), table_name="sweeps")
    op.drop_table("sweeps")
