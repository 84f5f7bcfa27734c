"""Metrics in the store, on SQLite and PostgreSQL: written as the same JSON text they always
were, and rows written by older versions read back as they are."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Text, cast, select, update

from ntrader.db.database import Database
from ntrader.db.tables import backtest_results
from ntrader.models.backtest import BacktestConfig, PortfolioSnapshot
from ntrader.models.metrics import Metrics
from tests.factories import METRICS_SCHEMA, OLD_ROW, TODAY_ROW

CONFIG = BacktestConfig(
    strategy_type="sma_crossover",
    instruments=("AAPL.NASDAQ",),
    start=date(2020, 1, 1),
    end=date(2020, 12, 31),
)


@pytest.fixture
def store(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def _completed_run(store: Database, metrics: Metrics) -> str:
    snapshot = PortfolioSnapshot(
        ts=datetime(2020, 1, 2, 21, tzinfo=UTC),
        cash=1e5,
        positions={},
        total_value=1e5,
        buying_power=3e5,
    )
    with store.transaction() as repos:
        run_id = repos.backtests.create(CONFIG)
        repos.backtests.mark_running(run_id, ("h", 1, None), ("x", "y"))
        repos.backtests.complete(
            run_id,
            metrics=metrics,
            trade_records=[],
            snapshots=[snapshot],
            data_fingerprint="f",
        )
    return run_id


def test_metrics_are_stored_as_the_json_text_of_todays_rows(store: Database) -> None:
    run_id = _completed_run(store, Metrics.model_validate(TODAY_ROW))
    with store.transaction() as repos:
        text = repos.connection.execute(
            select(cast(backtest_results.c.metrics, Text)).where(backtest_results.c.id == run_id)
        ).scalar_one()
        run = repos.backtests.get(run_id)
    assert text == json.dumps(TODAY_ROW)
    assert run.metrics == Metrics.model_validate(TODAY_ROW)


def test_a_row_written_by_an_older_version_reads_back_as_it_was(store: Database) -> None:
    run_id = _completed_run(store, Metrics.model_validate(TODAY_ROW))
    with store.transaction() as repos:
        repos.connection.execute(
            update(backtest_results).where(backtest_results.c.id == run_id).values(metrics=OLD_ROW)
        )
    with store.transaction() as repos:
        run = repos.backtests.get(run_id)
    assert run.metrics is not None
    assert run.metrics.stored() == OLD_ROW
    assert run.metrics.trading.open_trades is None
    # What `backtest show --json` prints for it.
    METRICS_SCHEMA.validate(run.model_dump(mode="json")["metrics"])
