"""Stored walk-forward analyses as the user browses them (each with its out-of-sample equity
chained from its test runs), and what the job machinery records of them.

Reading only (no engine is imported): `backtest walk-forward list` and `show` start fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from ntrader.core.errors import ConflictError, NotFoundError
from ntrader.db.database import Database, Repositories
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import RunStatus
from ntrader.models.sweep import SweepStatus
from ntrader.models.walk_forward import WalkForwardRecord, WalkForwardResult, WindowResult
from ntrader.services import liveness
from ntrader.services.cursors import newest_first_page, page_start
from ntrader.services.sweep_history import take_over_sweep

# What an analysis that stopped unfinished is stored as; only these can be resumed.
RESUMABLE = (RunStatus.INTERRUPTED, RunStatus.FAILED)


@dataclass(frozen=True, slots=True)
class WalkForwardPage:
    records: tuple[WalkForwardRecord, ...]
    next_cursor: str | None


def stitch(curves: Sequence[pd.Series], initial_capital: float) -> pd.Series:
    """Chain the test runs' equity: each run started at ``initial_capital``, so its curve is
    scaled by where the previous window ended over ``initial_capital``."""
    level = initial_capital
    parts = []
    for curve in curves:
        scaled = curve * (level / initial_capital)
        parts.append(scaled)
        if len(scaled):
            level = float(scaled.iloc[-1])
    return pd.concat(parts) if parts else pd.Series(dtype=float)


def find_walk_forward(repos: Repositories, walk_forward_ref: str) -> WalkForwardRecord:
    """An analysis by full id, unique prefix, or ``latest``; a miss says where to look."""
    try:
        return repos.walk_forwards.get(walk_forward_ref)
    except NotFoundError as error:
        # The store knows no commands, so the hint is added here.
        error.hint = "Run `ntrader backtest walk-forward list` to see the stored analyses."
        raise


def admit(repos: Repositories, walk_forward_ref: str, *, force: bool = False) -> WalkForwardRecord:
    """An analysis as resume takes it: one left RUNNING by a dead process is stored
    INTERRUPTED first, with what that process left RUNNING (its training sweep, its runs).
    With ``force``, so is one whose process cannot be checked from here (the user says it
    is gone)."""
    record = liveness.released(
        repos, find_walk_forward(repos, walk_forward_ref), repos.walk_forwards
    )
    if not (force and liveness.unverifiable(record)):
        return record
    shown = f"ntrader backtest walk-forward show {record.id[:8]}"
    reason = liveness.take_over(repos.walk_forwards, record, "Walk-forward analysis", shown)
    if record.current_sweep_id is not None:
        try:
            training = repos.sweeps.get(record.current_sweep_id)
        except NotFoundError:  # deleted meanwhile: the window trains a new one
            training = None
        if training is not None and training.status is SweepStatus.RUNNING:
            take_over_sweep(repos, training)
    if record.host is not None and record.host_pid is not None:
        repos.backtests.interrupt_held(  # its test run
            (record.host, record.host_pid, record.holder_start), reason
        )
    return repos.walk_forwards.get(record.id)


def not_resumable(record: WalkForwardRecord) -> ConflictError:
    """Why ``record`` cannot be resumed (it is not INTERRUPTED or FAILED, or it predates
    stored spaces)."""
    shown = f"`ntrader backtest walk-forward show {record.id[:8]}`"
    if record.spec is None:
        return ConflictError(
            f"Walk-forward analysis {record.id} was stored before analyses kept their "
            "sweep's space; it cannot be resumed.",
            hint="Start a new one with `ntrader backtest walk-forward`.",
        )
    sentence = (
        f"Walk-forward analysis {record.id} is {record.status.value}; only an INTERRUPTED or "
        "FAILED one can be resumed."
    )
    if record.status is RunStatus.COMPLETED:
        return ConflictError(sentence, hint=f"{shown} shows it.")
    if record.status is RunStatus.RUNNING:
        sentence = (
            f"Walk-forward analysis {record.id} is RUNNING in {liveness.holder(record)}; it "
            "can be resumed once it has stopped."
        )
    hint = (
        f"Wait until it stops, or cancel its job (POST /api/v1/walk-forwards/"
        f"{record.id[:8]}/cancel); {shown} shows how far it got."
    )
    if liveness.unverifiable(record):
        hint += (
            f" If that process is gone, `ntrader backtest walk-forward resume {record.id[:8]} "
            "--force` takes the analysis over."
        )
    return ConflictError(sentence, hint=hint)


class WalkForwardHistory:
    def __init__(self, database: Database) -> None:
        self._database = database

    def get(self, walk_forward_ref: str) -> WalkForwardRecord:
        """An analysis by full id, unique prefix, or ``latest``."""
        with self._database.transaction() as repos:
            return find_walk_forward(repos, walk_forward_ref)

    def list(self, last: int = 20) -> list[WalkForwardRecord]:
        with self._database.transaction() as repos:
            return repos.walk_forwards.list(last)

    def page(self, *, limit: int = 50, cursor: str | None = None) -> WalkForwardPage:
        """One page of the analyses, newest first; ``cursor`` is the previous page's
        ``next_cursor``."""
        with self._database.transaction() as repos:
            found = repos.walk_forwards.list(limit + 1, page_start(cursor))
        return WalkForwardPage(*newest_first_page(found, limit))

    def show(self, walk_forward_ref: str) -> WalkForwardResult:
        """A stored analysis as its run returned it (while it runs, or once it stopped, the
        windows done so far), its out-of-sample equity chained from its stored test runs."""
        return self.result(self.get(walk_forward_ref))

    def result(self, record: WalkForwardRecord) -> WalkForwardResult:
        equity = self.stitched(record.config, record.windows)
        settings = record.settings
        return WalkForwardResult(
            id=record.id,
            config=record.config,
            objective=settings["objective"],
            settings={key: settings[key] for key in ("train", "test", "step", "anchored")},
            windows=record.windows,
            efficiency=record.efficiency,
            equity=equity,
            buy_and_hold=equity.iloc[:0],
            benchmark_symbol=record.config.instruments[0],
            warnings=(),
            status=record.status,
            error_message=record.error_message,
            stale=liveness.is_stale(record),
        )

    def stitched(self, config: BacktestConfig, windows: Sequence[WindowResult]) -> pd.Series:
        """The windows' test runs' equity, chained."""
        with self._database.transaction() as repos:
            curves = [_equity(repos.backtests.snapshots(w.test_run_id)) for w in windows]
        return stitch(curves, config.initial_capital)

    def requeue(self, walk_forward_ref: str, *, force: bool = False) -> WalkForwardRecord:
        """Store a stopped analysis PENDING again with the windows it finished, for a job to
        run the rest; refused unless it is INTERRUPTED, FAILED or stale (or, with ``force``,
        RUNNING in a process that cannot be checked from here)."""
        with self._database.transaction() as repos:
            record = admit(repos, walk_forward_ref, force=force)
            if record.spec is None or not repos.walk_forwards.claim(
                record.id, RESUMABLE, RunStatus.PENDING
            ):
                raise not_resumable(record)
            return repos.walk_forwards.get(record.id)

    def end(self, walk_forward_id: str, status: RunStatus, reason: str) -> None:
        """Record that an analysis stopped unfinished (its job died) and why; the windows
        it finished stay."""
        with self._database.transaction() as repos:
            repos.walk_forwards.update(walk_forward_id, status, error_message=reason)

    def interrupt_abandoned(self, created_before: datetime) -> list[str]:
        """Mark INTERRUPTED the analyses a stopped job runner left queued and those left
        RUNNING by a process that is gone; returns their ids."""
        with self._database.transaction() as repos:
            stale = liveness.release_all_stale(repos, repos.walk_forwards)
            return repos.walk_forwards.interrupt_pending(created_before) + stale


def _equity(snapshots: Sequence[Any]) -> pd.Series:
    return pd.Series(
        [s.total_value for s in snapshots],
        index=pd.DatetimeIndex([s.ts for s in snapshots]),
        dtype=float,
    )
