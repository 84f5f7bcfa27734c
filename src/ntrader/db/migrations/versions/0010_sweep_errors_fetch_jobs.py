"""Sweeps say why they stopped: a sweep stored INTERRUPTED (its bars gone, its worker
crashed, the server stopped) keeps the reason, for `sweep show` and the API.

IB fetch jobs are stored, not kept in the server's memory: a job is stored PENDING before
its 202, survives a restart (left RUNNING, it becomes INTERRUPTED) and can be resumed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ntrader.db.tables

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sweeps") as batch:
        batch.add_column(sa.Column("error_message", sa.Text(), nullable=True))
    op.create_table(
        "ib_fetch_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("started_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ib_fetch_jobs")),
    )
    op.create_index(op.f("ix_ib_fetch_jobs_created_at"), "ib_fetch_jobs", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ib_fetch_jobs_created_at"), table_name="ib_fetch_jobs")
    op.drop_table("ib_fetch_jobs")
    with op.batch_alter_table("sweeps") as batch:
        batch.drop_column("error_message")
