"""Walk-forward analyses remember the training sweep of the window they are running: an
analysis stopped in the middle of that sweep resumes it instead of running its finished
points again. Rows of earlier versions have none (they resume at their next window).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("walk_forwards") as batch:
        batch.add_column(sa.Column("current_sweep_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("walk_forwards") as batch:
        batch.drop_column("current_sweep_id")
