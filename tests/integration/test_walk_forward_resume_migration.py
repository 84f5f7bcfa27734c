"""The migration that gives walk-forward analyses their current training sweep: down and up
again on both backends, an analysis stored before it reads back without one."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from ntrader.db.database import Database
from ntrader.db.engine import SCHEMA_HEAD, create_db_engine, current_revision
from ntrader.models.enums import RunStatus
from ntrader.services.walk_forward import Duration, WalkForwardService
from ntrader.services.walk_forward_history import WalkForwardHistory
from tests.integration.migration_support import alembic_config
from tests.integration.sweep_support import BASE, SPEC


def _columns(database_url: str) -> set[str]:
    engine = create_db_engine(database_url)
    try:
        return {column["name"] for column in inspect(engine).get_columns("walk_forwards")}
    finally:
        engine.dispose()


def test_the_current_sweep_column_goes_down_and_up_and_keeps_analyses(
    database: Database, database_url: str
) -> None:
    walk_forward_id = WalkForwardService(database).create(
        BASE, SPEC, train=Duration(12, "M"), test=Duration(6, "M")
    )
    database.dispose()
    config = alembic_config(database_url)
    try:
        command.downgrade(config, "0010")
        assert "current_sweep_id" not in _columns(database_url)
        assert "spec" in _columns(database_url)  # 0009's columns stay
    finally:
        command.upgrade(config, "head")
    assert "current_sweep_id" in _columns(database_url)
    engine = create_db_engine(database_url)
    assert current_revision(engine) == SCHEMA_HEAD
    engine.dispose()
    upgraded = Database(database_url)
    record = WalkForwardHistory(upgraded).get(walk_forward_id)
    assert record.status is RunStatus.PENDING and record.current_sweep_id is None
    upgraded.dispose()
