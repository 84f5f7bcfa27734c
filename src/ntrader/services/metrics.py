"""Performance metrics from the daily equity curve and closed trades.

Every formula is written out in ``docs/metrics.md``. Returns are annualised on the run's
calendar (``periods_per_year``: the NYSE's sessions, 260 for FX, 365 for crypto; see
``core/calendars.py``); 252 is only the default for callers without a calendar and for runs
stored before calendars. The risk-free rate is an annual fraction (0.04 = 4 %), spread evenly
over the trading days.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ntrader.models.backtest import TradeRecord
from ntrader.models.defaults import MAX_RISK_FREE_RATE, MIN_RISK_FREE_RATE
from ntrader.models.metrics import (
    BenchmarkMetrics,
    Metrics,
    ReturnMetrics,
    RiskMetrics,
    TradingMetrics,
)

TRADING_DAYS = 252

# A standard deviation this small is rounding noise on a flat curve, not risk: dividing by it
# would turn "no risk taken" into an absurd ratio of 1e15.
_ZERO_SPREAD = 1e-12


def _finite(value: float) -> float | None:
    """Undefined values (zero volatility, no losses) are stored as null, not inf/nan."""
    return float(value) if math.isfinite(value) else None


def check_risk_free_rate(risk_free_rate: float) -> float:
    """An annual rate as a fraction; 4 (meaning 4 %) is caught here rather than believed."""
    if not MIN_RISK_FREE_RATE <= risk_free_rate <= MAX_RISK_FREE_RATE:
        raise ValueError(
            f"risk-free rate {risk_free_rate} is not an annual fraction (e.g. 0.04 for 4 %)"
        )
    return risk_free_rate


def daily_returns(equity: np.ndarray) -> np.ndarray:
    return equity[1:] / equity[:-1] - 1.0 if equity.size > 1 else np.empty(0)


def excess_returns(
    returns: np.ndarray, risk_free_rate: float = 0.0, periods_per_year: float = TRADING_DAYS
) -> np.ndarray:
    return returns - check_risk_free_rate(risk_free_rate) / periods_per_year


def max_drawdown(equity: np.ndarray) -> float:
    """Worst fall from a running peak, as a negative fraction (0.0 when none)."""
    if equity.size == 0:
        return 0.0
    return float(np.min(equity / np.maximum.accumulate(equity) - 1.0))


def sharpe_ratio(
    returns: np.ndarray, risk_free_rate: float = 0.0, periods_per_year: float = TRADING_DAYS
) -> float | None:
    if returns.size < 2:
        return None
    excess = excess_returns(returns, risk_free_rate, periods_per_year)
    std = excess.std(ddof=1)
    if std <= _ZERO_SPREAD:
        return None
    return _finite(excess.mean() / std * math.sqrt(periods_per_year))


def sortino_ratio(
    returns: np.ndarray, risk_free_rate: float = 0.0, periods_per_year: float = TRADING_DAYS
) -> float | None:
    """Downside deviation over *all* days (Sortino & Price), not only the losing ones."""
    if returns.size < 2:
        return None
    excess = excess_returns(returns, risk_free_rate, periods_per_year)
    downside = math.sqrt(np.mean(np.minimum(excess, 0.0) ** 2))
    if downside <= _ZERO_SPREAD:
        return None
    return _finite(excess.mean() / downside * math.sqrt(periods_per_year))


def _standardised_moment(returns: np.ndarray, order: int) -> float | None:
    """m_k / m2^(k/2) with population moments (as Bailey & López de Prado use)."""
    if returns.size < 3:
        return None
    centred = returns - returns.mean()
    m2 = float(np.mean(centred**2))
    if m2 <= _ZERO_SPREAD**2:
        return None
    return float(np.mean(centred**order) / m2 ** (order / 2))


def skewness(returns: np.ndarray) -> float | None:
    return _standardised_moment(returns, 3)


def kurtosis(returns: np.ndarray) -> float | None:
    """Pearson kurtosis: 3 for a normal distribution (not the excess)."""
    return _standardised_moment(returns, 4)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def probabilistic_sharpe_ratio(
    returns: np.ndarray,
    risk_free_rate: float = 0.0,
    benchmark_sharpe: float = 0.0,
    periods_per_year: float = TRADING_DAYS,
) -> float | None:
    """Probability that the true (per-day) Sharpe ratio exceeds ``benchmark_sharpe``.

    Bailey & López de Prado (2012): the observed Sharpe ratio's standard error grows with
    negative skew and fat tails, so a short or lopsided record earns less confidence.
    """
    if returns.size < 4:
        return None
    excess = excess_returns(returns, risk_free_rate, periods_per_year)
    std = excess.std(ddof=1)
    skew, kurt = skewness(excess), kurtosis(excess)
    if std <= _ZERO_SPREAD or skew is None or kurt is None:
        return None
    sharpe = excess.mean() / std
    variance = 1.0 - skew * sharpe + (kurt - 1.0) / 4.0 * sharpe**2
    if variance <= 0:
        return None
    z = (sharpe - benchmark_sharpe) * math.sqrt(returns.size - 1) / math.sqrt(variance)
    return _normal_cdf(z)


def returns_metrics(equity: np.ndarray, periods_per_year: float = TRADING_DAYS) -> ReturnMetrics:
    """``equity`` starts with the initial capital, then one value per trading day."""
    periods = equity.size - 1
    total = float(equity[-1] / equity[0] - 1.0) if equity.size else 0.0
    returns = daily_returns(equity)
    cagr = (
        (1.0 + total) ** (periods_per_year / periods) - 1.0 if periods > 0 and total > -1 else None
    )
    return ReturnMetrics(
        total_return=total,
        cagr=_finite(cagr) if cagr is not None else None,
        annualized_return=float(returns.mean() * periods_per_year) if returns.size else None,
    )


def risk_metrics(
    equity: np.ndarray,
    cagr: float | None,
    risk_free_rate: float = 0.0,
    periods_per_year: float = TRADING_DAYS,
) -> RiskMetrics:
    returns = daily_returns(equity)
    drawdown = max_drawdown(equity)
    return RiskMetrics(
        max_drawdown=drawdown,
        sharpe_ratio=sharpe_ratio(returns, risk_free_rate, periods_per_year),
        sortino_ratio=sortino_ratio(returns, risk_free_rate, periods_per_year),
        calmar_ratio=_finite(cagr / abs(drawdown)) if cagr is not None and drawdown < 0 else None,
        volatility=(
            float(returns.std(ddof=1) * math.sqrt(periods_per_year)) if returns.size > 1 else None
        ),
    )


def closed_pnls(trades: Sequence[TradeRecord]) -> np.ndarray:
    """Net PnL of every closed round trip; open positions at the end are not trades yet."""
    return np.array([t.pnl for t in trades if not t.is_open and t.pnl is not None], dtype=float)


def trading_metrics(trades: Sequence[TradeRecord]) -> TradingMetrics:
    pnls = closed_pnls(trades)
    # A break-even trade (pnl == 0) counts as a loss: it paid commission for nothing.
    wins, losses = pnls[pnls > 0], pnls[pnls <= 0]
    gross_loss = -losses.sum()
    return TradingMetrics(
        closed_trades=int(pnls.size),
        open_trades=sum(1 for t in trades if t.is_open),
        win_rate=float(wins.size / pnls.size) if pnls.size else None,
        avg_win=float(wins.mean()) if wins.size else None,
        avg_loss=float(losses.mean()) if losses.size else None,
        profit_factor=_finite(wins.sum() / gross_loss) if gross_loss > 0 else None,
        expectancy=float(pnls.mean()) if pnls.size else None,
        total_trades=int(pnls.size),
        winning_trades=int(wins.size),
        losing_trades=int(losses.size),
    )


def benchmark_metrics(
    equity: np.ndarray,
    benchmark: np.ndarray | None,
    risk_free_rate: float = 0.0,
    periods_per_year: float = TRADING_DAYS,
) -> BenchmarkMetrics:
    """Against a buy-and-hold benchmark sampled on the same days (same length as equity)."""
    if benchmark is None or benchmark.size != equity.size or benchmark.size < 3:
        return BenchmarkMetrics(benchmark_return=None, alpha=None, beta=None)
    returns = excess_returns(daily_returns(equity), risk_free_rate, periods_per_year)
    bench = excess_returns(daily_returns(benchmark), risk_free_rate, periods_per_year)
    variance = bench.var(ddof=1)
    beta = float(np.cov(returns, bench, ddof=1)[0, 1] / variance) if variance > 0 else None
    alpha = (
        float((returns.mean() - beta * bench.mean()) * periods_per_year)
        if beta is not None
        else None
    )
    return BenchmarkMetrics(
        benchmark_return=float(benchmark[-1] / benchmark[0] - 1.0), alpha=alpha, beta=beta
    )


def compute_metrics(
    equity: np.ndarray,
    trades: Sequence[TradeRecord],
    *,
    benchmark: np.ndarray | None = None,
    risk_free_rate: float = 0.0,
    periods_per_year: float = TRADING_DAYS,
) -> Metrics:
    """The four metric groups (returns, risk, trading, benchmark), as stored."""
    check_risk_free_rate(risk_free_rate)
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError(f"periods per year must be a positive number, not {periods_per_year}")
    returns = returns_metrics(equity, periods_per_year)
    return Metrics(
        returns=returns,
        risk=risk_metrics(equity, returns.cagr, risk_free_rate, periods_per_year),
        trading=trading_metrics(trades),
        benchmark=benchmark_metrics(equity, benchmark, risk_free_rate, periods_per_year),
    )
