"""The screen's pieces that must match the engine's arithmetic exactly, and its summary."""

from __future__ import annotations

import numpy as np
import pytest

from ntrader.core.indicators import RollingMean
from ntrader.services.screen import _rolling_mean, agreement


@pytest.mark.parametrize("period", [1, 7, 200])
def test_the_rolling_mean_is_rolling_means_bit_for_bit_across_its_resums(period: int) -> None:
    rng = np.random.default_rng(period)
    # Past two re-sums (every 10,000 updates), prices with cents as real bars have.
    closes = np.round(100 + np.cumsum(rng.normal(0.0, 0.1, 21_000)), 2)
    indicator = RollingMean(period)
    expected = []
    for close in closes.tolist():
        indicator.update(close)
        expected.append(indicator.value if indicator.initialized else np.nan)
    assert np.array_equal(_rolling_mean(closes, period), np.array(expected), equal_nan=True)


def test_a_period_longer_than_the_bars_never_initialises() -> None:
    assert np.isnan(_rolling_mean(np.array([1.0, 2.0]), 3)).all()


def test_agreement_reports_rank_correlation_and_the_largest_gap() -> None:
    same_order = agreement([(1.0, 1.5), (2.0, 2.1), (3.0, 2.2)])
    assert same_order["points"] == 3
    assert same_order["spearman"] == pytest.approx(1.0)
    assert same_order["max_abs_difference"] == pytest.approx(0.8)
    reversed_order = agreement([(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)])
    assert reversed_order["spearman"] == pytest.approx(-1.0)
    assert agreement([(1.0, 1.0), (2.0, 2.0)])["spearman"] is None  # too few to rank
    assert agreement([]) == {"points": 0, "spearman": None, "max_abs_difference": None}
