"""Our metrics against nautilus_trader's own statistics where both define the same thing
(docs/metrics.md, "nautilus_trader's statistics", lists where and why they differ)."""

from __future__ import annotations

import numpy as np
import pytest
from nautilus_trader.analysis import (
    CAGR,
    Alpha,
    BetaRatio,
    CalmarRatio,
    Expectancy,
    MaxDrawdown,
    ProfitFactor,
    ReturnsVolatility,
    SharpeRatio,
    SortinoRatio,
    WinRate,
)

from ntrader.models.backtest import TradeRecord
from ntrader.services.metrics import compute_metrics
from tests.factories import trade_with_pnl

NS_PER_DAY = 86_400_000_000_000
# Each daily return stamped at 21:00 UTC (a New York close), one per nautilus daily bin.
FIRST_CLOSE_NS = 1_577_998_800_000_000_000


def _keyed(returns: np.ndarray) -> dict[int, float]:
    return {FIRST_CLOSE_NS + i * NS_PER_DAY: float(r) for i, r in enumerate(returns)}


def _curve(seed: int, drift: float = 3e-4, vol: float = 0.012, days: int = 504) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1e5 * np.cumprod(np.concatenate([[1.0], 1 + rng.normal(drift, vol, days)]))


def _trades(pnls: list[float]) -> list[TradeRecord]:
    return [trade_with_pnl(pnl) for pnl in pnls]


@pytest.fixture(params=[1, 2, 3])
def curves(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    return _curve(request.param), _curve(request.param + 100, drift=2e-4, vol=0.01)


def test_return_based_metrics_agree_with_nautilus(curves: tuple[np.ndarray, np.ndarray]) -> None:
    equity, _ = curves
    ours = compute_metrics(equity, [])
    keyed = _keyed(np.diff(equity) / equity[:-1])
    assert ours.risk.sharpe_ratio == pytest.approx(
        SharpeRatio(252).calculate_from_returns(keyed), rel=1e-9
    )
    assert ours.risk.sortino_ratio == pytest.approx(
        SortinoRatio(252).calculate_from_returns(keyed), rel=1e-9
    )
    assert ours.risk.volatility == pytest.approx(
        ReturnsVolatility(252).calculate_from_returns(keyed), rel=1e-9
    )
    assert ours.returns.cagr == pytest.approx(CAGR(252).calculate_from_returns(keyed), rel=1e-9)
    assert ours.risk.max_drawdown == pytest.approx(
        MaxDrawdown().calculate_from_returns(keyed), rel=1e-9
    )
    assert ours.risk.calmar_ratio == pytest.approx(
        CalmarRatio(252).calculate_from_returns(keyed), rel=1e-9
    )


def test_beta_agrees_and_alpha_differs_only_by_annualization(
    curves: tuple[np.ndarray, np.ndarray],
) -> None:
    equity, bench = curves
    rate = 0.02
    ours = compute_metrics(equity, [], benchmark=bench, risk_free_rate=rate).benchmark
    returns = _keyed(np.diff(equity) / equity[:-1])
    bench_returns = _keyed(np.diff(bench) / bench[:-1])
    assert ours.beta == pytest.approx(
        BetaRatio().calculate_from_returns_with_benchmark(returns, bench_returns), rel=1e-9
    )
    # nautilus compounds the daily alpha over 252 days; we multiply it by 252.
    theirs = Alpha(252, rate / 252).calculate_from_returns_with_benchmark(returns, bench_returns)
    assert (1 + ours.alpha / 252) ** 252 - 1 == pytest.approx(theirs, rel=1e-9)


def test_trade_metrics_agree_with_nautilus_without_break_even_trades() -> None:
    pnls = [120.0, -40.0, 310.5, -75.25, 18.0, -3.5, 260.0]
    trading = compute_metrics(np.array([1e5, 1e5]), _trades(pnls)).trading
    assert trading.win_rate == pytest.approx(WinRate().calculate_from_realized_pnls(pnls))
    assert trading.expectancy == pytest.approx(
        Expectancy().calculate_from_realized_pnls(pnls), rel=1e-12
    )
    # nautilus' ProfitFactor takes returns; the formula is the same on trade PnLs.
    keyed = {i: pnl for i, pnl in enumerate(pnls)}
    assert trading.profit_factor == pytest.approx(
        ProfitFactor().calculate_from_returns(keyed), rel=1e-12
    )


def test_expectancy_differs_from_nautilus_on_break_even_trades() -> None:
    # Documented difference: nautilus leaves break-even trades out of its rates.
    pnls = [100.0, -50.0, 300.0, -25.0, 0.0]
    trading = compute_metrics(np.array([1e5, 1e5]), _trades(pnls)).trading
    assert trading.expectancy == pytest.approx(65.0)
    assert Expectancy().calculate_from_realized_pnls(pnls) == pytest.approx(81.25)
    assert trading.win_rate == pytest.approx(WinRate().calculate_from_realized_pnls(pnls))
