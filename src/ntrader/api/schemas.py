"""Request and response bodies the API adds to the entities of ``ntrader.models``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from ntrader.models.backtest import PortfolioSnapshot, RunRecord, TradeRecord
from ntrader.models.config_file import BacktestFile
from ntrader.models.enums import RunStatus, Timeframe
from ntrader.models.ib_fetch import FetchJob
from ntrader.models.sweep import (
    DEFAULT_CONFIRM_TOP,
    MAX_SWEEP_POINTS,
    SweepListItem,
    SweepSpec,
    SweepStatus,
)
from ntrader.models.walk_forward import WalkForwardListItem

# Keys that would make the server read or write its own files, or reach another store:
# they come from the server's settings only.
_SERVER_ONLY_KEYS = ("output", "strategy_path", "database_url")

# The resume routes' ``force``, as the resume commands' ``--force``.
TakeOver = Annotated[
    bool,
    Query(
        description="Take over one left RUNNING by a process that cannot be checked from "
        "the server (on another machine, or not recorded by an older ntrader); only once "
        "that process is known to be gone."
    ),
]


class BacktestRequest(BacktestFile):
    """The body of ``POST /backtests``: a YAML run configuration file as JSON, without its
    ``output`` section (the server writes no files for a request: fetch the report)."""

    output: SkipJsonSchema[None] = None  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _no_server_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in _SERVER_ONLY_KEYS:
                if key in data:
                    raise ValueError(
                        f"{key!r} is not accepted over HTTP: files, strategy code and the "
                        "database come from the server's settings"
                    )
        return data


class SweepRequest(BacktestRequest):
    """The body of ``POST /sweeps``: a run configuration with its ``sweep:`` section (what
    `backtest sweep --config` reads), and the screen's options."""

    sweep: SweepSpec  # type: ignore[assignment]
    confirm_top: int = Field(
        default=DEFAULT_CONFIRM_TOP,
        ge=1,
        le=MAX_SWEEP_POINTS,
        description="Screen every point, then run this many of the screen's best through "
        "the engine (`--confirm-top`).",
    )
    screen: bool = Field(
        default=True, description="false: run every point through the engine (`--no-screen`)."
    )


class WalkForwardRequest(BacktestRequest):
    """The body of ``POST /walk-forwards``: a run configuration whose period bounds the
    analysis, the training sweeps' space (``sweep``), and the windows (`backtest
    walk-forward` --train, --test, --step, --anchored)."""

    sweep: SweepSpec  # type: ignore[assignment]
    train: str = Field(max_length=16, description="Training window: 12M, 90D, 2W, 1Y.")
    test: str = Field(max_length=16, description="The test window after each training one.")
    step: str | None = Field(
        default=None, max_length=16, description="How far each window moves on (default: test)."
    )
    anchored: bool = Field(
        default=False, description="Every training window starts at the period's start."
    )


class Accepted(BaseModel):
    """A job's entity (a backtest, a sweep) stored PENDING and queued."""

    id: str
    status: RunStatus | SweepStatus
    location: str
    events: str


class SweepPage(BaseModel):
    items: list[SweepListItem]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class FetchJobPage(BaseModel):
    items: list[FetchJob]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class WalkForwardPage(BaseModel):
    items: list[WalkForwardListItem]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class RunPage(BaseModel):
    items: list[RunRecord]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class TradePage(BaseModel):
    items: list[TradeRecord]
    total: int
    next_cursor: str | None


class EquityCurve(BaseModel):
    run_id: str
    points: list[PortfolioSnapshot]


class Deleted(BaseModel):
    run_ids: list[str]
    trades: int
    snapshots: int
    reports: int
    configurations: int


class Parameter(BaseModel):
    name: str
    type: str
    default: Any = None
    description: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    optional: bool


class StrategyTypeInfo(BaseModel):
    name: str
    aliases: list[str]
    description: str
    source: str
    parameters: list[Parameter]
    parameters_schema: dict[str, Any] = Field(description="JSON schema of the parameters.")


class StrategyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1, max_length=100)
    parameters: dict[str, Any] = Field(default_factory=dict)
    description: str | None = Field(default=None, max_length=2000)


class StrategyUpdate(BaseModel):
    """New values of some parameters; the others keep theirs."""

    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any]


class Instrument(BaseModel):
    instrument_id: str
    timeframe: Timeframe
    rows: int
    first: datetime
    last: datetime


class Imported(BaseModel):
    instrument_id: str
    timeframe: Timeframe
    rows_in_file: int
    rows_imported: int
    rows_replaced: int
    rows_already_present: int
    first: datetime
    last: datetime
    data_version: int


class HealthCheckResult(BaseModel):
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str | None = Field(
        description="What the check found (left out for a caller without the token)."
    )
    seconds: float


class Health(BaseModel):
    """The checks of `ntrader health-check`; healthy when none failed (warnings are)."""

    healthy: bool
    checks: list[HealthCheckResult]
