"""Runs are annualised on their instruments' calendar, and per-instrument figures include
the positions still open at the end (docs/metrics.md)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from ntrader.core import strategy_registry
from ntrader.core.runner import InstrumentBars
from ntrader.models.backtest import BacktestConfig
from ntrader.models.bars import BarArrays
from ntrader.models.enums import AssetClass, Timeframe
from ntrader.models.instrument import InstrumentSpec
from ntrader.models.metrics import Annualisation
from ntrader.services.simulation import SimulationResult, simulate
from tests.integration.strategy_support import daily_bars

SMA = strategy_registry.resolve("sma_crossover")
CRYPTO, ETF = AssetClass.CRYPTO, AssetClass.ETF


def _walk(seed: int, size: int, final_move: float = 0.0) -> np.ndarray:
    """A random walk whose last eight bars move ``final_move`` (log) each."""
    rng = np.random.default_rng(seed)
    body = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, size - 8)))
    tail = body[-1] * np.exp(np.cumsum(np.full(8, final_move)))
    return np.round(np.concatenate([body, tail]), 2)


def _every_day_bars(closes: np.ndarray) -> BarArrays:
    """``daily_bars`` on every calendar day, weekends included, as crypto trades."""
    bars = daily_bars(closes)
    days = pd.date_range("2023-01-01", periods=closes.size, freq="D", tz="UTC").as_unit("ns")
    return replace(bars, ts=days.asi8.astype(np.int64))


def _run(specs_and_bars: list[tuple[InstrumentSpec, BarArrays]]) -> SimulationResult:
    config = BacktestConfig(
        strategy_type="sma_crossover",
        instruments=tuple(spec.symbol for spec, _ in specs_and_bars),
        parameters=SMA.validate({}).model_dump(),
        start=date(2023, 1, 1),
        end=date(2023, 12, 31),
        # Percent sizing places no stop, so a final trend leaves its position open.
        sizing="percent",
        position_pct=10,
    )
    inputs = [
        InstrumentBars(spec=spec, timeframe=Timeframe.DAILY, bars=bars)
        for spec, bars in specs_and_bars
    ]
    return simulate(config, SMA, inputs)


# 2023 had 260 weekdays and 10 NYSE holidays (New Year observed on Jan 2, MLK, Presidents,
# Good Friday, Memorial, Juneteenth, July 4, Labor, Thanksgiving, Christmas).
@pytest.mark.parametrize(
    ("spec", "every_day", "calendar", "periods"),
    [
        (InstrumentSpec(symbol="BTCUSD", venue="COINBASE", asset_class=CRYPTO), True, "24/7", 365),
        (InstrumentSpec(symbol="TEST", venue="NASDAQ"), False, "XNYS", 250),
        (InstrumentSpec(symbol="SPY", venue="NYSE", asset_class=ETF), False, "XNYS", 250),
    ],
)
def test_a_run_is_annualised_on_its_instruments_calendar(
    spec: InstrumentSpec, every_day: bool, calendar: str, periods: int
) -> None:
    closes = _walk(3, 300)
    bars = _every_day_bars(closes) if every_day else daily_bars(closes)
    result = _run([(spec, bars)])
    expected = Annualisation(calendar=calendar, periods_per_year=periods)
    assert result.metrics.annualisation == expected
    equity = result.daily.equity
    # One point per bar: weekends are days of a 24/7 curve.
    assert equity.size == closes.size + 1
    returns = equity[1:] / equity[:-1] - 1
    assert returns.std() > 0
    risk, growth = result.metrics.risk, result.metrics.returns
    assert risk.sharpe_ratio == pytest.approx(
        returns.mean() / returns.std(ddof=1) * math.sqrt(periods), rel=1e-9
    )
    assert risk.volatility == pytest.approx(returns.std(ddof=1) * math.sqrt(periods), rel=1e-9)
    assert growth.cagr == pytest.approx(
        (equity[-1] / equity[0]) ** (periods / returns.size) - 1, rel=1e-9
    )


def test_per_instrument_pnl_includes_open_positions_and_adds_up_to_the_total() -> None:
    rising, falling = _walk(7, 208, 0.04), _walk(11, 208, -0.04)
    result = _run(
        [
            (InstrumentSpec(symbol="TEST", venue="NASDAQ"), daily_bars(rising)),
            (InstrumentSpec(symbol="OTHER", venue="NYSE"), daily_bars(falling)),
        ]
    )
    figures = result.metrics.per_instrument
    open_at_end = [t for t in result.trades if t.is_open]
    assert [t.instrument_id for t in open_at_end] == ["TEST.NASDAQ"]
    test, other = figures["TEST.NASDAQ"], figures["OTHER.NYSE"]
    assert (test.open_positions, other.open_positions) == (1, 0)
    assert other.unrealized_pnl == 0.0
    # The open long is marked at the last close: entry to last close, less its commission.
    position = open_at_end[0]
    marked = position.quantity * (rising[-1] - position.entry_price) - position.commission
    assert test.unrealized_pnl == pytest.approx(marked, abs=0.01)
    total = sum(f.net_pnl for f in figures.values())
    assert total == pytest.approx(result.final_equity - 100_000, abs=0.01)
    assert sum(f.return_contribution for f in figures.values()) == pytest.approx(
        result.metrics.returns.total_return, abs=1e-9
    )
    trading = result.metrics.trading
    assert trading.open_trades == 1
    assert trading.closed_trades == trading.total_trades > 0
