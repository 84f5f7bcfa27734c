"""Short selling (SPEC §7): a margin account when a strategy may short, and long-only results
that do not depend on the account type."""

from __future__ import annotations

import numpy as np
import pytest
from nautilus_trader.model.enums import AccountType
from nautilus_trader.model.identifiers import Venue

from ntrader.core import strategy_registry
from ntrader.core.runner import (
    EngineSettings,
    InstrumentBars,
    build_engine,
    portfolio_path,
    run_engine,
)
from ntrader.models.enums import Timeframe, TradeSide
from ntrader.models.instrument import InstrumentSpec
from tests.integration.strategy_support import SPEC, daily_bars, run

OTHER = InstrumentSpec(symbol="OTHER", venue=SPEC.venue)


def _inputs(closes: np.ndarray) -> list[InstrumentBars]:
    """Two instruments on one venue, the second a bar behind the first: each enters while
    the other holds a position, which counts in the equity that sizes it."""
    return [
        InstrumentBars(spec=SPEC, timeframe=Timeframe.DAILY, bars=daily_bars(closes)),
        InstrumentBars(spec=OTHER, timeframe=Timeframe.DAILY, bars=daily_bars(np.roll(closes, 1))),
    ]


def _dips_only() -> np.ndarray:
    """Sharp dips that recover, never a spike: the short side of mean reversion never fires."""
    wiggle = 100 + 0.6 * np.sin(np.arange(160) * 1.7)
    wiggle[25::30] -= 4.0
    wiggle[26::30] -= 2.0
    return np.round(wiggle + np.arange(160) * 0.05, 2)


@pytest.mark.parametrize("allow_short", [False, True])
def test_the_account_is_margin_only_when_shorting_is_allowed(allow_short: bool) -> None:
    kind = strategy_registry.resolve("mean_reversion")
    parameters = kind.validate({"allow_short": allow_short}).model_dump()
    engine = build_engine(kind, parameters, _inputs(_dips_only()), EngineSettings())
    try:
        engine.run()
        account = engine.portfolio.account(Venue(SPEC.venue))
        assert account.type == (AccountType.MARGIN if allow_short else AccountType.CASH)
    finally:
        engine.dispose()


def test_long_only_results_are_the_same_in_a_cash_or_a_margin_account() -> None:
    kind = strategy_registry.resolve("mean_reversion")
    inputs = _inputs(_dips_only())
    outputs = [
        run_engine(
            kind,
            kind.validate({"lookback": 15, "allow_short": allow_short}).model_dump(),
            inputs,
            EngineSettings(),
        )
        for allow_short in (False, True)
    ]
    cash, margin = outputs
    assert len(cash.trades) >= 6
    assert {t.instrument_id for t in cash.trades} == {SPEC.instrument_id, OTHER.instrument_id}
    assert all(t.side is TradeSide.LONG for t in margin.trades)
    assert margin.trades == cash.trades
    for column in ("ts", "signed_qty", "price", "commission"):
        assert np.array_equal(getattr(margin.fills, column), getattr(cash.fills, column))


def _up_and_down() -> np.ndarray:
    legs = [(120, 100), (101, 125), (124, 105), (106, 130), (129, 110)]
    return np.round(np.concatenate([np.linspace(a, b, 12) for a, b in legs]), 2)


def test_sma_goes_short_on_a_down_crossing_and_earns_the_fall() -> None:
    closes = _up_and_down()
    result = run(
        "sma", {"fast_period": 3, "slow_period": 6, "allow_short": True}, daily_bars(closes)
    )
    trades = result.result.trades
    sides = [t.side for t in sorted(trades, key=lambda t: t.entry_time)]
    assert sides == [TradeSide.LONG, TradeSide.SHORT, TradeSide.LONG, TradeSide.SHORT]
    for trade in trades:
        # A reversal closes one side and opens the other at the same close.
        assert trade.quantity * trade.entry_price <= 0.10 * 100_000 * 1.05
        if trade.is_open:
            continue
        move = trade.exit_price - trade.entry_price
        sign = 1.0 if trade.side is TradeSide.LONG else -1.0
        assert trade.pnl == pytest.approx(sign * trade.quantity * move)
    # Equity at the end: closed PnL plus the open short marked at the last close.
    open_short = trades[-1]
    assert open_short.is_open
    assert open_short.side is TradeSide.SHORT
    closed_pnl = sum(t.pnl for t in trades if not t.is_open)
    unrealized = open_short.quantity * (open_short.entry_price - closes[-1])
    assert result.result.final_equity == pytest.approx(100_000 + closed_pnl + unrealized)


def test_the_portfolio_path_holds_the_short_and_its_exposure() -> None:
    closes = _up_and_down()
    kind = strategy_registry.resolve("sma")
    inputs = [InstrumentBars(spec=SPEC, timeframe=Timeframe.DAILY, bars=daily_bars(closes))]
    parameters = {"fast_period": 3, "slow_period": 6, "allow_short": True}
    output = run_engine(kind, kind.validate(parameters).model_dump(), inputs, EngineSettings())
    path = portfolio_path(inputs, output.fills, 100_000)
    short = max(output.trades, key=lambda trade: trade.entry_time)
    assert short.is_open
    held = path.quantities[SPEC.instrument_id]
    assert held[-1] == -short.quantity
    assert path.gross_exposure[-1] == pytest.approx(short.quantity * closes[-1])
    # Selling short brings cash in; equity owes the shares back at the close.
    assert path.cash[-1] - path.gross_exposure[-1] == pytest.approx(path.equity[-1])
    assert np.all(path.gross_exposure <= 3 * path.equity)
