"""Make ``bars`` a TimescaleDB hypertable, on PostgreSQL servers where the extension is there.

Only when the ``timescaledb`` extension is installed in the database (``CREATE EXTENSION
timescaledb`` is the DBA's step: it needs the library preloaded and usually a superuser).
Everywhere else (plain PostgreSQL, SQLite) this revision changes nothing. ``ts`` is an
integer (UTC nanoseconds), so the chunk interval is given in nanoseconds: one week.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 12:00:00
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CHUNK_NS = 7 * 24 * 3600 * 1_000_000_000
HAS_TIMESCALEDB = "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"


def hypertable_statements(dialect: str, has_timescaledb: bool) -> list[str]:
    """The SQL this revision runs on a database of ``dialect``."""
    if dialect != "postgresql" or not has_timescaledb:
        return []
    return [
        "SELECT create_hypertable('bars', 'ts', "
        f"chunk_time_interval => {CHUNK_NS}::bigint, "
        "migrate_data => true, if_not_exists => true)"
    ]


def upgrade() -> None:
    connection = op.get_bind()
    dialect = connection.dialect.name
    present = dialect == "postgresql" and connection.execute(text(HAS_TIMESCALEDB)).first()
    for statement in hypertable_statements(dialect, bool(present)):
        connection.execute(text(statement))


def downgrade() -> None:
    """Nothing to undo: a hypertable takes the same SQL as the plain table it was, so the
    earlier revisions read and write it unchanged."""
