"""Backtest configuration and the records a run leaves behind (SPEC §5)."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ntrader.models.defaults import DEFAULT_END, DEFAULT_START, MAX_POSITION_PCT
from ntrader.models.enums import ReportType, RunStatus, Timeframe, TradeSide
from ntrader.models.execution import (
    Allocation,
    CommissionModel,
    FillAt,
    SizingMode,
    parse_multiple,
)
from ntrader.models.metrics import Metrics
from ntrader.utils.timeutil import NS_PER_DAY, date_to_ns

# nautilus_trader.model.objects.MONEY_MAX (checked in the tests): the largest amount a
# nautilus account can hold. Kept here so validating a configuration does not load the engine.
MONEY_MAX = 17_014_118_346_046.0
DEFAULT_STOP_ATR = 2.0  # risk sizing's stop distance, in ATRs, unless a stop-loss is given


def check_period(start: date, end: date) -> None:
    if end <= start:
        raise ValueError(f"the end date {end} must be after the start date {start}")


TAKE_PROFIT_NEEDS_STOP = (
    "a take-profit r:N is a multiple of the initial risk, so it needs a stop: "
    "use risk sizing or give a stop-loss atr:N"
)


def initial_stop_atr(
    sizing: SizingMode, stop_loss_atr: float | None, trailing_stop_atr: float | None
) -> float | None:
    """Risk sizing always places a stop (2 x ATR unless told); others only when asked."""
    if stop_loss_atr is not None:
        return stop_loss_atr
    if sizing is SizingMode.RISK:
        return DEFAULT_STOP_ATR
    return trailing_stop_atr


def check_sizing(sizing: SizingMode, size: float, max_position_pct: float) -> None:
    """``size`` must make sense for the sizing mode and fit under the position cap."""
    if sizing is SizingMode.RISK and not 0.1 <= size <= 10:
        raise ValueError(
            f"position size {size:g} is the % of equity at risk per trade with risk sizing "
            "and must be between 0.1 and 10"
        )
    if sizing is SizingMode.PERCENT and size > max_position_pct:
        raise ValueError(
            f"position size {size:g}% of equity is above the position cap of "
            f"{max_position_pct:g}%: raise max_position_pct (up to {MAX_POSITION_PCT:g}) "
            "or lower the size"
        )
    if sizing is SizingMode.FIXED and (size < 1 or size != int(size)):
        raise ValueError(
            f"position size {size:g} is a number of units with fixed sizing and must be a "
            "whole number of at least 1"
        )


class BacktestConfig(BaseModel):
    """Everything needed to run (and re-run) one backtest."""

    # No amount or rate may be NaN or infinite, whatever its range says: an infinite capital
    # passed the one-sided check and reached nautilus as an overflow.
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    strategy_type: str
    strategy_name: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    instruments: tuple[str, ...] = Field(min_length=1, max_length=10)
    start: date = DEFAULT_START
    end: date = DEFAULT_END
    timeframe: Timeframe = Timeframe.DAILY
    initial_capital: float = Field(default=100_000.0, ge=1_000, le=MONEY_MAX)
    # Risk % per trade (risk sizing), % of equity (percent) or units (fixed): see sizing.
    position_size_pct: float = Field(default=1.0, gt=0)
    sizing: SizingMode = SizingMode.RISK
    # Cap on one position's value, % of equity; above 100 needs a margin account (3x gross).
    max_position_pct: float = Field(default=10.0, gt=0, le=MAX_POSITION_PCT)
    allocation: Allocation = Allocation.EQUAL
    commission: CommissionModel = Field(default_factory=CommissionModel)
    slippage_bps: float = Field(default=0.0, ge=0, le=500)
    fill_at: FillAt = FillAt.NEXT_OPEN
    # Exits, as multiples: stop at N x ATR (risk sizing always has one, default 2 x ATR),
    # take-profit at N x the initial risk, trailing stop N x ATR behind the close.
    stop_loss_atr: float | None = None
    take_profit_r: float | None = None
    trailing_stop_atr: float | None = None
    benchmark: str = "SPY"
    risk_free_rate: float = Field(default=0.0, ge=-0.5, le=1.0)  # annual, for Sharpe/Sortino/alpha
    data_source: str = "db"

    @field_validator("instruments", mode="before")
    @classmethod
    def _split_instruments(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.split(",")]
        return tuple(str(part).strip().upper() for part in value if str(part).strip())

    @field_validator("commission")
    @classmethod
    def _finite_commission(cls, value: CommissionModel) -> CommissionModel:
        for name in ("value", "minimum", "maximum_pct"):
            amount = getattr(value, name)
            if amount is not None and not math.isfinite(amount):
                raise ValueError(f"{name} must be a finite number, not {amount}")
        return value

    @field_validator("stop_loss_atr", "trailing_stop_atr", mode="before")
    @classmethod
    def _atr_multiple(cls, value: Any) -> Any:
        return None if value is None else parse_multiple(value, "atr")

    @field_validator("take_profit_r", mode="before")
    @classmethod
    def _r_multiple(cls, value: Any) -> Any:
        return None if value is None else parse_multiple(value, "r")

    @model_validator(mode="after")
    def _end_after_start(self) -> BacktestConfig:
        check_period(self.start, self.end)
        check_sizing(self.sizing, self.position_size_pct, self.max_position_pct)
        if self.take_profit_r is not None and self.initial_stop_atr is None:
            raise ValueError(TAKE_PROFIT_NEEDS_STOP)
        return self

    def describe_fill(self) -> str:
        if self.fill_at is FillAt.CLOSE:
            return "at the signal bar's close (optimistic)"
        return "at the next bar's open"

    def describe_sizing(self) -> str:
        size = f"{self.position_size_pct:g}"
        if self.sizing is SizingMode.RISK:
            return f"risk {size}% of equity per trade"
        if self.sizing is SizingMode.PERCENT:
            return f"{size}% of equity per position"
        return f"{size} units per position"

    def describe_allocation(self) -> str:
        """How several instruments share the capital ('' for one), ending in ' · '."""
        if len(self.instruments) < 2:
            return ""
        if self.allocation is Allocation.SHARED:
            return "capital: one shared pool · "
        return "capital: equal shares · "

    def describe_exits(self) -> str:
        stop = self.initial_stop_atr
        parts = [f"stop {stop:g}x ATR"] if stop is not None else []
        if self.take_profit_r is not None:
            parts.append(f"take-profit {self.take_profit_r:g}R")
        if self.trailing_stop_atr is not None:
            parts.append(f"trailing stop {self.trailing_stop_atr:g}x ATR")
        return ", ".join(parts) or "signals only"

    @property
    def initial_stop_atr(self) -> float | None:
        """The ATR multiple of the protective stop placed with each entry, if any."""
        return initial_stop_atr(self.sizing, self.stop_loss_atr, self.trailing_stop_atr)

    @property
    def start_ns(self) -> int:
        return date_to_ns(self.start)

    @property
    def end_ns(self) -> int:
        """Exclusive bound: the end date is included whole."""
        return date_to_ns(self.end) + NS_PER_DAY


class TradeRecord(BaseModel):
    """One round trip (closed) or an open position at the end of the run."""

    model_config = ConfigDict(frozen=True)

    instrument_id: str
    side: TradeSide
    quantity: float = Field(gt=0)
    entry_time: datetime
    entry_price: float
    exit_time: datetime | None = None
    exit_price: float | None = None
    commission: float = Field(ge=0)
    slippage_cost: float = 0.0
    pnl: float | None = None
    pnl_pct: float | None = None
    is_open: bool = False


class PortfolioSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    ts: datetime
    cash: float
    positions: dict[str, float]
    total_value: float
    margin_used: float = 0.0
    buying_power: float


class RunRecord(BaseModel):
    """A stored run: its configuration and, once finished, its outcome."""

    model_config = ConfigDict(frozen=True)

    id: str
    configuration_id: str
    config: BacktestConfig
    status: RunStatus
    error_message: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    trades_count: int | None = None
    winning_trades: int | None = None
    losing_trades: int | None = None
    metrics: Metrics | None = None
    data_fingerprint: str | None = None
    ntrader_version: str | None = None
    nautilus_version: str | None = None
    host: str | None = None
    host_pid: int | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()


class ReportRecord(BaseModel):
    """A generated report file (SPEC §5 PerformanceReport); sha256 is of the file's bytes."""

    model_config = ConfigDict(frozen=True)

    id: str
    report_type: ReportType
    generated_at: datetime
    file_path: str
    sha256: str = Field(min_length=64, max_length=64)
    metadata: dict[str, Any] | None = None
