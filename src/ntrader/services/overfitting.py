"""How much of a sweep's best result is luck: the deflated Sharpe ratio and the probability
of backtest overfitting (formulas and the papers' worked example in docs/research.md).

Pure functions over per-period returns; every Sharpe ratio here is per period (daily for
daily equity curves), never annualised, as the papers define them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np
from scipy.stats import norm, rankdata

from ntrader.services.metrics import kurtosis, skewness

EULER_GAMMA = 0.5772156649015329

# CSCV's partitions of the returns matrix, and the fewest trials it is worth computing on.
CSCV_PARTITIONS = 16
CSCV_MIN_TRIALS = 4
_ZERO_SPREAD = 1e-12


def expected_maximum_sharpe(trials: int, sharpe_variance: float) -> float:
    """E[max SR] of ``trials`` independent trials with true Sharpe 0 and variance
    ``sharpe_variance`` (Bailey & López de Prado 2014, eq. 6; its approximation of the
    expected maximum of standard normals via the Gumbel limit)."""
    if trials < 2:
        return 0.0
    spread = math.sqrt(max(sharpe_variance, 0.0))
    first = norm.ppf(1.0 - 1.0 / trials)
    second = norm.ppf(1.0 - 1.0 / (trials * math.e))
    return spread * ((1.0 - EULER_GAMMA) * first + EULER_GAMMA * second)


def deflated_sharpe_ratio(
    sharpe: float,
    *,
    trials: int,
    sharpe_variance: float,
    observations: int,
    skew: float,
    kurt: float,
) -> float | None:
    """The probability that the true Sharpe ratio exceeds what the best of ``trials``
    lucky trials would show: the probabilistic Sharpe ratio against E[max SR].

    ``kurt`` is Pearson's (3 for a normal distribution). None when the standard error is
    not defined (too few observations, or a skew/kurtosis that makes its variance <= 0).
    """
    if observations < 2:
        return None
    variance = 1.0 - skew * sharpe + (kurt - 1.0) / 4.0 * sharpe**2
    if variance <= 0:
        return None
    benchmark = expected_maximum_sharpe(trials, sharpe_variance)
    z = (sharpe - benchmark) * math.sqrt(observations - 1) / math.sqrt(variance)
    return float(norm.cdf(z))


def per_period_sharpe(returns: np.ndarray) -> float | None:
    if returns.size < 2:
        return None
    spread = float(returns.std(ddof=1))
    return None if spread <= _ZERO_SPREAD else float(returns.mean() / spread)


def probability_of_overfitting(
    returns: np.ndarray, partitions: int = CSCV_PARTITIONS
) -> tuple[float, np.ndarray] | None:
    """PBO by combinatorially symmetric cross-validation (Bailey, Borwein, López de Prado
    & Zhu 2015), with the Sharpe ratio as the performance measure.

    ``returns`` is T periods x N trials. Its rows are cut into ``partitions`` (even) blocks
    of equal size (the last T mod S rows are left out); every choice of half the blocks is
    a training set and the rest its test set. For each, the trial best in training gets its
    relative rank w in testing and the logit log(w / (1 - w)); PBO is the share of logits
    <= 0: how often the in-sample winner is at or below the median out of sample.
    Returns (PBO, the logits), or None when there are too few trials or periods.
    """
    periods, trials = returns.shape
    if partitions < 2 or partitions % 2 or trials < CSCV_MIN_TRIALS:
        return None
    size = periods // partitions
    if size < 2:
        return None
    blocks = returns[: size * partitions].reshape(partitions, size, trials)
    sums, squares = blocks.sum(axis=1), (blocks**2).sum(axis=1)  # partitions x trials
    chosen = np.array(
        [
            [block in combo for block in range(partitions)]
            for combo in combinations(range(partitions), partitions // 2)
        ],
        dtype=float,
    )
    train = _sharpe_from_sums(chosen @ sums, chosen @ squares, size * partitions // 2)
    test = _sharpe_from_sums((1 - chosen) @ sums, (1 - chosen) @ squares, size * partitions // 2)
    best = np.argmax(train, axis=1)
    ranks = rankdata(test, axis=1)  # 1 = worst; ties share their average rank
    relative = ranks[np.arange(len(best)), best] / (trials + 1)
    logits = np.log(relative / (1.0 - relative))
    return float(np.mean(logits <= 0)), logits


def _sharpe_from_sums(sums: np.ndarray, squares: np.ndarray, count: int) -> np.ndarray:
    """Per-period Sharpe ratios (sample standard deviation) from sums and sums of squares;
    a trial without spread scores 0 (a flat curve shows no skill)."""
    mean = sums / count
    variance = np.maximum(squares - count * mean**2, 0.0) / (count - 1)
    spread = np.sqrt(variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread > _ZERO_SPREAD, mean / spread, 0.0)


@dataclass(frozen=True, slots=True)
class OverfittingStatistics:
    """A sweep's figures: the selected run's deflated Sharpe ratio and the PBO."""

    trials: int
    observations: int
    best_sharpe: float | None  # per period
    sharpe_variance: float | None  # across the trials, per period
    expected_maximum_sharpe: float | None
    skewness: float | None
    kurtosis: float | None
    deflated_sharpe_ratio: float | None
    probability_of_overfitting: float | None
    cscv_partitions: int | None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def sweep_statistics(
    returns: np.ndarray, best: int, partitions: int = CSCV_PARTITIONS
) -> OverfittingStatistics:
    """The statistics of a sweep whose trials' per-period returns are the columns of
    ``returns`` (T x N, aligned on the same periods), ``best`` the selected trial."""
    periods, trials = returns.shape
    sharpes = [per_period_sharpe(returns[:, column]) for column in range(trials)]
    known = np.array([s for s in sharpes if s is not None])
    chosen = returns[:, best]
    best_sharpe = sharpes[best]
    variance = float(known.var(ddof=1)) if known.size > 1 else None
    skew, kurt = skewness(chosen), kurtosis(chosen)
    deflated = None
    if best_sharpe is not None and variance is not None and skew is not None and kurt is not None:
        deflated = deflated_sharpe_ratio(
            best_sharpe,
            trials=trials,
            sharpe_variance=variance,
            observations=periods,
            skew=skew,
            kurt=kurt,
        )
    pbo = probability_of_overfitting(returns, partitions)
    return OverfittingStatistics(
        trials=trials,
        observations=periods,
        best_sharpe=best_sharpe,
        sharpe_variance=variance,
        expected_maximum_sharpe=(
            expected_maximum_sharpe(trials, variance) if variance is not None else None
        ),
        skewness=skew,
        kurtosis=kurt,
        deflated_sharpe_ratio=deflated,
        probability_of_overfitting=pbo[0] if pbo is not None else None,
        cscv_partitions=partitions if pbo is not None else None,
    )
