"""Store every bar series a second time as column blocks, which loads read (a row per span
of a series instead of a row per bar; see ntrader.db.bar_blocks), and build the blocks of
the bars already stored.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ntrader.db import bar_blocks

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bar_blocks",
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("bar_count", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("instrument_id", "timeframe", "block", name=op.f("pk_bar_blocks")),
    )
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        # Packed floats barely compress: storing them as they are saves PostgreSQL trying on
        # every write and unpacking on every read.
        op.execute("ALTER TABLE bar_blocks ALTER COLUMN payload SET STORAGE EXTERNAL")
    # Not refused here: a migration that stopped on a row edited by hand would leave every
    # command unusable. Loads refuse such bars, naming the repair.
    bar_blocks.rebuild_all(connection, refuse_unsound=False)


def downgrade() -> None:
    op.drop_table("bar_blocks")
