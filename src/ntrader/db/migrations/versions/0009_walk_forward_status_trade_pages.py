"""Walk-forward analyses get a status, an error and their sweep's space: the HTTP API stores
one PENDING before its job runs it (from the stored space), and a job that dies leaves it
INTERRUPTED or FAILED with the reason. Rows of earlier versions were stored only once
complete: they are COMPLETED, without a space.

Trades get an index in their page order (run, entry time, id): the API reads a run's
trades a page at a time from a key, and without it each page sorted all of the run's
trades.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 18:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("walk_forwards") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="COMPLETED")
        )
        batch.add_column(sa.Column("error_message", sa.Text(), nullable=True))
        batch.add_column(sa.Column("spec", sa.JSON(), nullable=True))
    op.create_index(
        "ix_trades_backtest_entry", "trades", ["backtest_id", "entry_time", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_trades_backtest_entry", table_name="trades")
    with op.batch_alter_table("walk_forwards") as batch:
        batch.drop_column("spec")
        batch.drop_column("error_message")
        batch.drop_column("status")
