"""A run's performance metrics, typed, in the shape they are stored as JSON.

The field order is the stored key order, so a run's metrics serialise to the same JSON text
they always have. Figures added after the first runs were stored (open trades, unrealised
PnL, exposures, the calendar) default to None, and ``model_dump(exclude_unset=True)`` gives
an old row back exactly as it was read.

A figure that is undefined (a Sharpe ratio with no spread, a profit factor with no losses) is
None. A non-finite float that still reaches a field is kept in memory; JSON output writes it
as null with a warning (``cli/output.py``), which is why the schema says "number or null".
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def value(self, key: str) -> Any:
        """A figure by its stored key (None for a key this group does not have)."""
        return getattr(self, key, None)


class ReturnMetrics(_Group):
    total_return: float
    cagr: float | None
    annualized_return: float | None


class RiskMetrics(_Group):
    max_drawdown: float  # a negative fraction; 0.0 without a drawdown
    sharpe_ratio: float | None
    sortino_ratio: float | None
    calmar_ratio: float | None
    volatility: float | None


class TradingMetrics(_Group):
    # Runs stored before open positions were counted have neither count.
    closed_trades: int | None = None
    open_trades: int | None = None
    win_rate: float | None
    avg_win: float | None
    avg_loss: float | None
    profit_factor: float | None  # None with no losses: see ``no_losses``
    expectancy: float | None
    total_trades: int
    winning_trades: int
    losing_trades: int

    @property
    def no_losses(self) -> bool:
        """The profit factor is undefined because nothing was lost (not because nothing was
        traded): it is infinite."""
        return self.profit_factor is None and self.winning_trades > 0 and not self.losing_trades


class BenchmarkMetrics(_Group):
    """Against buy and hold of the benchmark; null when it has no data for the run's days."""

    benchmark_return: float | None = None
    alpha: float | None = None
    beta: float | None = None


class Annualisation(_Group):
    calendar: str  # XNYS, 24/5 or 24/7
    periods_per_year: float


class InstrumentFigures(_Group):
    """One instrument's share of a multi-instrument run."""

    bars: int
    total_trades: int
    winning_trades: int
    win_rate: float | None
    open_positions: int
    # Runs stored before realised and unrealised PnL were split have neither.
    realized_pnl: float | None = None
    unrealized_pnl: float | None = None
    net_pnl: float
    return_contribution: float
    # Fractions of the portfolio's equity; runs stored before exposures were kept have none.
    average_exposure: float | None = None
    maximum_exposure: float | None = None


class Exposure(_Group):
    """Gross exposure as a fraction of equity at the bar closes."""

    average: float
    maximum: float


class Metrics(BaseModel):
    """A run's metrics: returns, risk, trading and benchmark figures (fractions, money in the
    account currency), then the calendar they are annualised on, each instrument's share
    and the portfolio's exposure. A null figure is undefined for the run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    returns: ReturnMetrics
    risk: RiskMetrics
    trading: TradingMetrics
    benchmark: BenchmarkMetrics = BenchmarkMetrics()
    # Runs stored before calendars were annualised on 252 days and have none.
    annualisation: Annualisation | None = None
    per_instrument: dict[str, InstrumentFigures] | None = None
    exposure: Exposure | None = None

    def group(self, name: str) -> _Group | None:
        """One of the four metric groups (returns, risk, trading, benchmark) by name."""
        value = getattr(self, name, None)
        return value if isinstance(value, _Group) else None

    def stored(self) -> dict[str, Any]:
        """The JSON the store keeps: the figures this value was built or read with."""
        return self.model_dump(mode="json", exclude_unset=True)


def metrics_json_schema() -> str:
    """The JSON schema of ``Metrics`` as checked in at ``docs/schemas/metrics.schema.json``."""
    schema = Metrics.model_json_schema(mode="serialization")
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
