"""The SMA crossover in a real nautilus run, on bars whose crossings are known in advance."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ntrader.core import strategy_registry
from ntrader.core.nautilus_bars import close_times_ns, open_times_ns
from ntrader.core.runner import InstrumentBars
from ntrader.models.backtest import BacktestConfig
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe, TradeSide
from ntrader.models.execution import CommissionModel, FillAt, SizingMode
from ntrader.models.instrument import InstrumentSpec
from ntrader.services.simulation import simulate
from ntrader.utils.timeutil import ns_to_datetime

SPEC = InstrumentSpec(symbol="TEST", venue="NASDAQ")
FAST, SLOW = 3, 6


def _bars(closes: np.ndarray) -> BarArrays:
    days = pd.bdate_range("2023-01-02", periods=closes.size, tz="UTC").as_unit("ns")
    # Each bar opens 0.37 above the previous close, so an open fill and a close fill differ.
    opens = np.concatenate([[closes[0]], closes[:-1] + 0.37])
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


@pytest.mark.parametrize("fill_at", [FillAt.NEXT_OPEN, FillAt.CLOSE])
def test_entries_and_exits_fill_at_the_next_open_or_the_crossing_bars_close(
    fill_at: FillAt,
) -> None:
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
        # 10 % of equity without a stop: this test is about when orders fill, not exits.
        sizing=SizingMode.PERCENT,
        position_pct=10,
        fill_at=fill_at,
    )
    result = simulate(
        config,
        strategy_registry.resolve("sma"),
        [InstrumentBars(spec=SPEC, timeframe=Timeframe.DAILY, bars=data)],
    )
    if fill_at is FillAt.CLOSE:
        times, prices, offset = close_times_ns(SPEC, Timeframe.DAILY, data.ts), data.close, 0
    else:  # the bar after the signal, at its open (09:30 New York)
        times, prices, offset = open_times_ns(SPEC, Timeframe.DAILY, data.ts), data.open, 1
    assert [t.entry_time for t in result.trades] == [
        ns_to_datetime(int(times[i + offset])) for i in ups
    ]
    assert [t.entry_price for t in result.trades] == [prices[i + offset] for i in ups]
    closed = [t for t in result.trades if not t.is_open]
    assert [t.exit_time for t in closed] == [ns_to_datetime(int(times[i + offset])) for i in downs]
    assert [t.exit_price for t in closed] == [prices[i + offset] for i in downs]
    # Sized from the price it fills at: 10 % of the equity then, in whole shares.
    assert result.trades[0].quantity == int(10_000 // prices[ups[0] + offset])
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
