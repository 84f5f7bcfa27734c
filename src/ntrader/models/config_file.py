"""The YAML backtest configuration file (``backtest run --config F.yaml``).

```yaml
strategy: {name: my_sma, type: SMA_CROSSOVER, parameters: {fast_period: 12, slow_period: 26}}
instruments: [AAPL.NASDAQ, SPY.NYSE]        # 1-10; bare symbols also accepted
period: {start: "2020-01-01", end: "2020-12-31"}
timeframe: DAILY
portfolio: {initial_capital: 100000, sizing: risk, risk_per_trade_pct: 1.0, max_position_pct: 10,
            allocation: equal}             # percent sizing: position_pct; fixed: position_units
execution: {commission: {type: fixed, value: 1.0}, slippage_bps: 0, fill_at: next-open,
            stop_loss: "atr:2", take_profit: "r:3", trailing_stop: "atr:3"}
benchmark: SPY
risk_free_rate: 0.0
data: {source: db}
output: {directory: ./results, save_trades: true, save_portfolio_snapshots: true}
sweep:                                      # read by `backtest sweep --config` only
  grid: {fast_period: "5:50:5", slow_period: "20:200:20"}
  random: {samples: 10, seed: 1, ranges: {entry_threshold: "0:0.02"}}
  constraints: ["fast_period < slow_period"]
  objective: sharpe_ratio
```

Each run setting's key takes its limits, default and description from the BacktestConfig
field it fills (``from_config``). ``portfolio.position_size_pct`` is the deprecated name of
the sizing mode's size (risk_per_trade_pct, position_pct or position_units).
"""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.fields import FieldInfo

from ntrader.models.backtest import (
    SIZE_FIELDS,
    TAKE_PROFIT_NEEDS_STOP,
    BacktestConfig,
    check_period,
    check_sizing,
    initial_stop_atr,
    move_legacy_size,
)
from ntrader.models.enums import Timeframe
from ntrader.models.execution import Allocation, CommissionModel, FillAt, SizingMode
from ntrader.models.sweep import SweepSpec


def from_config(field: str) -> Any:
    """A file key declared as BacktestConfig's ``field``: the same limits, default,
    validators and description (a copy, so the two models stay independent)."""
    info: FieldInfo = BacktestConfig.model_fields[field]
    return copy.deepcopy(info)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StrategySection(_Section):
    """Either a stored strategy by ``name``, or a ``type`` with ``parameters``."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    type: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _name_or_type(self) -> StrategySection:
        if not self.name and not self.type:
            raise ValueError("give a strategy type, or the name of a stored strategy")
        return self


class PeriodSection(_Section):
    start: date = from_config("start")
    end: date = from_config("end")

    @model_validator(mode="after")
    def _end_after_start(self) -> PeriodSection:
        check_period(self.start, self.end)
        return self


class PortfolioSection(_Section):
    initial_capital: float = from_config("initial_capital")
    sizing: SizingMode = from_config("sizing")
    risk_per_trade_pct: float | None = from_config("risk_per_trade_pct")
    position_pct: float | None = from_config("position_pct")
    position_units: int | None = from_config("position_units")
    max_position_pct: float = from_config("max_position_pct")
    allocation: Allocation = from_config("allocation")

    @model_validator(mode="before")
    @classmethod
    def _legacy_size(cls, values: Any) -> Any:
        return move_legacy_size(values)

    @model_validator(mode="after")
    def _size_fits_mode(self) -> PortfolioSection:
        sizes = {field: getattr(self, field) for field in SIZE_FIELDS.values()}
        check_sizing(self.sizing, sizes, self.max_position_pct)
        return self


class ExecutionSection(_Section):
    commission: CommissionModel = from_config("commission")
    slippage_bps: float = from_config("slippage_bps")
    fill_at: FillAt = from_config("fill_at")
    stop_loss: float | None = from_config("stop_loss_atr")  # written atr:N
    take_profit: float | None = from_config("take_profit_r")  # written r:N
    trailing_stop: float | None = from_config("trailing_stop_atr")  # written atr:N


class DataSection(_Section):
    source: Literal["db"] = "db"


class OutputSection(_Section):
    directory: Path | None = None
    save_trades: bool = True
    save_portfolio_snapshots: bool = True

    @field_validator("directory")
    @classmethod
    def _home(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()


# BacktestConfig field -> where a file sets it, for messages that name the file's key.
CONFIG_KEYS = {
    "strategy_type": "strategy.type",
    "strategy_name": "strategy.name",
    "instruments": "instruments",
    "start": "period.start",
    "end": "period.end",
    "timeframe": "timeframe",
    "initial_capital": "portfolio.initial_capital",
    "sizing": "portfolio.sizing",
    "risk_per_trade_pct": "portfolio.risk_per_trade_pct",
    "position_pct": "portfolio.position_pct",
    "position_units": "portfolio.position_units",
    "max_position_pct": "portfolio.max_position_pct",
    "allocation": "portfolio.allocation",
    "commission": "execution.commission",
    "slippage_bps": "execution.slippage_bps",
    "fill_at": "execution.fill_at",
    "stop_loss_atr": "execution.stop_loss",
    "take_profit_r": "execution.take_profit",
    "trailing_stop_atr": "execution.trailing_stop",
    "benchmark": "benchmark",
    "risk_free_rate": "risk_free_rate",
    "data_source": "data.source",
}


class BacktestFile(_Section):
    strategy: StrategySection
    instruments: list[str] = Field(min_length=1, max_length=10)
    period: PeriodSection = Field(default_factory=PeriodSection)
    timeframe: Timeframe = from_config("timeframe")
    portfolio: PortfolioSection = Field(default_factory=PortfolioSection)
    execution: ExecutionSection = Field(default_factory=ExecutionSection)
    benchmark: str = from_config("benchmark")
    risk_free_rate: float = from_config("risk_free_rate")
    data: DataSection = Field(default_factory=DataSection)
    output: OutputSection = Field(default_factory=OutputSection)
    sweep: SweepSpec | None = None

    @model_validator(mode="after")
    def _take_profit_has_a_stop(self) -> BacktestFile:
        stop = initial_stop_atr(
            self.portfolio.sizing, self.execution.stop_loss, self.execution.trailing_stop
        )
        if self.execution.take_profit is not None and stop is None:
            raise ValueError(TAKE_PROFIT_NEEDS_STOP)
        return self

    @field_validator("timeframe", mode="before")
    @classmethod
    def _timeframe(cls, value: Any) -> Any:
        return Timeframe.parse(value) if isinstance(value, str) else value

    @field_validator("instruments", mode="before")
    @classmethod
    def _instruments(cls, value: Any) -> Any:
        return [part.strip() for part in value.split(",")] if isinstance(value, str) else value

    def key_paths(self) -> dict[str, str]:
        """The configuration fields this file sets itself (not left to a default), with
        their key paths; a strategy parameter ``p`` appears as ``parameters.p``."""
        given: dict[str, str] = {}
        for field, path in CONFIG_KEYS.items():
            section, _, key = path.partition(".")
            if section in self.model_fields_set and (
                not key or key in getattr(self, section).model_fields_set
            ):
                given[field] = path
        for name in self.strategy.parameters:
            given[f"parameters.{name}"] = f"strategy.parameters.{name}"
        return given

    def to_config(self) -> BacktestConfig:
        """The run configuration; a stored strategy's name stands in for the type until the
        backtest service resolves it."""
        return BacktestConfig.model_validate(self.config_values())

    def config_values(self) -> dict[str, Any]:
        """The run configuration's fields, not yet validated together (the HTTP API has
        them checked as ``validate_config`` checks the CLI's, naming the keys)."""
        return dict(
            strategy_type=self.strategy.type or self.strategy.name or "",
            strategy_name=self.strategy.name,
            parameters=self.strategy.parameters,
            instruments=tuple(self.instruments),
            start=self.period.start,
            end=self.period.end,
            timeframe=self.timeframe,
            initial_capital=self.portfolio.initial_capital,
            sizing=self.portfolio.sizing,
            risk_per_trade_pct=self.portfolio.risk_per_trade_pct,
            position_pct=self.portfolio.position_pct,
            position_units=self.portfolio.position_units,
            max_position_pct=self.portfolio.max_position_pct,
            allocation=self.portfolio.allocation,
            commission=self.execution.commission,
            slippage_bps=self.execution.slippage_bps,
            fill_at=self.execution.fill_at,
            stop_loss_atr=self.execution.stop_loss,
            take_profit_r=self.execution.take_profit,
            trailing_stop_atr=self.execution.trailing_stop,
            benchmark=self.benchmark.upper(),
            risk_free_rate=self.risk_free_rate,
            data_source=self.data.source,
        )
