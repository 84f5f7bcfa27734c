"""The equity rebuilt from the fills is checked against nautilus' own account at the end of
every run, open positions included, and a disagreement fails the run."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest
from sqlalchemy import func, select

from ntrader.core import runner, strategy_registry
from ntrader.core.runner import (
    RECONCILE_SLACK,
    EngineSettings,
    EquityMismatchError,
    InstrumentBars,
    portfolio_path,
    reconcile_equity,
    run_engine,
)
from ntrader.db.database import Database
from ntrader.db.tables import trades
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import RunStatus, Timeframe, TradeSide
from ntrader.models.execution import CommissionModel
from ntrader.models.instrument import InstrumentSpec
from ntrader.services.backtest_service import BacktestService, RunFailedError
from ntrader.services.simulation import simulate
from tests.integration.strategy_support import daily_bars

# Two venues, so each account is reconciled on its own; 4-decimal prices, so nautilus
# rounds every fill's cash flow to the cent and the tolerance is exercised.
SPECS = (
    InstrumentSpec(symbol="TEST", venue="NASDAQ", price_precision=4),
    InstrumentSpec(symbol="OTHER", venue="NYSE", price_precision=4),
)
IBKR = CommissionModel.parse("ibkr")


def _closes(final_move: float) -> np.ndarray:
    """A random walk, then eight bars moving ``final_move`` (log) each: the run ends inside
    the position that move triggers."""
    rng = np.random.default_rng(7)
    body = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, 200)))
    tail = body[-1] * np.exp(np.cumsum(np.full(8, final_move)))
    return np.round(np.concatenate([body, tail]), 4)


def _inputs(final_move: float) -> list[InstrumentBars]:
    bars = replace(daily_bars(_closes(final_move)), price_precision=4)
    return [InstrumentBars(spec=spec, timeframe=Timeframe.DAILY, bars=bars) for spec in SPECS]


@pytest.mark.parametrize(
    ("strategy", "allow_short", "final_move", "open_side"),
    [
        ("sma_crossover", False, 0.04, TradeSide.LONG),
        ("sma_crossover", True, -0.04, TradeSide.SHORT),
        ("mean_reversion", False, -0.04, TradeSide.LONG),
        ("mean_reversion", True, 0.04, TradeSide.SHORT),
        ("momentum", False, -0.04, TradeSide.LONG),
        ("momentum", True, 0.04, TradeSide.SHORT),
    ],
)
def test_every_run_ending_in_open_positions_is_reconciled_with_nautilus(
    strategy: str, allow_short: bool, final_move: float, open_side: TradeSide
) -> None:
    kind = strategy_registry.resolve(strategy)
    config = BacktestConfig(
        strategy_type=strategy,
        instruments=tuple(spec.symbol for spec in SPECS),
        parameters=kind.validate({"allow_short": allow_short}).model_dump(),
        commission=IBKR,
        slippage_bps=5,
        # Percent sizing places no stop, so the final move leaves the position open
        # (risk sizing's ATR stop would close a short that the rally runs against).
        sizing="percent",
        position_pct=10,
    )
    result = simulate(config, kind, _inputs(final_move))
    open_trades = [t for t in result.trades if t.is_open]
    assert [t.side for t in open_trades] == [open_side, open_side]
    assert all(t.commission > 0 and t.slippage_cost > 0 for t in result.trades)
    # The check ran on both venues, each holding its open position.
    assert [(v.venue, v.open_positions) for v in result.reconciliation] == [
        ("NASDAQ", 1),
        ("NYSE", 1),
    ]
    for venue in result.reconciliation:
        assert abs(venue.ours - venue.nautilus) <= venue.tolerance
        # Half a cent per fill plus a cent: well under a dollar for these runs.
        assert RECONCILE_SLACK < venue.tolerance < 0.25
    total = sum(v.nautilus for v in result.reconciliation)
    assert result.final_equity == pytest.approx(total, abs=0.1)
    assert result.final_equity != pytest.approx(100_000, abs=1.0)


def _engine_run(final_move: float) -> tuple[list[InstrumentBars], runner.EngineOutput]:
    kind = strategy_registry.resolve("sma_crossover")
    inputs = _inputs(final_move)
    settings = EngineSettings(commission=IBKR, slippage_bps=5)
    return inputs, run_engine(kind, kind.validate({}).model_dump(), inputs, settings)


def test_a_disagreement_just_beyond_the_tolerance_is_an_error() -> None:
    inputs, output = _engine_run(0.04)
    path = portfolio_path(inputs, output.fills, 100_000)
    checked = reconcile_equity(inputs, path, output, 100_000)
    nasdaq = checked[0]
    gap = nasdaq.ours - nasdaq.nautilus
    for offset, fails in ((nasdaq.tolerance * 0.9, False), (nasdaq.tolerance * 1.1, True)):
        shifted = dict(output.account_equity, NASDAQ=nasdaq.ours - np.sign(gap or 1) * offset)
        tampered = replace(output, account_equity=shifted)
        if fails:
            with pytest.raises(EquityMismatchError, match="on NASDAQ by"):
                reconcile_equity(inputs, path, tampered, 100_000)
        else:
            reconcile_equity(inputs, path, tampered, 100_000)


def test_a_curve_that_disagrees_with_nautilus_fails_the_run_instead_of_completing(
    aapl_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fills that lose their commissions on the way to the equity curve: before the check,
    this run was stored COMPLETED with the commissions missing from its equity."""
    read_fills = runner._fills

    def without_commissions(rows_by_position: object) -> runner.Fills:
        fills = read_fills(rows_by_position)
        return replace(fills, commission=np.zeros_like(fills.commission))

    monkeypatch.setattr(runner, "_fills", without_commissions)
    config = BacktestConfig(
        strategy_type="sma", instruments=("AAPL",), start=date(2020, 1, 1), end=date(2021, 12, 31)
    )
    with pytest.raises(RunFailedError) as caught:
        BacktestService(aapl_database).run(config)
    assert "differs from nautilus' account" in caught.value.message
    assert "the results are not stored as a finished run" in caught.value.message
    assert caught.value.hint is not None and "bug in ntrader" in caught.value.hint
    run = BacktestService(aapl_database).get(caught.value.run_id)
    assert run.status is RunStatus.FAILED
    assert run.metrics is None
    with aapl_database.transaction() as repos:
        stored = repos.connection.execute(select(func.count()).select_from(trades)).scalar_one()
    assert stored == 0
