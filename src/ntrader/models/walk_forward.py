"""A walk-forward analysis's windows and outcome, as its service returns them and its
report renders them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import RunStatus
from ntrader.models.sweep import STALE_DESCRIPTION, SweepSpec


@dataclass(frozen=True, slots=True)
class Window:
    """One step: optimise on [train_start, train_end], test on [test_start, test_end]
    (all days included)."""

    train_start: date
    train_end: date
    test_start: date
    test_end: date

    def as_dict(self) -> dict[str, str]:
        return {
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "test_start": self.test_start.isoformat(),
            "test_end": self.test_end.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class WindowResult:
    window: Window
    sweep_id: str
    parameters: dict[str, Any]
    test_run_id: str
    in_sample: float | None  # the best training objective, as the sweep ranked it
    out_of_sample: float | None
    in_sample_annualised: float | None
    out_of_sample_annualised: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.window.as_dict(),
            "sweep_id": self.sweep_id,
            "parameters": self.parameters,
            "test_run_id": self.test_run_id,
            "in_sample": self.in_sample,
            "out_of_sample": self.out_of_sample,
            "in_sample_annualised": self.in_sample_annualised,
            "out_of_sample_annualised": self.out_of_sample_annualised,
        }

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> WindowResult:
        """A window as ``as_dict`` stored it."""
        return cls(
            window=Window(
                *(
                    date.fromisoformat(stored[key])
                    for key in ("train_start", "train_end", "test_start", "test_end")
                )
            ),
            sweep_id=stored["sweep_id"],
            parameters=stored["parameters"],
            test_run_id=stored["test_run_id"],
            in_sample=stored["in_sample"],
            out_of_sample=stored["out_of_sample"],
            in_sample_annualised=stored["in_sample_annualised"],
            out_of_sample_annualised=stored["out_of_sample_annualised"],
        )


class WindowView(BaseModel):
    """One window: its dates, its training sweep, the parameters it chose, its test run,
    and the objective in and out of sample (as measured and annualised)."""

    train_start: date
    train_end: date
    test_start: date
    test_end: date
    sweep_id: str
    parameters: dict[str, Any]
    test_run_id: str
    in_sample: float | None
    out_of_sample: float | None
    in_sample_annualised: float | None
    out_of_sample_annualised: float | None


class WalkForwardView(BaseModel):
    """A walk-forward analysis as `backtest walk-forward --json` prints it; while it runs,
    the windows done so far."""

    walk_forward_id: str
    status: RunStatus
    stale: bool = Field(default=False, description=STALE_DESCRIPTION)
    error_message: str | None
    strategy: str
    instruments: list[str]
    objective: str
    train: str
    test: str
    step: str
    anchored: bool
    efficiency: float | None
    initial_capital: float
    final_equity: float | None
    out_of_sample_return: float | None
    windows: list[WindowView]


class WalkForwardListItem(BaseModel):
    """A stored analysis in a list (`backtest walk-forward list --json`, GET
    /api/v1/walk-forwards): what it was asked and how far it got, without its windows."""

    walk_forward_id: str
    created_at: datetime
    status: RunStatus
    stale: bool = Field(default=False, description=STALE_DESCRIPTION)
    error_message: str | None
    strategy: str
    instruments: list[str]
    start: date
    end: date
    objective: str
    train: str
    test: str
    step: str
    anchored: bool
    windows_done: int
    efficiency: float | None

    @classmethod
    def of(cls, record: WalkForwardRecord, *, stale: bool) -> WalkForwardListItem:
        settings = record.settings
        return cls(
            walk_forward_id=record.id,
            created_at=record.created_at,
            status=record.status,
            stale=stale,
            error_message=record.error_message,
            strategy=record.config.strategy_type,
            instruments=list(record.config.instruments),
            start=record.config.start,
            end=record.config.end,
            objective=settings["objective"],
            train=settings["train"],
            test=settings["test"],
            step=settings["step"],
            anchored=settings["anchored"],
            windows_done=len(record.windows),
            efficiency=record.efficiency,
        )


@dataclass(frozen=True, slots=True)
class WalkForwardRecord:
    """A stored walk-forward analysis: what it was asked, and what it found so far."""

    id: str
    created_at: datetime
    status: RunStatus
    error_message: str | None
    config: BacktestConfig
    spec: SweepSpec | None  # None for analyses stored before the API ran them as jobs
    settings: dict[str, Any]  # train, test, step, anchored, objective
    windows: tuple[WindowResult, ...]
    efficiency: float | None
    # The training sweep of the window last started; if no stored window has it, that
    # window was cut short and resume continues the sweep.
    current_sweep_id: str | None = None
    # The process that last claimed it RUNNING; None for analyses stored before 0012.
    host: str | None = None
    host_pid: int | None = None
    holder_start: str | None = None  # which process that pid was; None before 0015


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    id: str
    config: BacktestConfig
    objective: str
    settings: dict[str, Any]
    windows: tuple[WindowResult, ...]
    efficiency: float | None
    # The stitched out-of-sample equity and the first instrument held over the same days.
    equity: pd.Series
    buy_and_hold: pd.Series
    benchmark_symbol: str
    warnings: tuple[str, ...]

    status: RunStatus = RunStatus.COMPLETED
    error_message: str | None = None
    stale: bool = False  # RUNNING, its process on this host gone

    def view(self) -> WalkForwardView:
        final = float(self.equity.iloc[-1]) if len(self.equity) else None
        return WalkForwardView(
            walk_forward_id=self.id,
            status=self.status,
            stale=self.stale,
            error_message=self.error_message,
            strategy=self.config.strategy_type,
            instruments=list(self.config.instruments),
            objective=self.objective,
            train=self.settings["train"],
            test=self.settings["test"],
            step=self.settings["step"],
            anchored=self.settings["anchored"],
            efficiency=self.efficiency,
            initial_capital=self.config.initial_capital,
            final_equity=final,
            out_of_sample_return=final / self.config.initial_capital - 1.0 if final else None,
            windows=[WindowView.model_validate(w.as_dict()) for w in self.windows],
        )

    def as_dict(self) -> dict[str, Any]:
        """What ``--json`` prints."""
        return self.view().model_dump(mode="json")
