"""A walk-forward analysis's windows and outcome, as its service returns them and its
report renders them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from ntrader.models.backtest import BacktestConfig


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

    def as_dict(self) -> dict[str, Any]:
        final = float(self.equity.iloc[-1]) if len(self.equity) else None
        return {
            "walk_forward_id": self.id,
            "strategy": self.config.strategy_type,
            "instruments": list(self.config.instruments),
            "objective": self.objective,
            **self.settings,
            "efficiency": self.efficiency,
            "initial_capital": self.config.initial_capital,
            "final_equity": final,
            "out_of_sample_return": final / self.config.initial_capital - 1.0 if final else None,
            "windows": [w.as_dict() for w in self.windows],
        }
