"""Metric formulas against hand-worked values and an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ntrader.services.metrics import compute_metrics, max_drawdown
from tests.factories import trade_with_pnl


def test_hand_worked_equity_curve() -> None:
    equity = np.array([100.0, 110.0, 99.0, 108.9])
    metrics = compute_metrics(equity, [])
    # 100 -> 108.9 over three daily returns: +10 %, -10 %, +10 %.
    assert metrics.returns.total_return == pytest.approx(0.089)
    assert metrics.returns.cagr == pytest.approx(1.089 ** (252 / 3) - 1)
    assert metrics.returns.annualized_return == pytest.approx(0.1 / 3 * 252)
    # Peak 110, trough 99: -10 %.
    assert metrics.risk.max_drawdown == pytest.approx(-0.1)
    returns = np.array([0.1, -0.1, 0.1])
    mean = returns.mean()
    sample_std = math.sqrt(((returns - mean) ** 2).sum() / 2)
    assert metrics.risk.volatility == pytest.approx(sample_std * math.sqrt(252))
    assert metrics.risk.sharpe_ratio == pytest.approx(mean / sample_std * math.sqrt(252))
    downside = math.sqrt((0.1**2) / 3)
    assert metrics.risk.sortino_ratio == pytest.approx(mean / downside * math.sqrt(252))
    assert metrics.risk.calmar_ratio == pytest.approx(metrics.returns.cagr / 0.1)


def test_sharpe_against_a_second_implementation_with_risk_free_rate() -> None:
    rng = np.random.default_rng(7)
    equity = 1e5 * np.cumprod(np.concatenate([[1.0], 1 + rng.normal(4e-4, 0.01, 500)]))
    rate = 0.03
    metrics = compute_metrics(equity, [], risk_free_rate=rate)
    # Written independently, the way empyrical does it: excess returns, sample std.
    returns = np.diff(equity) / equity[:-1]
    excess = returns - rate / 252
    expected = np.mean(excess) / np.std(excess, ddof=1) * np.sqrt(252)
    assert metrics.risk.sharpe_ratio == pytest.approx(expected, rel=1e-12)
    running_peak = np.array([equity[: i + 1].max() for i in range(equity.size)])
    assert metrics.risk.max_drawdown == pytest.approx(
        ((equity - running_peak) / running_peak).min()
    )


def test_flat_equity_has_no_ratios_and_no_drawdown() -> None:
    metrics = compute_metrics(np.full(20, 1e5), [])
    assert metrics.returns.total_return == 0
    assert metrics.risk.volatility == 0
    assert metrics.risk.sharpe_ratio is None
    assert metrics.risk.sortino_ratio is None
    assert metrics.risk.calmar_ratio is None
    assert metrics.risk.max_drawdown == 0


def test_trading_metrics_mixed_trades() -> None:
    trades = [
        trade_with_pnl(100.0),
        trade_with_pnl(-50.0),
        trade_with_pnl(300.0),
        trade_with_pnl(-25.0),
        trade_with_pnl(None, is_open=True),
    ]
    trading = compute_metrics(np.array([1e5, 1e5 + 325]), trades).trading
    assert trading.total_trades == 4  # the open position is not a closed trade
    assert trading.winning_trades == 2
    assert trading.losing_trades == 2
    assert trading.win_rate == pytest.approx(0.5)
    assert trading.avg_win == pytest.approx(200.0)
    assert trading.avg_loss == pytest.approx(-37.5)
    assert trading.profit_factor == pytest.approx(400 / 75)
    assert trading.expectancy == pytest.approx(325 / 4)


def test_all_winners_have_no_profit_factor_and_losses_only_have_zero() -> None:
    winners = compute_metrics(
        np.array([1.0, 2.0]), [trade_with_pnl(10.0), trade_with_pnl(5.0)]
    ).trading
    assert winners.profit_factor is None
    assert winners.avg_loss is None
    assert winners.win_rate == 1.0
    losers = compute_metrics(
        np.array([2.0, 1.0]), [trade_with_pnl(-10.0), trade_with_pnl(-5.0)]
    ).trading
    assert losers.profit_factor == 0.0
    assert losers.win_rate == 0.0
    assert losers.avg_win is None
    assert losers.expectancy == pytest.approx(-7.5)


def test_no_trades() -> None:
    trading = compute_metrics(np.array([1e5, 1e5]), []).trading
    assert trading.model_dump() == {
        "closed_trades": 0,
        "open_trades": 0,
        "win_rate": None,
        "avg_win": None,
        "avg_loss": None,
        "profit_factor": None,
        "expectancy": None,
        "total_trades": 0,
        "winning_trades": 0,
        "losing_trades": 0,
    }


def test_short_run_cagr_annualizes_by_trading_days() -> None:
    equity = np.linspace(100.0, 105.0, 64)  # 63 daily steps, a quarter of a year
    cagr = compute_metrics(equity, []).returns.cagr
    assert cagr == pytest.approx(1.05**4 - 1)


def test_benchmark_alpha_beta_against_least_squares() -> None:
    rng = np.random.default_rng(11)
    bench_returns = rng.normal(3e-4, 0.012, 300)
    strategy_returns = 0.0002 + 0.6 * bench_returns + rng.normal(0, 0.004, 300)
    bench = 400 * np.cumprod(np.concatenate([[1.0], 1 + bench_returns]))
    equity = 1e5 * np.cumprod(np.concatenate([[1.0], 1 + strategy_returns]))
    result = compute_metrics(equity, [], benchmark=bench).benchmark
    slope, intercept = np.polyfit(bench_returns, strategy_returns, 1)
    assert result.beta == pytest.approx(slope, rel=1e-9)
    assert result.alpha == pytest.approx(intercept * 252, rel=1e-9)
    assert result.benchmark_return == pytest.approx(bench[-1] / bench[0] - 1)


def test_missing_benchmark_gives_nulls() -> None:
    assert compute_metrics(np.array([1.0, 1.1, 1.2]), []).benchmark.model_dump() == {
        "benchmark_return": None,
        "alpha": None,
        "beta": None,
    }


def test_max_drawdown_of_rising_curve_is_zero() -> None:
    assert max_drawdown(np.array([1.0, 2.0, 3.0])) == 0.0
