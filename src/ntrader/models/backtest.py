"""Backtest configuration and the records a run leaves behind.

``BacktestConfig`` is the one place where a run setting's limits, default and description
live: the YAML sections (models/config_file.py) and the ``backtest run`` options
(cli/run_options.py) are derived from its fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ntrader.models.defaults import (
    DEFAULT_END,
    DEFAULT_START,
    MAX_POSITION_PCT,
    MAX_RISK_FREE_RATE,
    MIN_RISK_FREE_RATE,
)
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

RiskFreeRate = Annotated[
    float,
    Field(
        ge=MIN_RISK_FREE_RATE,
        le=MAX_RISK_FREE_RATE,
        description="Annual risk-free rate for Sharpe, Sortino and alpha, as a fraction "
        "(0.04 = 4 %).",
    ),
]


def _atr_multiple(value: Any) -> Any:
    return None if value is None else parse_multiple(value, "atr")


def _r_multiple(value: Any) -> Any:
    return None if value is None else parse_multiple(value, "r")


AtrMultiple = Annotated[float | None, BeforeValidator(_atr_multiple)]
RMultiple = Annotated[float | None, BeforeValidator(_r_multiple)]

# What each sizing mode sizes by: one field per mode, so each has its own unit and limits.
SIZE_FIELDS: Mapping[SizingMode, str] = {
    SizingMode.RISK: "risk_per_trade_pct",
    SizingMode.PERCENT: "position_pct",
    SizingMode.FIXED: "position_units",
}
DEFAULT_SIZES: Mapping[SizingMode, float] = {
    SizingMode.RISK: 1.0,
    SizingMode.PERCENT: 1.0,
    SizingMode.FIXED: 1,
}
# The one name all three modes' sizes once shared; still read from old files and stored runs.
LEGACY_SIZE_KEY = "position_size_pct"


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


def move_legacy_size(values: Any) -> Any:
    """``position_size_pct`` (one key for every mode's size) moved to the field of the
    mode ``sizing`` names; giving both it and that field is refused as ambiguous."""
    if not isinstance(values, dict) or LEGACY_SIZE_KEY not in values:
        return values
    values = dict(values)
    size = values.pop(LEGACY_SIZE_KEY)
    try:
        field = SIZE_FIELDS[SizingMode(values.get("sizing", SizingMode.RISK))]
    except ValueError:
        return values  # the sizing's own error says what is wrong
    if values.get(field) is not None:
        raise ValueError(f"{LEGACY_SIZE_KEY} is the old name of {field}: give only {field}")
    values[field] = size
    return values


def check_sizing(
    sizing: SizingMode, sizes: Mapping[str, float | None], max_position_pct: float
) -> None:
    """Only the sizing mode's own size may be given, and a % of equity fits under the cap.

    ``sizes``: the three size fields (SIZE_FIELDS) with their values, None when not given.
    """
    own = SIZE_FIELDS[sizing]
    for field, value in sizes.items():
        if field != own and value is not None:
            raise ValueError(
                f"{field} sizes {_mode_of(field).value} sizing, but the sizing is "
                f"{sizing.value}: give {own}, or choose sizing {_mode_of(field).value}"
            )
    percent = sizes.get(SIZE_FIELDS[SizingMode.PERCENT])
    if sizing is SizingMode.PERCENT and percent is not None and percent > max_position_pct:
        raise ValueError(
            f"position_pct {percent:g}% of equity is above the position cap of "
            f"{max_position_pct:g}%: raise max_position_pct (up to {MAX_POSITION_PCT:g}) "
            "or lower position_pct"
        )


def _mode_of(field: str) -> SizingMode:
    return next(mode for mode, name in SIZE_FIELDS.items() if name == field)


class BacktestConfig(BaseModel):
    """Everything needed to run (and re-run) one backtest."""

    # No amount or rate may be NaN or infinite, whatever its range says: an infinite capital
    # passed the one-sided check and reached nautilus as an overflow.
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    strategy_type: str
    strategy_name: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    instruments: tuple[str, ...] = Field(min_length=1, max_length=10)
    start: date = Field(default=DEFAULT_START, description="First day of the run.")
    end: date = Field(default=DEFAULT_END, description="Last day of the run (included).")
    timeframe: Timeframe = Field(default=Timeframe.DAILY, description="Bar timeframe.")
    initial_capital: float = Field(
        default=100_000.0, ge=1_000, le=MONEY_MAX, description="Initial capital (USD)."
    )
    sizing: SizingMode = Field(
        default=SizingMode.RISK,
        description="How each entry is sized: risk (a % of equity at risk, with a stop "
        "always placed), percent (a % of equity) or fixed (units).",
    )
    risk_per_trade_pct: float | None = Field(
        default=None,
        ge=0.1,
        le=10,
        description="Risk sizing: % of equity lost if the stop is hit "
        f"(default {DEFAULT_SIZES[SizingMode.RISK]:g}).",
    )
    position_pct: float | None = Field(
        default=None,
        gt=0,
        le=MAX_POSITION_PCT,
        description="Percent sizing: % of equity put into each position, at most the "
        f"position cap (default {DEFAULT_SIZES[SizingMode.PERCENT]:g}).",
    )
    position_units: int | None = Field(
        default=None,
        ge=1,
        description="Fixed sizing: units per position "
        f"(default {DEFAULT_SIZES[SizingMode.FIXED]:g}).",
    )
    max_position_pct: float = Field(
        default=10.0,
        gt=0,
        le=MAX_POSITION_PCT,
        description="Cap on one position's value, % of equity (above 100 uses a margin "
        "account, 3x gross at most).",
    )
    allocation: Allocation = Field(
        default=Allocation.EQUAL,
        description="Several instruments: equal shares of the capital (per venue account), "
        "or one shared pool where every entry sizes against the whole portfolio's equity.",
    )
    commission: CommissionModel = Field(default_factory=CommissionModel)
    slippage_bps: float = Field(
        default=0.0,
        ge=0,
        le=500,
        description="Slippage against you, in basis points of the price.",
    )
    fill_at: FillAt = Field(
        default=FillAt.NEXT_OPEN,
        description="Market orders from a bar's signal fill at the next bar's open, or "
        "(optimistic) at the signal bar's own close.",
    )
    stop_loss_atr: AtrMultiple = Field(
        default=None,
        description="Stop at atr:N ATRs from entry (risk sizing: atr:2 unless given).",
    )
    take_profit_r: RMultiple = Field(
        default=None, description="Limit at r:N times the initial risk."
    )
    trailing_stop_atr: AtrMultiple = Field(
        default=None, description="Stop trailed atr:N ATRs behind the close."
    )
    benchmark: str = Field(default="SPY", description="Benchmark symbol.")
    risk_free_rate: RiskFreeRate = 0.0
    data_source: str = "db"

    @model_validator(mode="before")
    @classmethod
    def _legacy_size(cls, values: Any) -> Any:
        return move_legacy_size(values)

    @field_validator("instruments", mode="before")
    @classmethod
    def _split_instruments(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.split(",")]
        return tuple(str(part).strip().upper() for part in value if str(part).strip())

    @model_validator(mode="after")
    def _consistent(self) -> BacktestConfig:
        check_period(self.start, self.end)
        check_sizing(
            self.sizing,
            {field: getattr(self, field) for field in SIZE_FIELDS.values()},
            self.max_position_pct,
        )
        if self.take_profit_r is not None and self.initial_stop_atr is None:
            raise ValueError(TAKE_PROFIT_NEEDS_STOP)
        return self

    @property
    def position_size(self) -> float:
        """What the sizing mode sizes by: risk %, % of equity, or units."""
        given = getattr(self, SIZE_FIELDS[self.sizing])
        return float(DEFAULT_SIZES[self.sizing] if given is None else given)

    def describe_fill(self) -> str:
        if self.fill_at is FillAt.CLOSE:
            return "at the signal bar's close (optimistic)"
        return "at the next bar's open"

    def describe_sizing(self) -> str:
        size = f"{self.position_size:g}"
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
    holder_start: str | None = None  # which process that pid was; None before 0015

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()


class ReportRecord(BaseModel):
    """A generated report file; sha256 is of the file's bytes."""

    model_config = ConfigDict(frozen=True)

    id: str
    report_type: ReportType
    generated_at: datetime
    file_path: str
    sha256: str = Field(min_length=64, max_length=64)
    metadata: dict[str, Any] | None = None
