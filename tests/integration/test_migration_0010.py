"""Migration 0010 on SQLite and PostgreSQL: down to 0009 removes the sweeps' reason and the
fetch jobs' table and keeps the sweeps; up again adds them back, and the schema is then
what ``db/tables.py`` declares."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from ntrader.db.database import Database
from ntrader.db.engine import SCHEMA_HEAD, _alembic_config, current_revision
from ntrader.db.tables import metadata
from ntrader.models.sweep import SweepStatus
from ntrader.services.sweep_executors import InProcessExecutor
from ntrader.services.sweep_history import SweepHistory
from ntrader.services.sweep_service import SweepService
from tests.integration.sweep_support import BASE, SPEC


def _migrate(database: Database, revision: str) -> None:
    config = _alembic_config(database.engine)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        if revision == "head":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)


def test_down_to_0009_and_up_again(database: Database) -> None:
    sweep, _plan = SweepService(database).create(BASE, SPEC, InProcessExecutor.name)
    SweepHistory(database).interrupt(sweep.id, "its bars are gone")
    assert current_revision(database.engine) == SCHEMA_HEAD

    _migrate(database, "0009")
    schema = inspect(database.engine)
    assert "ib_fetch_jobs" not in schema.get_table_names()
    assert "error_message" not in {c["name"] for c in schema.get_columns("sweeps")}

    _migrate(database, "head")
    assert current_revision(database.engine) == SCHEMA_HEAD
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    kept = SweepHistory(database).get(sweep.id)
    assert (kept.status, kept.error_message) == (SweepStatus.INTERRUPTED, None)
    with database.transaction() as repos:
        assert repos.fetch_jobs.list(10) == []
