"""Every metric as people see it: label, unit (``Kind``), format, and which way is better.

The one place metrics are labelled and formatted: the terminal tables, the text, HTML and
comparison reports all format through here, so a figure reads the same everywhere. Money is
in the account currency, which is USD for every run (the engine's account), hence ``$``; a
loss is written the accounting way, ``-$5.00``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ntrader.models.metrics import Metrics
from ntrader.models.sweep import OBJECTIVES


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

    def format(self, value: float | None) -> str:
        return format_value(self.kind, value)

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


# The columns of the per-instrument tables (multi-instrument runs); the sign of money and
# contribution colours them.
INSTRUMENT_FIGURES: tuple[Metric, ...] = (
    Metric("per_instrument", "total_trades", "Trades", Kind.COUNT),
    Metric("per_instrument", "win_rate", "Win rate", Kind.RATE),
    Metric("per_instrument", "net_pnl", "Net PnL", Kind.MONEY, _H, 0.0, 0.0),
    Metric("per_instrument", "unrealized_pnl", "Unrealised", Kind.MONEY, _H, 0.0, 0.0),
    Metric("per_instrument", "return_contribution", "Contribution", Kind.PERCENT, _H, 0.0, 0.0),
    Metric("per_instrument", "open_positions", "Open", Kind.COUNT),
    Metric("per_instrument", "average_exposure", "Avg exposure", Kind.RATE),
    Metric("per_instrument", "maximum_exposure", "Max exposure", Kind.RATE),
)
INFINITE_PROFIT_FACTOR = "∞ (no losses)"
MISSING = "—"


def metrics_of(group: str) -> Iterator[Metric]:
    return (m for m in METRICS if m.group == group)


def by_key(key: str, catalog: tuple[Metric, ...] = METRICS) -> Metric:
    return next(m for m in catalog if m.key == key)


def objective_metric(objective: str) -> Metric:
    """The catalog entry of a sweep objective (``models.sweep.OBJECTIVES``)."""
    return by_key(OBJECTIVES[objective][1])


def value_of(metrics: Metrics, metric: Metric) -> Any:
    group = metrics.group(metric.group)
    return None if group is None else group.value(metric.key)


def _non_finite(value: float) -> str | None:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return None


def _signed(magnitude: str, negative: bool, prefix: str = "") -> str:
    """``magnitude`` (already rounded for display) with its sign; a value that rounds to
    zero is shown unsigned, never as ``-0.00``."""
    if not any(digit in "123456789" for digit in magnitude):
        return f"{prefix}{magnitude}"
    return f"-{prefix}{magnitude}" if negative else f"{prefix}{magnitude}"


def _percent(fraction: float) -> str:
    """The magnitude in percent, computed in decimal: the largest fractions would overflow
    to infinity as floats."""
    return f"{abs(Decimal(fraction)) * 100:.2f}"


def format_value(kind: Kind, value: float | None) -> str:
    if value is None:
        return MISSING
    odd = _non_finite(value)
    if odd is not None:
        return odd
    negative = value < 0
    match kind:
        case Kind.PERCENT:
            text = _signed(_percent(value), negative) + "%"
            return text if text.startswith("-") or text == "0.00%" else f"+{text}"
        case Kind.RATE:
            return _signed(_percent(value), negative) + "%"
        case Kind.RATIO:
            return _signed(f"{abs(value):.2f}", negative)
        case Kind.MONEY:
            return _signed(f"{abs(value):,.2f}", negative, "$")
        case Kind.COUNT:
            return f"{int(value):,}"


def calendar_cell(fraction: float) -> str:
    """A monthly or yearly return in a calendar table: ``+1.2``; ``0.0`` rather than ``-0.0``
    for a tiny loss; empty where there is no such period."""
    if math.isnan(fraction):
        return ""
    rounded = round(fraction * 100, 1)
    return f"{rounded:+.1f}" if rounded else "0.0"


def sign_tone(value: float | None) -> Tone:
    """Good for a gain, bad for a loss (a trade's PnL, final equity against the capital)."""
    if value is None or math.isnan(value) or value == 0:
        return Tone.NEUTRAL
    return Tone.GOOD if value > 0 else Tone.BAD


def format_metric(metrics: Metrics, metric: Metric) -> str:
    if metric.key == "profit_factor" and metrics.trading.no_losses:
        return INFINITE_PROFIT_FACTOR
    return format_value(metric.kind, value_of(metrics, metric))


def metric_tone(metrics: Metrics, metric: Metric) -> Tone:
    if metric.key == "profit_factor" and metrics.trading.no_losses:
        return Tone.GOOD
    return metric.tone(value_of(metrics, metric))
