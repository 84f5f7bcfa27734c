"""The deflated Sharpe ratio against the paper's worked example and an independent PSR, and
CSCV's probability of backtest overfitting against a plain loop over the combinations."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.stats import norm

from ntrader.services.metrics import probabilistic_sharpe_ratio
from ntrader.services.overfitting import (
    deflated_sharpe_ratio,
    expected_maximum_sharpe,
    probability_of_overfitting,
    sweep_statistics,
)


def test_the_papers_worked_example() -> None:
    # Bailey & López de Prado (2014), section "A numerical example": an annualised SR of 2.5
    # over 5 years of daily returns (T = 1250), the best of N = 100 trials whose annualised
    # Sharpe ratios have a variance of 0.5, skewness -3, kurtosis 10: E[max SR] is 0.1132
    # per day (1.79 annualised) and the DSR 0.9004.
    days = 250
    benchmark = expected_maximum_sharpe(100, 0.5 / days)
    assert benchmark == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe_ratio(
        2.5 / math.sqrt(days),
        trials=100,
        sharpe_variance=0.5 / days,
        observations=1250,
        skew=-3.0,
        kurt=10.0,
    )
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_expected_maximum_is_close_to_the_exact_expectation() -> None:
    # E[max of N standard normals] = integral of x * N * pdf(x) * cdf(x)^(N-1).
    for trials in (10, 100, 1000):
        exact, _ = integrate.quad(
            lambda x, n=trials: x * n * norm.pdf(x) * norm.cdf(x) ** (n - 1), -10, 10
        )
        assert expected_maximum_sharpe(trials, 1.0) == pytest.approx(exact, rel=0.03)
    assert expected_maximum_sharpe(1, 4.0) == 0.0


def test_the_sweeps_dsr_is_the_psr_against_the_expected_maximum() -> None:
    rng = np.random.default_rng(7)
    returns = rng.normal(0.0005, 0.01, size=(500, 12))
    returns[:, 3] += 0.002  # one trial with an edge
    stats = sweep_statistics(returns, best=3)
    assert stats.trials == 12
    assert stats.observations == 500
    # Independently: metrics' probabilistic Sharpe ratio against E[max SR].
    sharpes = returns.mean(axis=0) / returns.std(axis=0, ddof=1)
    assert stats.sharpe_variance == pytest.approx(sharpes.var(ddof=1))
    benchmark = expected_maximum_sharpe(12, float(sharpes.var(ddof=1)))
    expected = probabilistic_sharpe_ratio(returns[:, 3], benchmark_sharpe=benchmark)
    assert stats.deflated_sharpe_ratio == pytest.approx(expected, rel=1e-9)
    assert stats.cscv_partitions == 16


def _pbo_by_loop(returns: np.ndarray, partitions: int) -> float:
    """CSCV written out as the paper's steps, one combination at a time."""
    size = returns.shape[0] // partitions
    blocks = [returns[i * size : (i + 1) * size] for i in range(partitions)]
    logits = []
    for combo in combinations(range(partitions), partitions // 2):
        train = np.vstack([blocks[i] for i in combo])
        test = np.vstack([blocks[i] for i in range(partitions) if i not in combo])
        in_sample = train.mean(axis=0) / train.std(axis=0, ddof=1)
        out_sample = test.mean(axis=0) / test.std(axis=0, ddof=1)
        best = int(np.argmax(in_sample))
        below = np.sum(out_sample < out_sample[best])
        ties = np.sum(out_sample == out_sample[best])
        rank = below + (ties + 1) / 2
        omega = rank / (returns.shape[1] + 1)
        logits.append(math.log(omega / (1 - omega)))
    return float(np.mean(np.array(logits) <= 0))


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    trials=st.integers(4, 9),
    partitions=st.sampled_from([2, 4, 6, 8]),
)
def test_pbo_equals_the_step_by_step_computation(seed: int, trials: int, partitions: int) -> None:
    returns = np.random.default_rng(seed).normal(0, 0.01, size=(partitions * 7 + 3, trials))
    found = probability_of_overfitting(returns, partitions)
    assert found is not None
    assert found[0] == pytest.approx(_pbo_by_loop(returns, partitions))


def test_pbo_of_noise_is_near_a_half_and_of_real_skill_near_zero() -> None:
    # One matrix's PBO varies widely (its combinations share the data): average 40 of them.
    found = [
        probability_of_overfitting(
            np.random.default_rng(seed).normal(0, 0.01, size=(400, 20)), partitions=8
        )
        for seed in range(40)
    ]
    assert 0.4 < np.mean([pbo[0] for pbo in found if pbo is not None]) < 0.6
    noise = np.random.default_rng(11).normal(0, 0.01, size=(1600, 40))
    skilled = noise.copy()
    skilled[:, 0] += 0.004
    pbo_skill = probability_of_overfitting(skilled)
    assert pbo_skill is not None
    assert pbo_skill[0] == 0.0


def test_too_little_to_cross_validate_gives_none() -> None:
    rng = np.random.default_rng(1)
    assert probability_of_overfitting(rng.normal(size=(100, 3))) is None  # 3 trials
    assert probability_of_overfitting(rng.normal(size=(20, 10))) is None  # 1 row a block
    assert probability_of_overfitting(rng.normal(size=(100, 10)), partitions=5) is None
    flat = sweep_statistics(np.zeros((50, 5)), best=0)
    assert flat.deflated_sharpe_ratio is None
    assert flat.best_sharpe is None
