"""Screened sweeps: each point's figures from the vectorised screen, and whether the engine
confirmed it (NULL for points of a sweep that ran every point through the engine).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sweep_points") as batch:
        batch.add_column(sa.Column("screen", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sweep_points") as batch:
        batch.drop_column("screen")
