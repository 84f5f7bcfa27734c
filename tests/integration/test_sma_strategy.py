"""The SMA crossover in a real nautilus run, on bars whose crossings are known in advance."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ntrader.core import strategy_registry
from ntrader.core.nautilus_bars import close_times_ns
from ntrader.core.runner import InstrumentBars
from ntrader.models.backtest import BacktestConfig
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe, TradeSide
from ntrader.models.execution import CommissionModel
from ntrader.models.instrument import InstrumentSpec
from ntrader.services.simulation import simulate
from ntrader.utils.timeutil import ns_to_datetime

SPEC = InstrumentSpec(symbol="TEST", venue="NASDAQ")
FAST, SLOW = 3, 6


def _bars(closes: np.ndarray) -> BarArrays:
    days = pd.bdate_range("2023-01-02", periods=closes.size, tz="UTC").as_unit("ns")
    opens = np.concatenate([[closes[0]], closes[:-1]])
    return BarArrays(
        ts=days.asi8.astype(np.int64),
        open=opens,
        high=np.maximum(opens, closes) + 0.5,
        low=np.minimum(opens, closes) - 0.5,
        close=closes,
        volume=np.full(closes.size, 1e6),
        price_precision=2,
    )


def _expected_crossings(closes: np.ndarray) -> tuple[list[int], list[int]]:
    """Bars where the fast SMA crosses above / below the slow one, computed with pandas."""
    series = pd.Series(closes)
    diff = (series.rolling(FAST).mean() - series.rolling(SLOW).mean()).to_numpy()
    state = np.sign(diff)
    ups, downs, previous = [], [], 0.0
    for i in range(SLOW - 1, closes.size):
        if state[i] != 0:
            if state[i] > 0 and previous < 0:
                ups.append(i)
            elif state[i] < 0 and previous > 0:
                downs.append(i)
            previous = state[i]
    return ups, downs


def test_entries_and_exits_happen_on_the_crossing_bars_at_their_close() -> None:
    # Down, up, down, up: one round trip, then a position still open at the end.
    closes = np.concatenate(
        [
            np.linspace(120, 100, 12),
            np.linspace(101, 125, 12),
            np.linspace(124, 105, 12),
            np.linspace(106, 130, 12),
        ]
    ).round(2)
    data = _bars(closes)
    ups, downs = _expected_crossings(closes)
    assert len(ups) == 2
    assert len(downs) == 1
    config = BacktestConfig(
        strategy_type="sma_crossover",
        parameters={"fast_period": FAST, "slow_period": SLOW},
        instruments=(SPEC.instrument_id,),
        start=date(2023, 1, 1),
        end=date(2023, 12, 31),
        commission=CommissionModel(value=0.0),
    )
    result = simulate(
        config,
        strategy_registry.resolve("sma"),
        [InstrumentBars(spec=SPEC, timeframe=Timeframe.DAILY, bars=data)],
    )
    close_times = close_times_ns(SPEC, Timeframe.DAILY, data.ts)
    assert [t.entry_time for t in result.trades] == [
        ns_to_datetime(int(close_times[i])) for i in ups
    ]
    assert [t.entry_price for t in result.trades] == [closes[i] for i in ups]
    closed = [t for t in result.trades if not t.is_open]
    assert [t.exit_time for t in closed] == [ns_to_datetime(int(close_times[i])) for i in downs]
    assert [t.exit_price for t in closed] == [closes[i] for i in downs]
    assert all(t.side is TradeSide.LONG for t in result.trades)
    assert result.trades[-1].is_open
    # Without commission, a closed trade's PnL is exactly quantity times the price change.
    for trade in closed:
        assert trade.pnl == pytest.approx(trade.quantity * (trade.exit_price - trade.entry_price))
    # Final equity: closed PnL plus the open position marked at the last close.
    last = result.trades[-1]
    expected = (
        100_000 + sum(t.pnl for t in closed) + last.quantity * (closes[-1] - last.entry_price)
    )
    assert result.final_equity == pytest.approx(expected)


def test_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(Exception, match="known strategies: sma_crossover"):
        strategy_registry.resolve("rsi_magic")


@pytest.mark.parametrize("alias", ["sma", "SMA_CROSSOVER", "sma-crossover", "Sma_Crossover"])
def test_aliases(alias: str) -> None:
    assert strategy_registry.resolve(alias).name == "sma_crossover"
