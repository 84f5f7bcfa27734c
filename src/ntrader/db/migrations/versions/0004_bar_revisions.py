"""Record every import that adds or replaces bars: the data version of each series.

A series (instrument, timeframe) starts with no revision; each import that changes it adds
one row with the next revision number, when it ran and what it changed. Series stored
before this migration have data version 0 until their next change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ntrader.db.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bar_revisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("import_id", sa.String(length=36), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("rows_added", sa.Integer(), nullable=False),
        sa.Column("rows_replaced", sa.Integer(), nullable=False),
        sa.Column("first_ts", sa.BigInteger(), nullable=False),
        sa.Column("last_ts", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["instruments.id"],
            name=op.f("fk_bar_revisions_instrument_id_instruments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bar_revisions")),
        sa.UniqueConstraint("import_id", name=op.f("uq_bar_revisions_import_id")),
        sa.UniqueConstraint(
            "instrument_id",
            "timeframe",
            "revision",
            name=op.f("uq_bar_revisions_instrument_id_timeframe_revision"),
        ),
    )


def downgrade() -> None:
    op.drop_table("bar_revisions")
