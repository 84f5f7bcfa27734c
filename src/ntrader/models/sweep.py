"""A parameter sweep: the space it searches, its objective, and the record it leaves."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import RunStatus

MAX_SWEEP_POINTS = 10_000
MAX_CONSTRAINT_LENGTH = 500

# Objective name -> (metrics group, key). Every one of them is better when higher
# (max_drawdown is stored as a negative fraction, so closer to 0 is higher).
OBJECTIVES: dict[str, tuple[str, str]] = {
    "sharpe_ratio": ("risk", "sharpe_ratio"),
    "sortino_ratio": ("risk", "sortino_ratio"),
    "calmar_ratio": ("risk", "calmar_ratio"),
    "max_drawdown": ("risk", "max_drawdown"),
    "total_return": ("returns", "total_return"),
    "cagr": ("returns", "cagr"),
    "profit_factor": ("trading", "profit_factor"),
    "win_rate": ("trading", "win_rate"),
    "expectancy": ("trading", "expectancy"),
    "alpha": ("benchmark", "alpha"),
}
DEFAULT_OBJECTIVE = "sharpe_ratio"
STALE_DESCRIPTION = "RUNNING, but its process on this host is gone (killed): resume accepts it."
# Screened sweeps run this many of the screen's best points through the engine.
DEFAULT_CONFIRM_TOP = 5


class SweepStatus(StrEnum):
    PENDING = "PENDING"  # stored by the HTTP API, waiting for a worker of its job pool
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    INTERRUPTED = "INTERRUPTED"


class RandomSection(BaseModel):
    """``samples`` random draws of each parameter between the bounds its range gives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(ge=1, le=MAX_SWEEP_POINTS)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    ranges: dict[str, str] = Field(min_length=1)  # name -> "LOW:HIGH"


class SweepSpec(BaseModel):
    """What a sweep searches: grids (name -> "START:STOP:STEP", "A,B,C" or a list), random
    samples crossed with the grid, constraints over the parameters, and the objective.

    The YAML ``sweep:`` section of a run configuration file is this model.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    grid: dict[str, str | list[Any]] = Field(default_factory=dict)
    random: RandomSection | None = None
    constraints: list[str] = Field(default_factory=list, max_length=20)
    objective: str = DEFAULT_OBJECTIVE

    def parameter_names(self) -> list[str]:
        """The parameters the sweep searches: its grid's, then its random ranges'."""
        ranges = self.random.ranges if self.random is not None else {}
        return list(dict.fromkeys([*self.grid, *ranges]))

    @field_validator("objective")
    @classmethod
    def _known_objective(cls, value: str) -> str:
        key = value.strip().lower()
        if key not in OBJECTIVES:
            raise ValueError(f"unknown objective {value!r}; use one of {', '.join(OBJECTIVES)}")
        return key

    @field_validator("constraints")
    @classmethod
    def _short_constraints(cls, value: list[str]) -> list[str]:
        for text in value:
            if len(text) > MAX_CONSTRAINT_LENGTH:
                raise ValueError(f"a constraint is at most {MAX_CONSTRAINT_LENGTH} characters")
        return value


class SweepPoint(BaseModel):
    """One point of a sweep and, once it ran, its run (None until then, or if deleted)."""

    model_config = ConfigDict(frozen=True)

    index: int
    parameters: dict[str, Any]
    run_id: str | None = None
    # Screened sweeps: {"figures": the screen's proxy figures, "confirm": run by the engine}.
    screen: dict[str, Any] | None = None


class SweepRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    created_at: datetime
    completed_at: datetime | None = None
    status: SweepStatus
    base_config: BacktestConfig
    spec: SweepSpec
    executor: str
    statistics: dict[str, Any] | None = None
    error_message: str | None = None  # why it stopped unfinished (INTERRUPTED only)
    points: tuple[SweepPoint, ...] = ()
    # The process that last claimed it RUNNING; None for sweeps stored before 0012.
    host: str | None = None
    host_pid: int | None = None
    holder_start: str | None = None  # which process that pid was; None before 0015


class SweepRunView(BaseModel):
    """One point of a sweep in its ranking: its run (if any), objective and key figures."""

    model_config = ConfigDict(frozen=True)

    index: int
    parameters: dict[str, Any]
    run_id: str | None
    status: RunStatus | None
    objective: float | None
    metrics: dict[str, Any]
    screen: dict[str, Any] | None = Field(
        default=None,
        description="Screened sweeps: the screen's figures, objective, and whether the "
        "engine confirmed the point.",
    )


class SweepView(BaseModel):
    """A sweep with its points ranked best first, as `backtest sweep show --json` prints
    it; ``statistics`` holds the deflated Sharpe ratio of the best run and the PBO."""

    sweep_id: str
    status: SweepStatus
    stale: bool = Field(default=False, description=STALE_DESCRIPTION)
    error_message: str | None = Field(
        default=None, description="Why an INTERRUPTED sweep stopped; resuming clears it."
    )
    strategy: str
    objective: str
    executor: str
    points: int
    refused_points: int
    statistics: dict[str, Any] | None
    # What the sweep's run said beside its figures: no screen and why, orders nautilus refused.
    warnings: list[str] = Field(default_factory=list)
    runs: list[SweepRunView]


class SweepListItem(BaseModel):
    """A stored sweep in a list (`backtest sweep list --json`), without its points."""

    sweep_id: str
    status: SweepStatus
    stale: bool = Field(default=False, description=STALE_DESCRIPTION)
    strategy: str
    instruments: list[str]
    objective: str
    executor: str
    created_at: datetime
    statistics: dict[str, Any] | None
    error_message: str | None = Field(default=None, description="Why it stopped unfinished.")

    @classmethod
    def of(cls, sweep: SweepRecord, *, stale: bool) -> SweepListItem:
        return cls(
            sweep_id=sweep.id,
            status=sweep.status,
            stale=stale,
            strategy=sweep.base_config.strategy_type,
            instruments=list(sweep.base_config.instruments),
            objective=sweep.spec.objective,
            executor=sweep.executor,
            created_at=sweep.created_at,
            statistics=sweep.statistics,
            error_message=sweep.error_message,
        )
