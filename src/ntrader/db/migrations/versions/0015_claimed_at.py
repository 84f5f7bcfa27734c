"""Record when a process claimed a sweep or a walk-forward analysis RUNNING (backtests have
``started_at``), so that a pid that was reused, after a reboot for example, by a process
that started after the claim is not taken for the holder. Rows of earlier versions have
none: their holder is judged by its pid alone, as before.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ntrader.db.tables

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TABLES = ("sweeps", "walk_forwards")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("claimed_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=True)
            )


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("claimed_at")
