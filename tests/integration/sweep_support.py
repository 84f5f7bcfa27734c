"""What the sweep tests share: a small sweep on the sample data, and its runs read back."""

from __future__ import annotations

from datetime import date
from typing import Any

from ntrader.db.database import Database
from ntrader.models.backtest import BacktestConfig
from ntrader.models.sweep import SweepSpec

BASE = BacktestConfig(
    strategy_type="sma",
    instruments=("AAPL",),
    start=date(2019, 1, 1),
    end=date(2020, 12, 31),
)
# Four points, all valid: enough trials for CSCV (at least 4).
SPEC = SweepSpec(grid={"fast_period": "5,10", "slow_period": "20,40"})


def stored_runs(database: Database, sweep_id: str) -> dict[int, tuple[Any, list[Any]]]:
    """Each point's (metrics, trades) as stored."""
    with database.transaction() as repos:
        runs = repos.sweeps.runs(sweep_id)
        return {index: (run.metrics, repos.backtests.trades(run.id)) for index, run in runs.items()}
