"""The O(1) indicators strategies use, against pandas on the same series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ntrader.core.indicators import RollingExtremes, RollingStats


def _feed_stats(values: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    stats = RollingStats(period)
    means, stds = [], []
    for value in values:
        stats.update(float(value))
        means.append(stats.mean if stats.initialized else np.nan)
        stds.append(stats.std if stats.initialized else np.nan)
    return np.array(means), np.array(stds)


@pytest.mark.parametrize("period", [2, 20, 500])
def test_rolling_stats_match_pandas(period: int) -> None:
    values = np.random.default_rng(5).normal(100, 5, 30_000)  # several recomputations
    means, stds = _feed_stats(values, period)
    window = pd.Series(values).rolling(period)
    assert np.isnan(means[period - 2]) and not np.isnan(means[period - 1])
    assert np.allclose(means, window.mean().to_numpy(), rtol=0, atol=1e-9, equal_nan=True)
    # Within a billionth of a price unit, also for two-value windows that are nearly flat.
    assert np.allclose(stds, window.std().to_numpy(), rtol=0, atol=1e-9, equal_nan=True)


def test_rolling_stats_stay_accurate_for_large_prices_with_a_small_spread() -> None:
    # Prices near 50,000 moving by cents: a sum-of-squares formula loses every digit here.
    values = 50_000 + np.round(np.random.default_rng(9).normal(0, 0.05, 40_000), 2)
    _, stds = _feed_stats(values, 30)
    expected = pd.Series(values - 50_000).rolling(30).std().to_numpy()  # shifted: exact
    assert np.allclose(stds[29:], expected[29:], rtol=1e-6, atol=0)


def test_rolling_stats_of_a_constant_window_have_zero_spread() -> None:
    stats = RollingStats(5)
    for value in [3.0, 1.0, 2.0] + [7.1] * 5:
        stats.update(value)
    assert stats.mean == pytest.approx(7.1)
    assert stats.std == pytest.approx(0.0, abs=1e-7)


def test_rolling_stats_need_two_values() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        RollingStats(1)


@pytest.mark.parametrize("period", [1, 3, 50])
def test_rolling_extremes_match_pandas(period: int) -> None:
    rng = np.random.default_rng(1)
    lows = np.cumsum(rng.normal(0, 1, 5_000))
    highs = lows + rng.uniform(0, 2, 5_000)
    channel = RollingExtremes(period)
    got_high, got_low = [], []
    for high, low in zip(highs, lows, strict=True):
        channel.update(float(high), float(low))
        got_high.append(channel.highest if channel.initialized else np.nan)
        got_low.append(channel.lowest if channel.initialized else np.nan)
    expected_high = pd.Series(highs).rolling(period).max().to_numpy()
    expected_low = pd.Series(lows).rolling(period).min().to_numpy()
    assert np.array_equal(np.array(got_high), expected_high, equal_nan=True)
    assert np.array_equal(np.array(got_low), expected_low, equal_nan=True)
