"""Comparing runs: which value is best, and the significance tests against their formulas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ntrader.services.reports.catalog import METRICS
from ntrader.services.reports.comparison import PSR_METRIC, best_of, paired_test

BY_KEY = {m.key: m for m in METRICS}


@pytest.mark.parametrize(
    ("key", "values", "best"),
    [
        ("total_return", [0.1, 0.3, -0.2], {1}),
        ("max_drawdown", [-0.3, -0.1, -0.2], {1}),  # the shallowest
        ("volatility", [0.2, 0.1, 0.15], {1}),  # the lowest
        ("sharpe_ratio", [1.2, 0.8, None, 1.2], {0, 3}),  # ties share it
        ("profit_factor", [1.5, math.inf], {1}),  # no losses beats any finite value
        ("total_trades", [10, 40], set()),  # counts have no direction
        ("beta", [0.5, 1.0], set()),
        ("win_rate", [0.5, 0.5], set()),  # all equal: nothing stands out
        ("calmar_ratio", [0.7, None], set()),  # one value is not a comparison
    ],
)
def test_best_of(key: str, values: list[float | None], best: set[int]) -> None:
    assert best_of(BY_KEY[key], values) == best


def test_probabilistic_sharpe_ranks_higher_as_better() -> None:
    assert best_of(PSR_METRIC, [0.9, 0.6, None]) == {0}


def _returns(values: np.ndarray, start: str = "2024-01-01") -> pd.Series:
    return pd.Series(values, index=pd.bdate_range(start, periods=len(values)))


def test_paired_test_against_the_textbook_formulas() -> None:
    rng = np.random.default_rng(8)
    market = rng.normal(3e-4, 0.01, 300)
    a = _returns(market + rng.normal(4e-4, 0.003, 300))
    # b starts 20 days later: only the common days are paired.
    b = _returns((market + rng.normal(0.0, 0.003, 300))[20:], start=str(a.index[20].date()))
    test = paired_test(a, b, (0, 1))
    common = a.index.intersection(b.index)
    difference = a[common].to_numpy() - b[common].to_numpy()
    n = difference.size
    assert test.common_days == n == 280
    assert test.mean_difference == pytest.approx(difference.mean())
    # Paired t: mean difference over its standard error, n - 1 degrees of freedom.
    t = difference.mean() / (difference.std(ddof=1) / math.sqrt(n))
    assert test.t_statistic == pytest.approx(t, rel=1e-10)
    assert test.t_pvalue == pytest.approx(2 * stats.t.sf(abs(t), n - 1), rel=1e-8)
    # Wilcoxon: the smaller of the rank sums of positive and negative differences.
    ranks = stats.rankdata(np.abs(difference))
    w = min(ranks[difference > 0].sum(), ranks[difference < 0].sum())
    assert test.wilcoxon_statistic == pytest.approx(w)
    assert 0 < test.wilcoxon_pvalue < 1
    assert test.significant is (test.t_pvalue < 0.05)


def test_a_real_edge_is_significant_and_noise_is_not() -> None:
    rng = np.random.default_rng(1)
    market = rng.normal(0, 0.01, 1000)
    strong = paired_test(
        _returns(market + 0.002 + rng.normal(0, 0.002, 1000)), _returns(market), (0, 1)
    )
    assert strong.significant is True
    assert strong.wilcoxon_pvalue is not None and strong.wilcoxon_pvalue < 0.05
    noise = paired_test(_returns(market + rng.normal(0, 0.002, 1000)), _returns(market), (0, 1))
    assert noise.significant is False


def test_pairs_that_cannot_be_tested_say_why() -> None:
    same = _returns(np.array([0.01, -0.02, 0.005, 0.0]))
    identical = paired_test(same, same.copy(), (0, 1))
    assert identical.note == "identical daily returns"
    assert identical.t_pvalue is None and identical.significant is None
    apart = paired_test(same, _returns(np.array([0.01, 0.02]), start="2030-01-01"), (0, 1))
    assert apart.common_days == 0
    assert apart.note == "fewer than 3 common trading days"
