"""Figures the reports derive from a run: hand-worked drawdowns, calendar returns, rolling
ratios, exposure, the sparkline and candle merging."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ntrader.models.backtest import TradeRecord
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe, TradeSide
from ntrader.services.reports.analytics import (
    drawdown_periods,
    exposure,
    monthly_table,
    period_returns,
    rolling_beta,
    rolling_sharpe,
    worst_drawdowns,
)
from ntrader.services.reports.catalog import METRICS, Kind, Tone, format_value
from ntrader.services.reports.charts import decimate, price_chart
from ntrader.services.reports.sparkline import sparkline


def _series(values: list[float], start: str = "2024-01-01") -> pd.Series:
    return pd.Series(values, index=pd.bdate_range(start, periods=len(values)))


def test_drawdown_periods_hand_worked() -> None:
    #                 0    1    2   3    4    5    6    7    8   9
    curve = _series([100, 110, 99, 88, 105, 110, 120, 108, 114, 90])
    first, second = drawdown_periods(curve)
    index = curve.index
    # 110 (day 1) falls to 88 (day 3, -20 %) and is back at 110 on day 5.
    assert (first.peak, first.trough, first.recovery) == (index[1], index[3], index[5])
    assert first.depth == pytest.approx(-0.2)
    assert first.days == 4
    # 120 (day 6) falls to 90 at the very end, never recovered.
    assert (second.peak, second.trough, second.recovery) == (index[6], index[9], None)
    assert second.depth == pytest.approx(-0.25)
    assert second.days == 3
    assert worst_drawdowns(curve, 1) == [second]
    assert drawdown_periods(_series([1.0, 2.0, 3.0])) == []


def test_period_returns_chain_from_the_starting_value() -> None:
    dates = pd.to_datetime(["2023-12-29", "2024-01-15", "2024-01-31", "2024-02-10", "2025-03-03"])
    curve = pd.Series([100.0, 105.0, 110.0, 99.0, 121.0], index=dates)
    monthly = period_returns(curve, "M")
    assert list(monthly.round(12)) == [0.1, -0.1, round(121 / 99 - 1, 12)]
    yearly = period_returns(curve, "Y")
    assert list(yearly.round(12)) == [round(99 / 100 - 1, 12), round(121 / 99 - 1, 12)]
    # Compounding the months gives the total.
    assert float(np.prod(1 + monthly) - 1) == pytest.approx(121 / 100 - 1)
    table = monthly_table(curve)
    assert table.loc[2024, 1] == pytest.approx(0.1)
    assert table.loc[2025, 3] == pytest.approx(121 / 99 - 1)
    assert math.isnan(table.loc[2024, 5])
    assert list(table.columns) == list(range(1, 13))


def test_rolling_sharpe_and_beta_match_direct_window_computations() -> None:
    rng = np.random.default_rng(2)
    bench = pd.Series(rng.normal(3e-4, 0.01, 120), index=pd.bdate_range("2024-01-01", periods=120))
    returns = 0.5 * bench + rng.normal(1e-4, 0.004, 120)
    sharpe = rolling_sharpe(returns, 0.02, window=63)
    beta = rolling_beta(returns, bench, window=63)
    assert len(sharpe) == len(beta) == 120 - 62
    window = returns.iloc[-63:].to_numpy() - 0.02 / 252
    assert sharpe.iloc[-1] == pytest.approx(window.mean() / window.std(ddof=1) * math.sqrt(252))
    slope = np.polyfit(bench.iloc[-63:], returns.iloc[-63:], 1)[0]
    assert beta.iloc[-1] == pytest.approx(slope)


def _trade(entry: datetime, held: timedelta | None) -> TradeRecord:
    return TradeRecord(
        instrument_id="AAPL.NASDAQ",
        side=TradeSide.LONG,
        quantity=1,
        entry_time=entry,
        entry_price=1.0,
        exit_time=entry + held if held else None,
        exit_price=1.0 if held else None,
        commission=0.0,
        pnl=0.0 if held else None,
        is_open=held is None,
    )


def test_exposure_counts_overlapping_positions_once_and_open_ones_to_the_end() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=100)
    trades = [
        _trade(start + timedelta(days=10), timedelta(days=20)),  # days 10-30
        _trade(start + timedelta(days=20), timedelta(days=20)),  # days 20-40, overlaps
        _trade(start + timedelta(days=60), timedelta(days=5)),  # days 60-65
        _trade(start + timedelta(days=90), None),  # days 90-100, still open
    ]
    assert exposure(trades, start, end) == pytest.approx((30 + 5 + 10) / 100)
    assert exposure([], start, end) == 0.0


def test_sparkline() -> None:
    assert sparkline(np.arange(8.0)) == "▁▂▃▄▅▆▇█"
    assert sparkline(np.full(5, 100.0)) == "▁▁▁▁▁"
    squeezed = sparkline(np.arange(1000.0), width=10)
    assert len(squeezed) == 10
    assert squeezed[0] == "▁" and squeezed[-1] == "█"
    assert sparkline(np.array([])) == ""


def test_metric_formats_and_tones() -> None:
    assert format_value(Kind.PERCENT, 0.1234) == "+12.34%"
    assert format_value(Kind.PERCENT, -0.05) == "-5.00%"
    assert format_value(Kind.RATE, 0.5) == "50.00%"
    assert format_value(Kind.MONEY, -1234.5) == "-$1,234.50"
    assert format_value(Kind.COUNT, 1200) == "1,200"
    assert format_value(Kind.RATIO, None) == "—"
    by_key = {m.key: m for m in METRICS}
    assert by_key["max_drawdown"].tone(-0.05) is Tone.GOOD
    assert by_key["max_drawdown"].tone(-0.15) is Tone.NEUTRAL
    assert by_key["max_drawdown"].tone(-0.30) is Tone.BAD
    assert by_key["sharpe_ratio"].tone(1.5) is Tone.GOOD
    assert by_key["sharpe_ratio"].tone(0.5) is Tone.NEUTRAL
    assert by_key["total_return"].tone(0.0) is Tone.NEUTRAL
    assert by_key["volatility"].tone(0.9) is Tone.NEUTRAL


def _minute_bars(count: int) -> BarArrays:
    opens = pd.Timestamp("2024-11-04 14:30", tz="UTC").value + np.arange(count) * 60 * 10**9
    close = 100 + np.sin(np.arange(count) / 50)
    return BarArrays(
        ts=opens.astype(np.int64),
        open=close - 0.01,
        high=close + 0.05,
        low=close - 0.05,
        close=close,
        volume=np.full(count, 10.0),
        price_precision=2,
    )


def test_decimate_merges_bars_into_candles() -> None:
    bars = _minute_bars(10)
    candles = decimate(bars, limit=4)  # 3 bars per candle: 3 + 3 + 3 + 1
    assert candles.bars_per_candle == 3
    assert list(candles.last) == [2, 5, 8, 9]
    assert candles.open[1] == bars.open[3]
    assert candles.high[1] == bars.high[3:6].max()
    assert candles.low[0] == bars.low[0:3].min()
    assert candles.close[3] == bars.close[9]
    assert decimate(bars, limit=100).bars_per_candle == 1


def test_price_chart_puts_fills_on_the_candle_that_holds_them() -> None:
    bars = _minute_bars(5000)  # merged into candles of 3 bars
    fill_bar = 1000  # fills happen at a bar's close
    fill = datetime.fromtimestamp((bars.ts[fill_bar] + 60 * 10**9) / 1e9, tz=UTC)
    trade = TradeRecord(
        instrument_id="AAPL.NASDAQ",
        side=TradeSide.SHORT,
        quantity=5,
        entry_time=fill,
        entry_price=float(bars.close[fill_bar]),
        exit_time=fill + timedelta(minutes=3),
        exit_price=float(bars.close[fill_bar + 3]),
        commission=1.0,
        pnl=-2.0,
    )
    figure, per_candle = price_chart("AAPL.NASDAQ", bars, Timeframe.MINUTE_1, [trade])
    assert per_candle == 3
    candles, entries, exits = figure["data"]
    assert len(candles["x"]) == math.ceil(5000 / 3)
    assert entries["name"] == "short entry"
    # Bar 1000 is in candle 333 (bars 999-1001), drawn at bar 1001's close (New York time).
    assert entries["x"] == [candles["x"][333]]
    assert exits["x"] == [candles["x"][334]]
    assert candles["x"][0] == "2024-11-04 09:33"
