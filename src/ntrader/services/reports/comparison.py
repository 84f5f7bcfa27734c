"""Side-by-side comparison of backtests, and whether their differences are more than luck.

Metrics are lined up with the best value of each row flagged. For every pair of runs the
daily returns on their common days are compared with a paired t-test, and with the Wilcoxon
signed-rank test as a check that does not assume normal returns (daily returns have fat
tails). Each run also gets its probabilistic Sharpe ratio. Formulas: docs/metrics.md.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ntrader.core.errors import UserInputError
from ntrader.models.metrics import Metrics
from ntrader.services.metrics import probabilistic_sharpe_ratio
from ntrader.services.reports.catalog import (
    METRICS,
    Better,
    Kind,
    Metric,
    format_metric,
    format_value,
    value_of,
)
from ntrader.services.reports.data import RunData

SIGNIFICANCE_LEVEL = 0.05
T_TEST = "paired t-test (scipy.stats.ttest_rel)"
WILCOXON = "Wilcoxon signed-rank test (scipy.stats.wilcoxon)"
MIN_COMMON_DAYS = 3
# Not a stored metric, but ranked like one: the likelier a positive Sharpe, the better.
PSR_METRIC = Metric(
    "risk", "probabilistic_sharpe", "Probabilistic Sharpe", Kind.RATE, Better.HIGHER
)


@dataclass(frozen=True, slots=True)
class MetricRow:
    metric: Metric
    values: tuple[Any, ...]
    texts: tuple[str, ...]
    best: frozenset[int]  # positions of the best value (ties share it); empty: no ranking


@dataclass(frozen=True, slots=True)
class PairTest:
    """Daily returns of run ``first`` against run ``second`` on the days both traded."""

    first: int
    second: int
    common_days: int
    mean_difference: float | None  # mean daily return of first minus second
    t_statistic: float | None
    t_pvalue: float | None
    wilcoxon_statistic: float | None
    wilcoxon_pvalue: float | None
    note: str | None = None

    @property
    def significant(self) -> bool | None:
        """Judged by the t-test at the 5 % level; None when it could not be run."""
        return None if self.t_pvalue is None else self.t_pvalue < SIGNIFICANCE_LEVEL


@dataclass(frozen=True, slots=True)
class Comparison:
    runs: tuple[RunData, ...]
    rows: tuple[MetricRow, ...]
    probabilistic_sharpe: tuple[float | None, ...]
    equity: pd.DataFrame  # one column per run (its short id), outer-joined on dates
    tests: tuple[PairTest, ...]
    risk_free_rate: float

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(run.short_id for run in self.runs)


def _ranking_value(metrics: Metrics, metric: Metric) -> float | None:
    if metric.key == "profit_factor" and metrics.trading.no_losses:
        return math.inf
    value = value_of(metrics, metric)
    return None if value is None else float(value)


def best_of(metric: Metric, values: Sequence[float | None]) -> frozenset[int]:
    """Positions holding the best value; none when the metric has no direction or fewer
    than two runs have a value (a lone value is not "best")."""
    defined = [(i, v) for i, v in enumerate(values) if v is not None]
    if metric.better is None or len(defined) < 2:
        return frozenset()
    pick = max if metric.better is Better.HIGHER else min
    target = pick(v for _, v in defined)
    if all(v == target for _, v in defined):
        return frozenset()
    return frozenset(i for i, v in defined if v == target)


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def paired_test(first: pd.Series, second: pd.Series, positions: tuple[int, int]) -> PairTest:
    """Paired t-test and Wilcoxon signed-rank test on the days both series have."""
    from scipy import stats

    both = pd.concat([first, second], axis=1, join="inner").dropna()
    a, b = both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy()
    difference = a - b
    blank = PairTest(*positions, len(both), None, None, None, None, None)
    if len(both) < MIN_COMMON_DAYS:
        return _with_note(blank, f"fewer than {MIN_COMMON_DAYS} common trading days")
    mean = float(difference.mean())
    if np.all(difference == 0):
        return _with_note(blank, "identical daily returns", mean)
    t_statistic = t_pvalue = None
    if difference.std(ddof=1) > 0:
        t = stats.ttest_rel(a, b)
        t_statistic, t_pvalue = _finite_or_none(t.statistic), _finite_or_none(t.pvalue)
    with warnings.catch_warnings():
        # Ties and zero differences only cost the normal approximation some accuracy.
        warnings.simplefilter("ignore", UserWarning)
        w = stats.wilcoxon(a, b)
    return PairTest(
        *positions,
        common_days=len(both),
        mean_difference=mean,
        t_statistic=t_statistic,
        t_pvalue=t_pvalue,
        wilcoxon_statistic=_finite_or_none(w.statistic),
        wilcoxon_pvalue=_finite_or_none(w.pvalue),
    )


def _with_note(test: PairTest, note: str, mean: float | None = None) -> PairTest:
    return PairTest(
        test.first, test.second, test.common_days, mean, None, None, None, None, note=note
    )


def compare(runs: Sequence[RunData]) -> Comparison:
    """Compare runs loaded with the same risk-free rate (``load_run_data``)."""
    if len(runs) < 2:
        raise UserInputError(
            "A comparison needs at least two backtests.",
            hint="Give two or more ids, e.g. --backtests 1a2b3c4d,5e6f7a8b.",
        )
    ids = [run.run.id for run in runs]
    if len(set(ids)) != len(ids):
        raise UserInputError(
            "The same backtest is named more than once.",
            hint="Give each run once; `latest` and its id are the same run.",
        )
    rate = runs[0].risk_free_rate
    if any(run.risk_free_rate != rate for run in runs):
        raise ValueError("runs were loaded with different risk-free rates")
    returns = [run.curve.returns() for run in runs]
    tests = tuple(
        paired_test(returns[i], returns[j], (i, j))
        for i, j in itertools.combinations(range(len(runs)), 2)
    )
    rows = [
        MetricRow(
            metric=metric,
            values=tuple(value_of(run.metrics, metric) for run in runs),
            texts=tuple(format_metric(run.metrics, metric) for run in runs),
            best=best_of(metric, [_ranking_value(run.metrics, metric) for run in runs]),
        )
        for metric in METRICS
    ]
    psr = tuple(
        probabilistic_sharpe_ratio(r.to_numpy(), rate, periods_per_year=run.periods_per_year)
        for r, run in zip(returns, runs, strict=True)
    )
    rows.append(
        MetricRow(
            metric=PSR_METRIC,
            values=psr,
            texts=tuple(format_value(PSR_METRIC.kind, value) for value in psr),
            best=best_of(PSR_METRIC, psr),
        )
    )
    equity = pd.concat(
        [run.curve.series().rename(run.short_id) for run in runs], axis=1, join="outer"
    )
    return Comparison(
        runs=tuple(runs),
        rows=tuple(rows),
        probabilistic_sharpe=psr,
        equity=equity,
        tests=tests,
        risk_free_rate=rate,
    )
