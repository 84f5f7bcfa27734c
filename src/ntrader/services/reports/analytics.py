"""Figures derived from a run beyond the stored metrics: drawdown periods, calendar
returns, rolling ratios and trade statistics (formulas in docs/metrics.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from ntrader.models.backtest import TradeRecord
from ntrader.models.enums import TradeSide
from ntrader.services.metrics import (
    TRADING_DAYS,
    closed_pnls,
    excess_returns,
    kurtosis,
    probabilistic_sharpe_ratio,
    skewness,
)
from ntrader.services.reports.data import RunData

ROLLING_WINDOW = 63  # about three months of trading days


def underwater(series: pd.Series) -> pd.Series:
    """Fall from the running peak at each point, as a negative fraction (0 at a new high)."""
    return series / series.cummax() - 1.0


@dataclass(frozen=True, slots=True)
class DrawdownPeriod:
    peak: pd.Timestamp  # the last high before the fall
    trough: pd.Timestamp
    recovery: pd.Timestamp | None  # first day back at the peak; None if never
    depth: float  # negative fraction
    days: int  # trading days from the peak to the recovery (or to the end)


def drawdown_periods(series: pd.Series) -> list[DrawdownPeriod]:
    """Every stretch spent below a previous peak, in time order."""
    depth = underwater(series).to_numpy()
    below = depth < 0
    if not below.any():
        return []
    edges = np.diff(np.concatenate([[0], below.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    index = series.index
    periods = []
    for start, stop in zip(starts, stops, strict=True):
        trough = start + int(np.argmin(depth[start:stop]))
        recovered = stop < depth.size
        periods.append(
            DrawdownPeriod(
                peak=index[start - 1],
                trough=index[trough],
                recovery=index[stop] if recovered else None,
                depth=float(depth[trough]),
                days=int((stop if recovered else depth.size - 1) - (start - 1)),
            )
        )
    return periods


def worst_drawdowns(series: pd.Series, count: int = 5) -> list[DrawdownPeriod]:
    return sorted(drawdown_periods(series), key=lambda p: p.depth)[:count]


def period_returns(series: pd.Series, freq: str) -> pd.Series:
    """Return of each calendar period (``"M"`` or ``"Y"``) of a curve whose first point is
    the starting value: the period's last value over the previous period's last."""
    closes = series.iloc[1:]
    last = closes.groupby(closes.index.to_period(freq)).last()
    base = last.shift(1)
    base.iloc[0] = series.iloc[0]
    return last / base - 1.0


def monthly_table(series: pd.Series) -> pd.DataFrame:
    """Monthly returns as a table of years by months (1-12); NaN where the run has no such month."""
    monthly = period_returns(series, "M")
    table = pd.DataFrame(
        {"year": monthly.index.year, "month": monthly.index.month, "value": monthly.to_numpy()}
    )
    return table.pivot(index="year", columns="month", values="value").reindex(columns=range(1, 13))


def rolling_sharpe(
    returns: pd.Series,
    risk_free_rate: float = 0.0,
    window: int = ROLLING_WINDOW,
    periods_per_year: float = TRADING_DAYS,
) -> pd.Series:
    excess = pd.Series(
        excess_returns(returns.to_numpy(), risk_free_rate, periods_per_year), index=returns.index
    )
    rolling = excess.rolling(window)
    std = rolling.std(ddof=1)
    return (rolling.mean() / std.where(std > 1e-12) * math.sqrt(periods_per_year)).dropna()


def rolling_volatility(
    returns: pd.Series, window: int = ROLLING_WINDOW, periods_per_year: float = TRADING_DAYS
) -> pd.Series:
    return (returns.rolling(window).std(ddof=1) * math.sqrt(periods_per_year)).dropna()


def rolling_beta(
    returns: pd.Series, benchmark: pd.Series, window: int = ROLLING_WINDOW
) -> pd.Series:
    variance = benchmark.rolling(window).var(ddof=1)
    return (returns.rolling(window).cov(benchmark, ddof=1) / variance.where(variance > 0)).dropna()


@dataclass(frozen=True, slots=True)
class TradeStats:
    """The trade list and the curve in a few numbers (``report summary --detailed``)."""

    closed_trades: int
    open_positions: int
    long_trades: int
    short_trades: int
    largest_win: float | None
    largest_loss: float | None
    avg_holding: timedelta | None
    max_consecutive_wins: int
    max_consecutive_losses: int
    total_commission: float
    exposure: float  # share of the run's time with a position open
    longest_drawdown: DrawdownPeriod | None
    best_day: float | None
    worst_day: float | None
    best_month: float | None
    worst_month: float | None
    skew: float | None
    kurtosis: float | None
    probabilistic_sharpe: float | None


def trade_stats(data: RunData) -> TradeStats:
    closed = data.closed_trades
    pnls = closed_pnls(data.trades)
    series = data.curve.series()
    returns = data.curve.returns().to_numpy()
    periods = drawdown_periods(series)
    monthly = period_returns(series, "M")
    holds = [t.exit_time - t.entry_time for t in closed if t.exit_time is not None]
    return TradeStats(
        closed_trades=len(closed),
        open_positions=sum(1 for t in data.trades if t.is_open),
        long_trades=sum(1 for t in closed if t.side is TradeSide.LONG),
        short_trades=sum(1 for t in closed if t.side is TradeSide.SHORT),
        largest_win=float(pnls.max()) if pnls.size and pnls.max() > 0 else None,
        largest_loss=float(pnls.min()) if pnls.size and pnls.min() <= 0 else None,
        avg_holding=sum(holds, timedelta()) / len(holds) if holds else None,
        max_consecutive_wins=_longest_run(pnls > 0),
        max_consecutive_losses=_longest_run(pnls <= 0),
        total_commission=float(sum(t.commission for t in data.trades)),
        exposure=exposure(data.trades, data.snapshots[0].ts, data.snapshots[-1].ts),
        longest_drawdown=max(periods, key=lambda p: p.days) if periods else None,
        best_day=float(returns.max()) if returns.size else None,
        worst_day=float(returns.min()) if returns.size else None,
        best_month=float(monthly.max()) if monthly.size else None,
        worst_month=float(monthly.min()) if monthly.size else None,
        skew=skewness(returns),
        kurtosis=kurtosis(returns),
        probabilistic_sharpe=probabilistic_sharpe_ratio(
            returns, data.risk_free_rate, periods_per_year=data.periods_per_year
        ),
    )


def _longest_run(flags: np.ndarray) -> int:
    longest = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        longest = max(longest, current)
    return longest


def exposure(trades: list[TradeRecord], start: datetime, end: datetime) -> float:
    """Share of [start, end] during which at least one position was open (overlapping
    positions count once); an open position runs to ``end``."""
    span = (end - start).total_seconds()
    if span <= 0 or not trades:
        return 0.0
    intervals = sorted((max(t.entry_time, start), min(t.exit_time or end, end)) for t in trades)
    covered = 0.0
    current_start, current_end = intervals[0]
    for begin, finish in intervals[1:]:
        if begin > current_end:
            covered += max((current_end - current_start).total_seconds(), 0.0)
            current_start, current_end = begin, finish
        else:
            current_end = max(current_end, finish)
    covered += max((current_end - current_start).total_seconds(), 0.0)
    return covered / span
