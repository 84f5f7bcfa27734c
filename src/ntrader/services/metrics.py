"""Performance metrics from the daily equity curve and closed trades (SPEC §6).

Every formula is written out in ``docs/metrics.md``; 252 trading days a year.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ntrader.models.backtest import TradeRecord

TRADING_DAYS = 252


def _finite(value: float) -> float | None:
    """Undefined values (zero volatility, no losses) are stored as null, not inf/nan."""
    return float(value) if math.isfinite(value) else None


def daily_returns(equity: np.ndarray) -> np.ndarray:
    return equity[1:] / equity[:-1] - 1.0 if equity.size > 1 else np.empty(0)


def max_drawdown(equity: np.ndarray) -> float:
    """Worst fall from a running peak, as a negative fraction (0.0 when none)."""
    if equity.size == 0:
        return 0.0
    return float(np.min(equity / np.maximum.accumulate(equity) - 1.0))


def sharpe_ratio(returns: np.ndarray, risk_free_rate: float = 0.0) -> float | None:
    if returns.size < 2:
        return None
    excess = returns - risk_free_rate / TRADING_DAYS
    std = excess.std(ddof=1)
    return _finite(excess.mean() / std * math.sqrt(TRADING_DAYS)) if std > 0 else None


def sortino_ratio(returns: np.ndarray, risk_free_rate: float = 0.0) -> float | None:
    if returns.size < 2:
        return None
    excess = returns - risk_free_rate / TRADING_DAYS
    downside = math.sqrt(np.mean(np.minimum(excess, 0.0) ** 2))
    return _finite(excess.mean() / downside * math.sqrt(TRADING_DAYS)) if downside > 0 else None


def returns_metrics(equity: np.ndarray) -> dict[str, float | None]:
    """``equity`` starts with the initial capital, then one value per trading day."""
    periods = equity.size - 1
    total = float(equity[-1] / equity[0] - 1.0) if equity.size else 0.0
    returns = daily_returns(equity)
    cagr = (1.0 + total) ** (TRADING_DAYS / periods) - 1.0 if periods > 0 and total > -1 else None
    return {
        "total_return": total,
        "cagr": _finite(cagr) if cagr is not None else None,
        "annualized_return": float(returns.mean() * TRADING_DAYS) if returns.size else None,
    }


def risk_metrics(
    equity: np.ndarray, cagr: float | None, risk_free_rate: float = 0.0
) -> dict[str, float | None]:
    returns = daily_returns(equity)
    drawdown = max_drawdown(equity)
    return {
        "max_drawdown": drawdown,
        "sharpe_ratio": sharpe_ratio(returns, risk_free_rate),
        "sortino_ratio": sortino_ratio(returns, risk_free_rate),
        "calmar_ratio": _finite(cagr / abs(drawdown))
        if cagr is not None and drawdown < 0
        else None,
        "volatility": (
            float(returns.std(ddof=1) * math.sqrt(TRADING_DAYS)) if returns.size > 1 else None
        ),
    }


def trading_metrics(trades: Sequence[TradeRecord]) -> dict[str, float | int | None]:
    pnls = np.array([t.pnl for t in trades if not t.is_open and t.pnl is not None], dtype=float)
    wins, losses = pnls[pnls > 0], pnls[pnls <= 0]
    gross_loss = -losses.sum()
    return {
        "win_rate": float(wins.size / pnls.size) if pnls.size else None,
        "avg_win": float(wins.mean()) if wins.size else None,
        "avg_loss": float(losses.mean()) if losses.size else None,
        "profit_factor": _finite(wins.sum() / gross_loss) if gross_loss > 0 else None,
        "expectancy": float(pnls.mean()) if pnls.size else None,
        "total_trades": int(pnls.size),
        "winning_trades": int(wins.size),
        "losing_trades": int(losses.size),
    }


def benchmark_metrics(
    equity: np.ndarray, benchmark: np.ndarray | None, risk_free_rate: float = 0.0
) -> dict[str, float | None]:
    """Against a buy-and-hold benchmark sampled on the same days (same length as equity)."""
    empty: dict[str, float | None] = {"benchmark_return": None, "alpha": None, "beta": None}
    if benchmark is None or benchmark.size != equity.size or benchmark.size < 3:
        return empty
    returns, bench = daily_returns(equity), daily_returns(benchmark)
    rf = risk_free_rate / TRADING_DAYS
    variance = bench.var(ddof=1)
    beta = float(np.cov(returns, bench, ddof=1)[0, 1] / variance) if variance > 0 else None
    alpha = (
        float(((returns - rf).mean() - beta * (bench - rf).mean()) * TRADING_DAYS)
        if beta is not None
        else None
    )
    return {
        "benchmark_return": float(benchmark[-1] / benchmark[0] - 1.0),
        "alpha": alpha,
        "beta": beta,
    }


def compute_metrics(
    equity: np.ndarray,
    trades: Sequence[TradeRecord],
    *,
    benchmark: np.ndarray | None = None,
    risk_free_rate: float = 0.0,
) -> dict[str, dict[str, Any]]:
    """All SPEC §6 metrics, grouped as stored."""
    returns = returns_metrics(equity)
    return {
        "returns": returns,
        "risk": risk_metrics(equity, returns["cagr"], risk_free_rate),
        "trading": trading_metrics(trades),
        "benchmark": benchmark_metrics(equity, benchmark, risk_free_rate),
    }
