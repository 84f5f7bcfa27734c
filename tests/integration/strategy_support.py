"""Helpers shared by the strategy and execution tests: crafted bars and one real run.

No tests here; the modules beside it import these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine

from ntrader.core import strategy_registry
from ntrader.core.nautilus_bars import close_times_ns
from ntrader.core.runner import InstrumentBars
from ntrader.core.strategy_registry import StrategyType
from ntrader.models.backtest import BacktestConfig
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe
from ntrader.models.execution import CommissionModel, FillAt, SizingMode
from ntrader.models.instrument import InstrumentSpec
from ntrader.services.simulation import SimulationResult, simulate
from ntrader.utils.timeutil import ns_to_datetime

SPEC = InstrumentSpec(symbol="TEST", venue="NASDAQ")
NO_COMMISSION = CommissionModel(value=0.0)


def daily_bars(closes: np.ndarray, *, wick: float = 0.5) -> BarArrays:
    """Business-day bars closing at ``closes``; each opens at the previous close."""
    days = pd.bdate_range("2023-01-02", periods=closes.size, tz="UTC").as_unit("ns")
    opens = np.concatenate([[closes[0]], closes[:-1]])
    return BarArrays(
        ts=days.asi8.astype(np.int64),
        open=opens,
        high=np.round(np.maximum(opens, closes) + wick, 2),
        low=np.round(np.minimum(opens, closes) - wick, 2),
        close=closes,
        volume=np.full(closes.size, 1e6),
        price_precision=2,
    )


@dataclass(frozen=True, slots=True)
class Run:
    result: SimulationResult
    data: BarArrays

    def time_of(self, bar: int) -> Any:
        """When bar number ``bar`` closes: the time a strategy acting on it trades."""
        return ns_to_datetime(int(close_times_ns(SPEC, Timeframe.DAILY, self.data.ts)[bar]))


def run(
    strategy: str | StrategyType,
    parameters: dict[str, Any],
    data: BarArrays,
    *,
    commission: CommissionModel = NO_COMMISSION,
    slippage_bps: float = 0.0,
    spec: InstrumentSpec = SPEC,
    fill_at: FillAt = FillAt.CLOSE,
) -> Run:
    """One real nautilus backtest of ``strategy`` on ``data`` (daily bars of ``spec``).

    These runs test signals, so orders fill at the signal bar's close and positions are
    10 % of equity without a stop; execution itself is tested in test_execution_*.py.
    """
    kind = strategy_registry.resolve(strategy) if isinstance(strategy, str) else strategy
    config = BacktestConfig(
        strategy_type=kind.name,
        parameters=kind.validate(parameters).model_dump(),
        instruments=(spec.instrument_id,),
        start=date(2023, 1, 1),
        end=date(2024, 12, 31),
        commission=commission,
        slippage_bps=slippage_bps,
        fill_at=fill_at,
        sizing=SizingMode.PERCENT,
        position_pct=10.0,
    )
    inputs = [InstrumentBars(spec=spec, timeframe=Timeframe.DAILY, bars=data)]
    return Run(result=simulate(config, kind, inputs), data=data)


def simulate_bands(
    signal: np.ndarray,
    long_entry: float,
    long_exit: float,
    short_entry: float,
    short_exit: float,
    *,
    allow_short: bool,
) -> list[tuple[str, int, int | None]]:
    """The round trips a band rule makes on ``signal`` (NaN while warming up), written
    out independently of the strategy code: (side, entry bar, exit bar or None)."""
    trades: list[tuple[str, int, int | None]] = []
    position = 0
    for bar, value in enumerate(signal):
        if np.isnan(value):
            continue
        if value < long_entry:
            target = 1
        elif allow_short and value > short_entry:
            target = -1
        elif (position == 1 and value > long_exit) or (position == -1 and value < short_exit):
            target = 0
        else:
            target = position
        if target != position:
            if position != 0:
                side, entry, _ = trades[-1]
                trades[-1] = (side, entry, bar)
            if target != 0:
                trades.append(("LONG" if target == 1 else "SHORT", bar, None))
            position = target
    return trades


def distance_to(signal: np.ndarray, *thresholds: float) -> float:
    """How close any defined value of ``signal`` comes to a threshold: crafted series keep
    clear of them, so float rounding cannot move a signal across one."""
    defined = signal[~np.isnan(signal)]
    return float(min(np.min(np.abs(defined - t)) for t in thresholds))


def traded(run: Run) -> list[tuple[str, int, int | None]]:
    """What the engine did, in the shape of ``simulate_bands``' answer."""
    times = [run.time_of(i) for i in range(len(run.data))]
    trades = [
        (
            trade.side.value,
            times.index(trade.entry_time),
            None if trade.exit_time is None else times.index(trade.exit_time),
        )
        for trade in run.result.trades
    ]
    return sorted(trades, key=lambda trade: trade[1])


def assert_filled_at_closes(run: Run) -> None:
    """Every entry and exit filled at the close of the bar that signalled it."""
    trades = sorted(run.result.trades, key=lambda trade: trade.entry_time)
    for trade, (_, entry_bar, exit_bar) in zip(trades, traded(run), strict=True):
        assert trade.entry_price == run.data.close[entry_bar]
        if exit_bar is not None:
            assert trade.exit_price == run.data.close[exit_bar]


def engine_fills(engine: BacktestEngine) -> list[tuple[str, str, float, float, int]]:
    """Every filled order of a run: id, side, filled quantity, average price, last event."""
    return sorted(
        (
            order.client_order_id.value,
            order.side_string(),
            order.filled_qty.as_double(),
            float(order.avg_px),
            order.ts_last,
        )
        for order in engine.cache.orders()
        if order.filled_qty.as_double() > 0
    )
