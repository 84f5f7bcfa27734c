"""Drop the bars -> instruments foreign key: a per-row check that dominated bulk imports.

PostgreSQL fires a referential-integrity check for every row a COPY adds; on 1M bars that
was ~80 % of the import. Imports resolve or create the instrument in the same transaction,
and instruments are never deleted, so the key bought nothing the application lacks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 15:35:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_FK_NAME = "fk_bars_instrument_id_instruments"


def upgrade() -> None:
    with op.batch_alter_table("bars", schema=None) as batch_op:
        batch_op.drop_constraint(_FK_NAME, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("bars", schema=None) as batch_op:
        batch_op.create_foreign_key(_FK_NAME, "instruments", ["instrument_id"], ["id"])
