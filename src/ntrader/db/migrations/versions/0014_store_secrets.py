"""Secrets of this store: ``bar_cache`` signs the bars this store's processes keep in the
Redis bar cache, so that an entry someone else wrote there (or copied from another key) is
told apart from one of ours (see ntrader.services.bar_cache). Made here, so that a load
never has to write it (a read-only role, a transaction rolled back after the entry was set).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 09:30:00
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "store_secrets",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_store_secrets")),
    )
    op.bulk_insert(table, [{"name": "bar_cache", "value": secrets.token_bytes(32)}])


def downgrade() -> None:
    op.drop_table("store_secrets")
