"""What the sweep tests share: a small sweep on the sample data, and its runs read back."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import update

from ntrader.db.database import Database
from ntrader.db.tables import sweeps, walk_forwards
from ntrader.models.backtest import BacktestConfig
from ntrader.models.sweep import SweepSpec
from ntrader.services.sweep_service import SweepService
from ntrader.services.walk_forward import Duration, WalkForwardService

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


def running_sweep_and_analysis(
    database_url: str, host: str | None, pid: int | None
) -> tuple[str, str]:
    """A sweep and a walk-forward analysis of ``BASE`` and ``SPEC``, stored RUNNING in the
    process ``pid`` on ``host`` (None: not recorded, as before migration 0012)."""
    database = Database(database_url)
    sweep, _plan = SweepService(database).create(BASE, SPEC, "local")
    walk_forward_id = WalkForwardService(database).create(
        BASE, SPEC, train=Duration(12, "M"), test=Duration(6, "M")
    )
    with database.transaction() as repos:
        for table, row_id in ((sweeps, sweep.id), (walk_forwards, walk_forward_id)):
            repos.connection.execute(
                update(table)
                .where(table.c.id == row_id)
                .values(status="RUNNING", host=host, host_pid=pid)
            )
    database.dispose()
    return sweep.id, walk_forward_id
