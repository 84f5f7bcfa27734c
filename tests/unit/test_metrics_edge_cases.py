"""Risk-free rate, null rules and the higher moments, each against an independent formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ntrader.services.metrics import (
    compute_metrics,
    kurtosis,
    probabilistic_sharpe_ratio,
    skewness,
)
from ntrader.services.reports.catalog import METRICS, Tone, format_metric, metric_tone
from tests.factories import trade_with_pnl

RATE = 0.05


def _curve(seed: int, days: int = 400, drift: float = 4e-4, vol: float = 0.01) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1e5 * np.cumprod(np.concatenate([[1.0], 1 + rng.normal(drift, vol, days)]))


def test_risk_free_rate_flows_into_sharpe_sortino_and_alpha_only() -> None:
    equity = _curve(3)
    bench = _curve(4, drift=3e-4)
    plain = compute_metrics(equity, [], benchmark=bench)
    with_rate = compute_metrics(equity, [], benchmark=bench, risk_free_rate=RATE)
    returns = np.diff(equity) / equity[:-1]
    bench_returns = np.diff(bench) / bench[:-1]
    daily_rate = RATE / 252
    excess = returns - daily_rate
    # Sortino & Price: downside deviation over all days, below the daily risk-free rate.
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in excess) / len(excess))
    assert with_rate.risk.sortino_ratio == pytest.approx(
        excess.mean() / downside * math.sqrt(252), rel=1e-12
    )
    assert with_rate.risk.sharpe_ratio == pytest.approx(
        excess.mean() / excess.std(ddof=1) * math.sqrt(252), rel=1e-12
    )
    # Jensen's alpha: the intercept of excess returns on excess benchmark returns.
    slope, intercept = np.polyfit(bench_returns - daily_rate, excess, 1)
    assert with_rate.benchmark.alpha == pytest.approx(intercept * 252, rel=1e-9)
    assert with_rate.benchmark.beta == pytest.approx(slope, rel=1e-9)
    # Nothing else depends on the rate.
    for group, key in (("returns", "cagr"), ("risk", "volatility"), ("risk", "max_drawdown")):
        assert with_rate.group(group).value(key) == plain.group(group).value(key)
    assert with_rate.risk.sharpe_ratio < plain.risk.sharpe_ratio


@pytest.mark.parametrize("rate", [4.0, -0.9, 1.5])
def test_a_rate_that_is_not_a_fraction_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="not an annual fraction"):
        compute_metrics(_curve(1), [], risk_free_rate=rate)


def test_flat_equity_with_a_risk_free_rate_has_no_sharpe_but_a_defined_sortino() -> None:
    # The excess returns are all -rate/252: their spread is rounding noise, not risk.
    metrics = compute_metrics(np.full(30, 1e5), [], risk_free_rate=RATE)
    assert metrics.risk.sharpe_ratio is None
    assert metrics.risk.volatility == 0
    # Every day falls short of the risk-free rate by the same amount: -sqrt(252).
    assert metrics.risk.sortino_ratio == pytest.approx(-math.sqrt(252))


def test_a_single_day_has_returns_but_no_dispersion_figures() -> None:
    metrics = compute_metrics(np.array([1e5, 1.01e5]), [])
    assert metrics.returns.total_return == pytest.approx(0.01)
    assert metrics.returns.cagr == pytest.approx(1.01**252 - 1)
    assert metrics.risk.sharpe_ratio is None
    assert metrics.risk.sortino_ratio is None
    assert metrics.risk.volatility is None


def test_a_total_loss_has_no_cagr() -> None:
    metrics = compute_metrics(np.array([1e5, 5e4, 0.0]), [])
    assert metrics.returns.total_return == -1.0
    assert metrics.returns.cagr is None
    assert metrics.risk.calmar_ratio is None
    assert metrics.risk.max_drawdown == -1.0


def test_losses_only() -> None:
    equity = np.array([1e5, 9.9e4, 9.8e4, 9.75e4])
    metrics = compute_metrics(
        equity, [trade_with_pnl(-1000.0), trade_with_pnl(-1000.0), trade_with_pnl(-500.0)]
    )
    trading = metrics.trading
    assert trading.win_rate == 0.0
    assert trading.profit_factor == 0.0
    assert trading.avg_win is None
    assert trading.avg_loss == pytest.approx(-2500 / 3)
    assert metrics.risk.max_drawdown == pytest.approx(-0.025)
    # No day above zero: the downside deviation is the root mean square of all returns.
    returns = np.diff(equity) / equity[:-1]
    assert metrics.risk.sortino_ratio == pytest.approx(
        returns.mean() / math.sqrt(np.mean(returns**2)) * math.sqrt(252)
    )


def test_all_winners_show_an_infinite_profit_factor() -> None:
    metrics = compute_metrics(
        np.array([1e5, 1.01e5]), [trade_with_pnl(600.0), trade_with_pnl(400.0)]
    )
    profit_factor = next(m for m in METRICS if m.key == "profit_factor")
    assert metrics.trading.profit_factor is None
    assert format_metric(metrics, profit_factor) == "∞ (no losses)"
    assert metric_tone(metrics, profit_factor) is Tone.GOOD
    # With no trades at all it is simply undefined.
    empty = compute_metrics(np.array([1e5, 1e5]), [])
    assert format_metric(empty, profit_factor) == "—"


def test_break_even_trades_count_as_losses() -> None:
    trading = compute_metrics(
        np.array([1e5, 1e5]), [trade_with_pnl(10.0), trade_with_pnl(0.0)]
    ).trading
    assert trading.win_rate == 0.5
    assert trading.losing_trades == 1
    assert trading.avg_loss == 0.0
    assert trading.profit_factor is None  # nothing was lost


def test_skew_and_kurtosis_match_scipy_population_moments() -> None:
    returns = np.diff(np.log(_curve(9, days=250)))
    assert skewness(returns) == pytest.approx(stats.skew(returns, bias=True), rel=1e-10)
    assert kurtosis(returns) == pytest.approx(
        stats.kurtosis(returns, fisher=False, bias=True), rel=1e-10
    )
    assert skewness(np.zeros(10)) is None
    assert kurtosis(np.array([0.01, 0.02])) is None


def _psr(returns: np.ndarray, rate: float = 0.0) -> float:
    """Bailey & López de Prado (2012), eq. for PSR(SR*=0), written out with scipy."""
    excess = returns - rate / 252
    sharpe = excess.mean() / excess.std(ddof=1)
    gamma3 = stats.skew(excess)
    gamma4 = stats.kurtosis(excess, fisher=False)
    spread = math.sqrt((1 - gamma3 * sharpe + (gamma4 - 1) / 4 * sharpe**2) / (len(excess) - 1))
    return float(stats.norm.cdf(sharpe / spread))


@pytest.mark.parametrize(
    ("seed", "drift", "rate"), [(1, 6e-4, 0.0), (2, -2e-4, 0.0), (5, 5e-4, 0.03)]
)
def test_probabilistic_sharpe_ratio_against_the_paper(seed: int, drift: float, rate: float) -> None:
    rng = np.random.default_rng(seed)
    # Skewed, fat-tailed returns so the higher-moment terms matter.
    returns = drift + 0.01 * (rng.standard_t(4, 300) + 0.3 * rng.exponential(1, 300) - 0.3)
    assert probabilistic_sharpe_ratio(returns, rate) == pytest.approx(_psr(returns, rate), rel=1e-9)


def test_probabilistic_sharpe_ratio_grows_with_the_length_of_the_record() -> None:
    rng = np.random.default_rng(4)
    sample = rng.normal(0.0, 0.01, 100)
    sample += 5e-4 - sample.mean()
    # The same Sharpe ratio, skew and kurtosis, observed for 100 days and for 2,000.
    short = probabilistic_sharpe_ratio(sample)
    long = probabilistic_sharpe_ratio(np.tile(sample, 20))
    assert short is not None and long is not None
    assert 0.5 < short < long < 1.0
    assert probabilistic_sharpe_ratio(np.zeros(50)) is None
    assert probabilistic_sharpe_ratio(sample[:3]) is None
