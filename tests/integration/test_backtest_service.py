"""Backtests on stored bars, on SQLite and PostgreSQL: results, records and refusals."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import func, select

from ntrader.core.errors import NotFoundError, UserInputError
from ntrader.db.database import Database
from ntrader.db.tables import backtest_results, portfolio_snapshots, trades
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import RunStatus
from ntrader.services.backtest_service import (
    BacktestService,
    RunFailedError,
    RunInterruptedError,
)
from ntrader.services.run_history import RunHistory


def _config(**overrides: object) -> BacktestConfig:
    values: dict[str, object] = {
        "strategy_type": "sma",
        "instruments": ("AAPL",),
        "start": date(2019, 1, 1),
        "end": date(2021, 12, 31),
    }
    values.update(overrides)
    return BacktestConfig(**values)


def _count(database: Database, table: object) -> int:
    with database.transaction() as repos:
        return int(repos.connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_run_is_stored_completed_with_trades_snapshots_and_metrics(database: Database) -> None:
    outcome = BacktestService(database).run(_config())
    run, result = outcome.run, outcome.result
    assert run.status is RunStatus.COMPLETED
    assert run.config.strategy_type == "sma_crossover"
    assert run.config.parameters == {
        "fast_period": 12,
        "slow_period": 26,
        "entry_threshold": 0.0,
        "trend_filter_period": None,
        "allow_short": False,
    }
    assert run.started_at is not None and run.completed_at is not None
    assert run.data_fingerprint and len(run.data_fingerprint) == 64
    assert run.nautilus_version and run.nautilus_version.startswith("1.231")
    closed = [t for t in result.trades if not t.is_open]
    assert run.trades_count == len(closed) > 5
    assert run.winning_trades + run.losing_trades == run.trades_count
    assert _count(database, trades) == len(result.trades)
    # One snapshot per trading day at least (757 days in 2019-2021).
    assert _count(database, portfolio_snapshots) >= 757
    assert run.metrics == result.metrics
    assert result.metrics.benchmark.beta is not None
    assert outcome.warnings == ()


def test_equity_agrees_with_nautilus_account_and_trade_pnl(database: Database) -> None:
    result = BacktestService(database).run(_config()).result
    # Every run's final equity is checked against nautilus' account, open positions or not.
    [nasdaq] = result.reconciliation
    assert nasdaq.venue == "NASDAQ"
    assert abs(nasdaq.ours - nasdaq.nautilus) <= nasdaq.tolerance
    assert result.final_equity == pytest.approx(nasdaq.nautilus, abs=nasdaq.tolerance)
    if nasdaq.open_positions == 0:
        closed_pnl = sum(t.pnl for t in result.trades if not t.is_open)
        assert result.final_equity == pytest.approx(100_000 + closed_pnl, abs=1e-6)
    # Daily equity starts at the initial capital and is positive throughout.
    assert result.daily.equity[0] == 100_000
    assert np.all(result.daily.equity > 0)
    positions_cap = 0.10 * result.daily.equity.max() * 1.05
    for trade in result.trades:
        assert trade.quantity * trade.entry_price <= positions_cap


def test_same_data_same_result(database: Database) -> None:
    service = BacktestService(database)
    first, second = service.run(_config()), service.run(_config())
    assert first.run.data_fingerprint == second.run.data_fingerprint
    assert first.run.metrics == second.run.metrics
    assert first.run.id != second.run.id


def test_missing_benchmark_warns_and_leaves_benchmark_metrics_empty(database: Database) -> None:
    outcome = BacktestService(database).run(_config(benchmark="QQQ"))
    assert outcome.run.status is RunStatus.COMPLETED
    assert outcome.result.metrics.benchmark.model_dump() == {
        "benchmark_return": None,
        "alpha": None,
        "beta": None,
    }
    assert "QQQ" in outcome.warnings[0]


@pytest.mark.parametrize(
    ("overrides", "error", "words"),
    [
        (
            {"start": date(2010, 1, 1), "end": date(2010, 12, 31)},
            NotFoundError,
            "stored: 2019-01-02 to 2024-12-31",
        ),
        ({"start": date(2024, 12, 1), "end": date(2024, 12, 31)}, UserInputError, "at least 30"),
        ({"strategy_type": "turtle"}, UserInputError, "known strategies: sma_crossover"),
        ({"instruments": ("AAPLL",)}, NotFoundError, "Did you mean AAPL"),
        (
            {"parameters": {"fast_period": 30, "slow_period": 10}},
            UserInputError,
            "fast_period (30) must be less",
        ),
        ({"parameters": {"speed": 3}}, UserInputError, "speed: unknown parameter"),
    ],
)
def test_refusals_write_nothing(
    database: Database, overrides: dict[str, object], error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as caught:
        BacktestService(database).run(_config(**overrides))
    assert words in str(caught.value)
    assert _count(database, backtest_results) == 0


def test_end_before_start_is_rejected_by_the_configuration() -> None:
    with pytest.raises(ValueError, match="must be after the start date"):
        _config(start=date(2021, 1, 1), end=date(2020, 1, 1))


def test_run_ids_resolve_by_prefix_and_latest(database: Database) -> None:
    service = BacktestService(database)
    run = service.run(_config()).run
    assert service.get(run.id[:8]).id == run.id
    assert service.get("latest").id == run.id
    with pytest.raises(NotFoundError):
        service.get("ffffffff")
    assert [r.id for r in RunHistory(database).list(status=RunStatus.COMPLETED)] == [run.id]


@pytest.mark.parametrize(
    ("raised", "expected", "status", "message"),
    [
        (
            KeyboardInterrupt(),
            RunInterruptedError,
            RunStatus.INTERRUPTED,
            "interrupted by the user",
        ),
        (RuntimeError("boom"), RunFailedError, RunStatus.FAILED, "RuntimeError: boom"),
    ],
)
def test_a_run_that_stops_early_is_marked(
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    raised: BaseException,
    expected: type[BaseException],
    status: RunStatus,
    message: str,
) -> None:
    from ntrader.services import backtest_service

    def stop(*_args: object) -> None:
        raise raised

    monkeypatch.setattr(backtest_service, "simulate", stop)
    with pytest.raises(expected):
        BacktestService(database).run(_config())
    run = BacktestService(database).get("latest")
    assert run.status is status
    assert run.error_message == message
    assert run.completed_at is not None
    assert run.metrics is None
