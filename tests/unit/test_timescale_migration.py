"""The TimescaleDB revision: its SQL where the extension is, nothing anywhere else."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest
from sqlalchemy import text

from ntrader.db.engine import MIGRATIONS_DIR, SCHEMA_HEAD, create_db_engine, current_revision


def _revision() -> ModuleType:
    path = MIGRATIONS_DIR / "versions" / "0006_bars_hypertable.py"
    spec = importlib.util.spec_from_file_location("bars_hypertable", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_with_timescaledb_bars_become_a_hypertable_chunked_by_week_of_nanoseconds() -> None:
    revision = _revision()
    assert revision.revision == "0006"
    assert revision.hypertable_statements("postgresql", has_timescaledb=True) == [
        "SELECT create_hypertable('bars', 'ts', chunk_time_interval => 604800000000000::bigint, "
        "migrate_data => true, if_not_exists => true)"
    ]


@pytest.mark.parametrize(
    ("dialect", "has_timescaledb"), [("postgresql", False), ("sqlite", False), ("sqlite", True)]
)
def test_elsewhere_the_revision_runs_nothing(dialect: str, has_timescaledb: bool) -> None:
    assert _revision().hypertable_statements(dialect, has_timescaledb) == []


@pytest.mark.postgres
def test_plain_postgresql_migrates_through_it_and_bars_stay_a_plain_table(
    postgres_session_url: str,
) -> None:
    revision = _revision()
    engine = create_db_engine(postgres_session_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text(revision.HAS_TIMESCALEDB)).first() is None
            kind = connection.execute(
                text("SELECT relkind FROM pg_class WHERE relname = 'bars'")
            ).scalar_one()
        assert kind == "r"  # an ordinary table
        assert current_revision(engine) == SCHEMA_HEAD
    finally:
        engine.dispose()
