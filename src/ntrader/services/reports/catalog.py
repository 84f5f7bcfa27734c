"""The §6 metrics as reports show them: label, group, format, and which way is better.

One table drives the terminal summary, the text and HTML reports and run comparisons, so a
metric is labelled, formatted and judged the same way everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    PERCENT = "percent"  # signed: +12.34%
    RATE = "rate"  # unsigned: 12.34% (volatility, win rate)
    RATIO = "ratio"
    MONEY = "money"
    COUNT = "count"


class Better(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


class Tone(StrEnum):
    GOOD = "good"
    BAD = "bad"
    NEUTRAL = "neutral"


@dataclass(frozen=True, slots=True)
class Metric:
    group: str
    key: str
    label: str
    kind: Kind
    # Which value wins a comparison; None where "best" means nothing (trade counts, beta).
    better: Better | None = None
    # Colour thresholds (in the metric's own units): above ``good_above`` is good, below
    # ``bad_below`` is bad, anything between is neutral.
    good_above: float | None = None
    bad_below: float | None = None

    def tone(self, value: float | None) -> Tone:
        if value is None:
            return Tone.NEUTRAL
        if self.good_above is not None and value > self.good_above:
            return Tone.GOOD
        if self.bad_below is not None and value < self.bad_below:
            return Tone.BAD
        return Tone.NEUTRAL


GROUPS: tuple[tuple[str, str], ...] = (
    ("returns", "Returns"),
    ("risk", "Risk"),
    ("trading", "Trading"),
    ("benchmark", "Benchmark"),
)

_H, _L = Better.HIGHER, Better.LOWER

METRICS: tuple[Metric, ...] = (
    Metric("returns", "total_return", "Total return", Kind.PERCENT, _H, 0.0, 0.0),
    Metric("returns", "cagr", "CAGR", Kind.PERCENT, _H, 0.0, 0.0),
    Metric("returns", "annualized_return", "Annualized return", Kind.PERCENT, _H, 0.0, 0.0),
    # Drawdown is stored negative: the higher (shallower) one is better.
    Metric("risk", "max_drawdown", "Max drawdown", Kind.PERCENT, _H, -0.10, -0.20),
    Metric("risk", "sharpe_ratio", "Sharpe ratio", Kind.RATIO, _H, 1.0, 0.0),
    Metric("risk", "sortino_ratio", "Sortino ratio", Kind.RATIO, _H, 1.0, 0.0),
    Metric("risk", "calmar_ratio", "Calmar ratio", Kind.RATIO, _H, 1.0, 0.0),
    Metric("risk", "volatility", "Volatility (ann.)", Kind.RATE, _L),
    Metric("trading", "win_rate", "Win rate", Kind.RATE, _H),
    Metric("trading", "avg_win", "Average win", Kind.MONEY, _H, 0.0),
    Metric("trading", "avg_loss", "Average loss", Kind.MONEY, _H, None, 0.0),
    Metric("trading", "profit_factor", "Profit factor", Kind.RATIO, _H, 1.0, 1.0),
    Metric("trading", "expectancy", "Expectancy / trade", Kind.MONEY, _H, 0.0, 0.0),
    Metric("trading", "total_trades", "Trades", Kind.COUNT),
    Metric("trading", "closed_trades", "Closed trades", Kind.COUNT),
    Metric("trading", "open_trades", "Open at end", Kind.COUNT),
    Metric("trading", "winning_trades", "Winning trades", Kind.COUNT),
    Metric("trading", "losing_trades", "Losing trades", Kind.COUNT),
    Metric("benchmark", "benchmark_return", "Benchmark return", Kind.PERCENT, None, 0.0, 0.0),
    Metric("benchmark", "alpha", "Alpha (ann.)", Kind.PERCENT, _H, 0.0, 0.0),
    Metric("benchmark", "beta", "Beta", Kind.RATIO),
)


def metrics_of(group: str) -> Iterator[Metric]:
    return (m for m in METRICS if m.group == group)


def value_of(metrics: Mapping[str, Any], metric: Metric) -> Any:
    return metrics.get(metric.group, {}).get(metric.key)


def infinite_profit_factor(metrics: Mapping[str, Any]) -> bool:
    """Null profit factor because nothing was lost (not because nothing was traded)."""
    trading = metrics.get("trading", {})
    return (
        trading.get("profit_factor") is None
        and bool(trading.get("winning_trades"))
        and not trading.get("losing_trades")
    )


def format_value(kind: Kind, value: float | None) -> str:
    if value is None:
        return "—"
    match kind:
        case Kind.PERCENT:
            return f"{value * 100:+.2f}%" if value else "0.00%"
        case Kind.RATE:
            return f"{value * 100:.2f}%"
        case Kind.RATIO:
            return f"{value:.2f}"
        case Kind.MONEY:
            return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"
        case Kind.COUNT:
            return f"{int(value):,}"


def calendar_cell(fraction: float) -> str:
    """A monthly or yearly return in a calendar table: ``+1.2``; ``0.0`` rather than ``-0.0``
    for a tiny loss; empty where there is no such period."""
    if math.isnan(fraction):
        return ""
    rounded = round(fraction * 100, 1)
    return f"{rounded:+.1f}" if rounded else "0.0"


def format_metric(metrics: Mapping[str, Any], metric: Metric) -> str:
    if metric.key == "profit_factor" and infinite_profit_factor(metrics):
        return "∞"
    return format_value(metric.kind, value_of(metrics, metric))


def metric_tone(metrics: Mapping[str, Any], metric: Metric) -> Tone:
    if metric.key == "profit_factor" and infinite_profit_factor(metrics):
        return Tone.GOOD
    return metric.tone(value_of(metrics, metric))
