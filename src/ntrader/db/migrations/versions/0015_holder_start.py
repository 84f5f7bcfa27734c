"""Record which process holds a run, a sweep or a walk-forward analysis RUNNING, beyond its
pid: the boot it runs in and the clock tick it started at (``liveness.process_start``).
A pid reused after a reboot, or once the holder ended, then names another process, and the
record is known stale; neither value moves when the wall clock is set. Rows of earlier
versions have none: their holder is judged by its pid alone, as before.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TABLES = ("backtest_results", "sweeps", "walk_forwards")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("holder_start", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("holder_start")
