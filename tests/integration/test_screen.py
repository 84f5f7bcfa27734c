"""The screen's trades equal the engine's: it is a fast path, not a second opinion."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntrader.core import strategy_registry
from ntrader.core.nautilus_bars import close_times_ns, open_times_ns
from ntrader.db.database import Database
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import RunStatus, Timeframe
from ntrader.models.execution import CommissionModel, FillAt, SizingMode
from ntrader.models.sweep import SweepSpec
from ntrader.services.backtest_service import BacktestService
from ntrader.services.overfitting import sweep_statistics
from ntrader.services.screen import ScreenTrade, screen, screen_refusal, screen_sweep
from ntrader.services.simulation import SimulationResult, simulate
from ntrader.services.sweep_executors import InProcessExecutor
from ntrader.services.sweep_service import SweepService
from ntrader.utils.sessions import new_york_days
from ntrader.utils.timeutil import ns_to_datetime
from tests.integration.strategy_support import SPEC as TEST_SPEC
from tests.integration.strategy_support import daily_bars, run
from tests.integration.sweep_support import BASE, SPEC

POINTS: list[tuple[str, dict[str, Any]]] = [
    ("sma_crossover", {"fast_period": 10, "slow_period": 30}),
    ("sma_crossover", {"fast_period": 5, "slow_period": 50, "allow_short": True}),
    ("sma_crossover", {"fast_period": 20, "slow_period": 60, "entry_threshold": 0.01}),
    ("mean_reversion", {"lookback": 20, "entry_zscore": -1.5, "exit_zscore": 0.0}),
    (
        "mean_reversion",
        {"lookback": 10, "entry_zscore": -1.0, "exit_zscore": 0.5, "allow_short": True},
    ),
    ("momentum", {"rsi_period": 14, "entry_rsi_low": 35.0, "exit_rsi_high": 65.0}),
    (
        "momentum",
        {"rsi_period": 7, "entry_rsi_low": 30.0, "exit_rsi_high": 70.0, "allow_short": True},
    ),
]


def _config(strategy: str, parameters: dict[str, Any], fill_at: FillAt) -> BacktestConfig:
    kind = strategy_registry.resolve(strategy)
    return BacktestConfig(
        strategy_type=kind.name,
        parameters=kind.validate(parameters).model_dump(),
        instruments=("AAPL",),
        start=date(2019, 1, 1),
        end=date(2024, 12, 31),
        sizing=SizingMode.PERCENT,
        position_pct=10.0,
        commission=CommissionModel(value=1.0),
        slippage_bps=2.0,
        fill_at=fill_at,
    )


def _engine_trades(result: SimulationResult, fill_times: np.ndarray) -> list[ScreenTrade]:
    bar_of = {ns_to_datetime(int(ns)): bar for bar, ns in enumerate(fill_times)}
    trades = [
        ScreenTrade(
            trade.side.value,
            bar_of[trade.entry_time],
            None if trade.exit_time is None else bar_of[trade.exit_time],
        )
        for trade in result.trades
    ]
    return sorted(trades, key=lambda trade: trade.entry_bar)


# One point of each strategy also fills at the signal bar's close.
CASES = [(strategy, parameters, FillAt.NEXT_OPEN) for strategy, parameters in POINTS] + [
    (strategy, parameters, FillAt.CLOSE) for strategy, parameters in POINTS[::3]
]


# The store's backend does not matter to the screen: SQLite only, to keep the test cheap.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_screen_trades_equal_the_engines(database: Database) -> None:
    service = BacktestService(database)
    loaded = service.load(_config(*CASES[0]))
    (item,) = loaded.inputs
    bars = item.bars
    fill_times = {
        FillAt.NEXT_OPEN: open_times_ns(item.spec, item.timeframe, bars.ts),
        FillAt.CLOSE: close_times_ns(item.spec, item.timeframe, bars.ts),
    }
    for strategy, parameters, fill_at in CASES:
        config = _config(strategy, parameters, fill_at)
        kind = strategy_registry.resolve(strategy)
        assert screen_refusal(config, kind.name) is None
        engine = _engine_trades(simulate(config, kind, loaded.inputs), fill_times[fill_at])
        screened = screen(kind.name, config.parameters, bars, config)
        assert list(screened.trades) == engine, (strategy, parameters, fill_at)
        assert len(engine) >= 2, (strategy, parameters)


STRATEGY_POINTS = st.sampled_from(POINTS)


@settings(max_examples=12, deadline=None)
@given(
    point=STRATEGY_POINTS,
    fill_at=st.sampled_from([FillAt.NEXT_OPEN, FillAt.CLOSE]),
    seed=st.integers(0, 2**32 - 1),
)
def test_screen_trades_equal_the_engines_on_random_paths(
    point: tuple[str, dict[str, Any]], fill_at: FillAt, seed: int
) -> None:
    strategy, parameters = point
    rng = np.random.default_rng(seed)
    closes = np.round(100 * np.exp(np.cumsum(rng.normal(0.0, 0.02, 160))), 2)
    engine = run(strategy, parameters, daily_bars(closes), fill_at=fill_at)
    opens_or_closes = (
        open_times_ns(TEST_SPEC, Timeframe.DAILY, engine.data.ts)
        if fill_at is FillAt.NEXT_OPEN
        else close_times_ns(TEST_SPEC, Timeframe.DAILY, engine.data.ts)
    )
    kind = strategy_registry.resolve(strategy)
    config = _config(strategy, parameters, fill_at)
    screened = screen(kind.name, kind.validate(parameters).model_dump(), engine.data, config)
    assert list(screened.trades) == _engine_trades(engine.result, opens_or_closes)


SCREENED_BASE = BASE.model_copy(update={"sizing": SizingMode.PERCENT, "position_pct": 10.0})
SIX_POINTS = SweepSpec(grid={"fast_period": "5,10,15", "slow_period": "30,60"})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_screened_sweep_stores_every_points_figures_and_runs_the_best(
    database: Database,
) -> None:
    service = SweepService(database)
    summary = service.start(SCREENED_BASE, SIX_POINTS, InProcessExecutor(), confirm_top=3)

    assert not any("No screen" in warning for warning in summary.warnings)
    assert all(row.screen is not None for row in summary.rows)
    confirmed = [row for row in summary.rows if row.screen and row.screen["confirm"]]
    assert len(confirmed) == 3
    assert all(row.status is RunStatus.COMPLETED for row in confirmed)
    assert all(row.run_id is None for row in summary.rows if row not in confirmed)
    # The confirmed points are the screen's best three, ranked first by the engine.
    screened = sorted(summary.rows, key=lambda row: -row.screen["objective"])  # type: ignore[index]
    assert {row.index for row in screened[:3]} == {row.index for row in confirmed}
    assert list(summary.rows[:3]) == sorted(confirmed, key=lambda row: -row.objective)  # type: ignore[operator]
    statistics = summary.sweep.statistics or {}
    assert statistics["screen_agreement"]["points"] == 3
    assert statistics["screen_agreement"]["max_abs_difference"] >= 0
    # Every point tried counts as a trial of the deflated Sharpe ratio and PBO, the three
    # the engine did not run with the screen's returns, over the two years' trading days.
    assert statistics["trials"] == 6
    assert statistics["screened_trials"] == 3
    assert 480 <= statistics["observations"] <= 505
    # Resuming runs nothing: the unconfirmed points keep their screened figures only, and
    # the statistics come out the same from the screen computed again.
    resumed = service.resume(summary.sweep.id, InProcessExecutor())
    assert [row.run_id for row in resumed.rows] == [row.run_id for row in summary.rows]
    assert resumed.sweep.statistics == summary.sweep.statistics
    # The same figures from a returns matrix assembled here: the engine's stored equity
    # for the confirmed points, the screen run point by point for the others.
    (item,) = BacktestService(database).load(SCREENED_BASE).inputs
    closes = pd.to_datetime(close_times_ns(item.spec, item.timeframe, item.bars.ts), utc=True)
    days = closes.tz_convert("America/New_York").normalize().tz_localize(None)
    with database.transaction() as repos:
        equity = repos.sweeps.equity_points(summary.sweep.id)
    columns = {}
    for row in summary.rows:
        if row.run_id is not None:
            ts, values = equity[row.index]
            day = ts.tz_convert("America/New_York").normalize().tz_localize(None)
            curve = pd.Series(values, index=day).groupby(level=0).last()
            start = SCREENED_BASE.initial_capital
        else:
            config = SCREENED_BASE.model_copy(update={"parameters": row.parameters})
            proxy = screen("sma_crossover", row.parameters, item.bars, config).equity
            curve = pd.Series(proxy, index=days).groupby(level=0).last()
            start = 1.0
        columns[row.index] = curve / curve.shift(1, fill_value=start) - 1.0
    matrix = pd.DataFrame(columns).dropna()
    best = list(matrix.columns).index(summary.rows[0].index)
    expected = sweep_statistics(matrix.to_numpy(), best)
    assert statistics["observations"] == expected.observations
    assert statistics["deflated_sharpe_ratio"] == pytest.approx(expected.deflated_sharpe_ratio)
    assert statistics["probability_of_overfitting"] == pytest.approx(
        expected.probability_of_overfitting
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_screens_daily_returns_track_the_engines(database: Database) -> None:
    """The proxy returns that stand in for unconfirmed points in the overfitting
    statistics move with the engine's returns for the same point, day by day."""
    loaded = BacktestService(database).load(SCREENED_BASE)
    summary = SweepService(database).start(
        SCREENED_BASE, SIX_POINTS, InProcessExecutor(), confirm_top=6
    )
    (item,) = loaded.inputs
    closes = pd.to_datetime(close_times_ns(item.spec, item.timeframe, item.bars.ts), utc=True)
    days = new_york_days(closes)
    points = [row.parameters for row in sorted(summary.rows, key=lambda row: row.index)]
    screened = screen_sweep(
        SCREENED_BASE, "sma_crossover", points, item.bars, days, "sharpe_ratio", 6
    )
    with database.transaction() as repos:
        equity = repos.sweeps.equity_points(summary.sweep.id)
    for index, (ts, values) in equity.items():
        engine_days = new_york_days(ts)
        engine = pd.Series(values, index=engine_days).groupby(level=0).last()
        engine = engine.pct_change().dropna()
        proxy = screened.daily_equity[index].pct_change().dropna()
        both = pd.concat([engine, proxy], axis=1, join="inner")
        assert len(both) >= 480
        assert both.corr().iloc[0, 1] > 0.99, index
        gap = (both.iloc[:, 0] - both.iloc[:, 1]).abs()
        assert gap.mean() < 0.15 * both.iloc[:, 0].abs().mean(), index


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sweep_the_screen_cannot_reproduce_runs_every_point_with_a_note(
    database: Database,
) -> None:
    # Risk sizing places a stop with every entry: the screen refuses, the engine runs all.
    summary = SweepService(database).start(BASE, SPEC, InProcessExecutor(), confirm_top=1)
    assert any(warning.startswith("No screen (stops, take-profits") for warning in summary.warnings)
    assert all(row.screen is None and row.status is RunStatus.COMPLETED for row in summary.rows)
    assert "screen_agreement" not in (summary.sweep.statistics or {})


def test_refusals_name_what_the_screen_cannot_model() -> None:
    sma = {"fast_period": 5, "slow_period": 20}
    assert (
        screen_refusal(SCREENED_BASE.model_copy(update={"parameters": sma}), "sma_crossover")
        is None
    )
    assert "built-in" in (screen_refusal(SCREENED_BASE, "breakout") or "")
    trend = SCREENED_BASE.model_copy(update={"parameters": {**sma, "trend_filter_period": 50}})
    assert "trend filter" in (screen_refusal(trend, "sma_crossover") or "")
    two = SCREENED_BASE.model_copy(update={"instruments": ("AAPL", "MSFT")})
    assert "one instrument" in (screen_refusal(two, "sma_crossover") or "")
    trailing = SCREENED_BASE.model_copy(update={"trailing_stop_atr": 2.0})
    assert "stops" in (screen_refusal(trailing, "sma_crossover") or "")
