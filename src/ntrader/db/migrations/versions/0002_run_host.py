"""Record the host of a running backtest, so a stale RUNNING row can be told from a live one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("backtest_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("backtest_results", schema=None) as batch_op:
        batch_op.drop_column("host")
