"""Fill timing, sizing modes and protective orders in real nautilus runs, on crafted bars
whose every fill price is known in advance (docs/execution.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ntrader.core.nautilus_bars import close_times_ns, open_times_ns
from ntrader.core.runner import InstrumentBars
from ntrader.models.backtest import SIZE_FIELDS, BacktestConfig, TradeRecord
from ntrader.models.enums import Timeframe
from ntrader.models.execution import CommissionModel, FillAt, SizingMode
from ntrader.models.instrument import InstrumentSpec
from ntrader.services.simulation import SimulationResult, simulate
from ntrader.utils.timeutil import ns_to_datetime
from tests.integration.scripted_strategy import (
    SCRIPTED,
    SIGNAL_BAR,
    quiet_bars,
    to_arrays,
)

SPEC = InstrumentSpec(symbol="STOP", venue="NASDAQ")


def backtest(
    frame: pd.DataFrame, timeframe: Timeframe = Timeframe.DAILY, **settings: Any
) -> SimulationResult:
    parameters = settings.pop("parameters", {})
    settings.setdefault("max_position_pct", 100.0)
    config = BacktestConfig(
        strategy_type="scripted",
        parameters=SCRIPTED.validate(parameters).model_dump(),
        instruments=(SPEC.instrument_id,),
        start=date(2023, 1, 1),
        end=date(2023, 12, 31),
        commission=CommissionModel(value=0.0),
        **settings,
    )
    data = to_arrays(frame)
    if timeframe is not Timeframe.DAILY:  # one bar a minute from 14:30 UTC, back to back
        start = pd.Timestamp("2023-01-03 14:30", tz="UTC").value
        data = replace(data, ts=start + np.arange(len(frame), dtype=np.int64) * 60 * 10**9)
    inputs = [InstrumentBars(spec=SPEC, timeframe=timeframe, bars=data)]
    return simulate(config, SCRIPTED, inputs)


def at_open(frame: pd.DataFrame, bar: int) -> Any:
    return ns_to_datetime(int(open_times_ns(SPEC, Timeframe.DAILY, to_arrays(frame).ts)[bar]))


def at_close(frame: pd.DataFrame, bar: int) -> Any:
    return ns_to_datetime(int(close_times_ns(SPEC, Timeframe.DAILY, to_arrays(frame).ts)[bar]))


def only_trade(result: SimulationResult) -> TradeRecord:
    assert len(result.trades) == 1
    return result.trades[0]


@pytest.mark.parametrize("fill_at", [FillAt.NEXT_OPEN, FillAt.CLOSE])
def test_a_gap_through_the_stop_fills_at_the_open(fill_at: FillAt) -> None:
    frame = quiet_bars(40)
    # Bar 25 opens at 94, below the stop at 100 - 2 x ATR 2.00 = 96: no trade happened at 96.
    frame.loc[25, ["open", "high", "low", "close"]] = [94.0, 95.0, 93.0, 94.5]
    frame.loc[26:, ["open", "high", "low", "close"]] = [94.5, 95.5, 93.5, 94.5]
    trade = only_trade(backtest(frame, fill_at=fill_at))
    # Risk 1 % of 100,000 over a 4.00 stop distance: 250 shares, entered at 100.
    assert trade.quantity == 250
    assert trade.entry_price == 100.0
    assert trade.exit_price == 94.0
    assert trade.pnl == pytest.approx(250 * (94.0 - 100.0))  # the gap costs more than 1 %
    if fill_at is FillAt.NEXT_OPEN:
        assert trade.entry_time == at_open(frame, SIGNAL_BAR + 1)
        assert trade.exit_time == at_open(frame, 25)  # when the open traded
    else:
        assert trade.entry_time == at_close(frame, SIGNAL_BAR)
        assert trade.exit_time == at_close(frame, 25)  # nautilus sees the bar at its close


def test_minute_bars_fill_at_the_next_bars_open_the_instant_the_signal_bar_closes() -> None:
    frame = quiet_bars(40)
    frame.loc[SIGNAL_BAR + 1 :, ["open", "high", "low", "close"]] = [100.5, 101.5, 99.5, 100.5]
    trade = only_trade(backtest(frame, Timeframe.MINUTE_1, sizing=SizingMode.PERCENT))
    assert trade.entry_price == 100.5  # bar 21's open, not bar 20's close
    opened = pd.Timestamp("2023-01-03 14:30", tz="UTC") + pd.Timedelta(minutes=SIGNAL_BAR + 1)
    assert trade.entry_time == opened.to_pydatetime()


def test_a_bar_trading_through_the_stop_fills_at_the_stop_and_loses_the_risk_budget() -> None:
    frame = quiet_bars(40)
    frame.loc[25, ["open", "high", "low", "close"]] = [100.0, 100.5, 95.0, 95.5]
    frame.loc[26:, ["open", "high", "low", "close"]] = [95.5, 96.5, 94.5, 95.5]
    trade = only_trade(backtest(frame))
    assert trade.exit_price == 96.0
    assert trade.exit_time == at_close(frame, 25)
    assert trade.pnl == pytest.approx(-1_000.0)  # exactly 1 % of the equity


def test_take_profit_fills_at_its_limit_and_cancels_the_stop() -> None:
    frame = quiet_bars(40)
    # r:2 -> 100 + 2 x 4.00 = 108. The bar reaches 109, then falls through the old stop:
    # had the stop survived the take-profit, it would fill too and open a short.
    frame.loc[25, ["open", "high", "low", "close"]] = [100.0, 109.0, 99.5, 108.5]
    frame.loc[26, ["open", "high", "low", "close"]] = [108.5, 109.0, 90.0, 91.0]
    frame.loc[27:, ["open", "high", "low", "close"]] = [91.0, 92.0, 90.0, 91.0]
    result = backtest(frame, take_profit_r="r:2")
    trade = only_trade(result)
    assert trade.exit_price == 108.0
    assert trade.pnl == pytest.approx(250 * 8.0)
    assert result.metrics.trading.total_trades == 1


def test_trailing_stop_follows_the_close_and_never_loosens() -> None:
    frame = quiet_bars(40)
    # From bar 21 the price climbs 2.00 a bar (each bar spans 2.00: the ATR stays 2.00),
    # then falls back; the stop trails 3 x ATR = 6.00 below the highest close (106).
    rises = [(100.0, 102.0), (102.0, 104.0), (104.0, 106.0)]
    for offset, (open_, close) in enumerate(rises):
        frame.loc[21 + offset, ["open", "high", "low", "close"]] = [open_, close, open_, close]
    frame.loc[24, ["open", "high", "low", "close"]] = [106.0, 106.0, 104.0, 104.0]
    frame.loc[25, ["open", "high", "low", "close"]] = [104.0, 104.0, 98.0, 98.5]
    frame.loc[26:, ["open", "high", "low", "close"]] = [98.5, 99.5, 97.5, 98.5]
    trade = only_trade(backtest(frame, trailing_stop_atr="atr:3"))
    # Initial stop 96 (risk sizing's 2 x ATR); after the 106 close it is 106 - 6 = 100, and
    # the 104 close does not pull it back to 98.
    assert trade.exit_price == 100.0
    assert trade.exit_time == at_close(frame, 25)


def test_a_signal_exit_cancels_the_stop() -> None:
    frame = quiet_bars(40)
    frame.loc[30:, ["open", "high", "low", "close"]] = [90.0, 91.0, 89.0, 90.0]
    result = backtest(frame, parameters={"flat_at": 25})
    trade = only_trade(result)
    assert trade.exit_time == at_open(frame, 26)
    assert trade.exit_price == 100.0


def test_a_signal_on_the_last_bar_is_not_traded_at_the_next_open() -> None:
    frame = quiet_bars(40)
    last = len(frame) - 1
    assert backtest(frame, parameters={"long_at": last}).trades == []
    # The same signal at the close trades (and stays open).
    at_the_close = backtest(frame, parameters={"long_at": last}, fill_at=FillAt.CLOSE)
    assert only_trade(at_the_close).is_open


@pytest.mark.parametrize(
    ("sizing", "size", "quantity"),
    [(SizingMode.PERCENT, 50.0, 500), (SizingMode.FIXED, 7, 7), (SizingMode.RISK, 0.5, 125)],
)
def test_sizing_modes_and_the_exposure_they_leave(
    sizing: SizingMode, size: float, quantity: int
) -> None:
    frame = quiet_bars(40)
    result = backtest(frame, sizing=sizing, **{SIZE_FIELDS[sizing]: size})
    trade = only_trade(result)
    assert trade.quantity == quantity
    # Held at 100 from bar 21's open to the end; marked at the closes of bars 21..39.
    held = np.arange(40) >= SIGNAL_BAR + 1
    share = np.where(held, quantity * 100.0 / 100_000.0, 0.0)
    assert result.metrics.exposure.maximum == pytest.approx(share.max())
    assert result.metrics.exposure.average == pytest.approx(share.mean())


def test_the_position_cap_binds_every_mode() -> None:
    frame = quiet_bars(40)
    result = backtest(frame, sizing=SizingMode.FIXED, position_units=900, max_position_pct=5)
    assert only_trade(result).quantity == 50  # 5 % of 100,000 at 100
