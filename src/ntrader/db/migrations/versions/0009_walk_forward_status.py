"""Walk-forward analyses get a status, an error and their sweep's space: the HTTP API stores
one PENDING before its job runs it (from the stored space), and a job that dies leaves it
INTERRUPTED or FAILED with the reason. Rows of earlier versions were stored only once
complete: they are COMPLETED, without a space.

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


def downgrade() -> None:
    with op.batch_alter_table("walk_forwards") as batch:
        batch.drop_column("spec")
        batch.drop_column("error_message")
        batch.drop_column("status")
