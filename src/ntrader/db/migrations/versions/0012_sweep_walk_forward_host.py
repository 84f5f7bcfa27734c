"""Record the process running a sweep or a walk-forward analysis (host name and pid), as
backtests do, so one left RUNNING by a killed process can be told stale and resumed. Rows
of earlier versions have none: whether their process still runs is not known.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TABLES = ("sweeps", "walk_forwards")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("host", sa.String(length=255), nullable=True))
            batch.add_column(sa.Column("host_pid", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("host_pid")
            batch.drop_column("host")
