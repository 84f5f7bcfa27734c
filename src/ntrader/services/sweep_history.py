"""Stored sweeps as the user browses them: each point's run ranked by the sweep's objective.

Reading only (no engine is imported): `backtest sweep show` and `list` start fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from ntrader.core.errors import ConflictError, NotFoundError
from ntrader.db.database import Database, Repositories
from ntrader.models.backtest import RunRecord
from ntrader.models.enums import RunStatus
from ntrader.models.sweep import (
    OBJECTIVES,
    SweepRecord,
    SweepRunView,
    SweepStatus,
    SweepView,
)
from ntrader.services.cursors import newest_first_page, page_start
from ntrader.services.liveness import (
    holder,
    is_stale,
    release_all_stale,
    released,
    take_over,
    unverifiable,
)

# The figures each ranked run shows beside its objective: (name, metrics group, key).
KEY_METRICS = (
    ("total_return", "returns", "total_return"),
    ("sharpe_ratio", "risk", "sharpe_ratio"),
    ("max_drawdown", "risk", "max_drawdown"),
    ("calmar_ratio", "risk", "calmar_ratio"),
    ("total_trades", "trading", "total_trades"),
    ("win_rate", "trading", "win_rate"),
)


@dataclass(frozen=True, slots=True)
class SweepPage:
    sweeps: tuple[SweepRecord, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class SweepSummary:
    """A sweep with its points ranked best first (points without a finished run last)."""

    sweep: SweepRecord
    rows: tuple[SweepRunView, ...]
    refused: int = 0  # points the strategy's own rules refused (planning a new sweep only)
    refusal: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def objective(self) -> str:
        return self.sweep.spec.objective

    def view(self) -> SweepView:
        return SweepView(
            sweep_id=self.sweep.id,
            status=self.sweep.status,
            stale=is_stale(self.sweep),
            error_message=self.sweep.error_message,
            strategy=self.sweep.base_config.strategy_type,
            objective=self.objective,
            executor=self.sweep.executor,
            points=len(self.sweep.points),
            refused_points=self.refused,
            statistics=self.sweep.statistics,
            warnings=list(self.warnings),
            runs=list(self.rows),
        )

    def as_dict(self) -> dict[str, Any]:
        """What ``--json`` prints (infinite figures are written as null, with a note)."""
        return self.view().model_dump()


def objective_of(metrics: dict[str, Any] | None, objective: str) -> float | None:
    group, key = OBJECTIVES[objective]
    value = ((metrics or {}).get(group) or {}).get(key)
    return float(value) if isinstance(value, int | float) and np.isfinite(value) else None


def row_of(
    index: int,
    parameters: dict[str, Any],
    run: RunRecord | None,
    objective: str,
    screen: dict[str, Any] | None = None,
) -> SweepRunView:
    metrics = run.metrics.stored() if run is not None and run.metrics is not None else None
    return SweepRunView(
        index=index,
        parameters=parameters,
        run_id=run.id if run is not None else None,
        status=run.status if run is not None else None,
        objective=objective_of(metrics, objective),
        metrics={
            name: ((metrics or {}).get(group) or {}).get(key) for name, group, key in KEY_METRICS
        },
        screen=screen,
    )


def _screened(row: SweepRunView) -> float | None:
    return row.screen["objective"] if row.screen is not None else None


def rank(rows: Iterable[SweepRunView]) -> tuple[SweepRunView, ...]:
    """Best objective first; rows without one (failed, not run, only screened) last, best
    screened objective first, then in point order."""
    return tuple(
        sorted(
            rows,
            key=lambda r: (
                r.objective is None,
                -(r.objective or 0.0),
                _screened(r) is None,
                -(_screened(r) or 0.0),
                r.index,
            ),
        )
    )


def ranked(sweep: SweepRecord, runs: dict[int, RunRecord]) -> tuple[SweepRunView, ...]:
    """Every point of ``sweep`` with its run (if any), best first."""
    objective = sweep.spec.objective
    return rank(
        row_of(p.index, p.parameters, runs.get(p.index), objective, p.screen) for p in sweep.points
    )


def find_sweep(repos: Repositories, sweep_ref: str) -> SweepRecord:
    """A sweep by full id, unique prefix, or ``latest``; a miss says where to look."""
    try:
        return repos.sweeps.get(sweep_ref)
    except NotFoundError as error:
        # The store knows no commands, so the hint is added here.
        error.hint = "Run `ntrader backtest sweep list` to see the stored sweeps."
        raise


def still_running(sweep: SweepRecord) -> ConflictError:
    """The refusal to start or resume a sweep another process runs."""
    shown = f"`ntrader backtest sweep show {sweep.id[:8]}` shows how far it got"
    if unverifiable(sweep):
        hint = (
            f"{shown}. Stop it first; if that process is gone, `ntrader backtest sweep resume "
            f"{sweep.id[:8]} --force` takes the sweep over."
        )
    else:
        hint = f"{shown}; stop it first (Ctrl-C in its terminal, or cancel its job)."
    return ConflictError(
        f"Sweep {sweep.id} is RUNNING in {holder(sweep)}; it can be resumed once it has stopped.",
        hint=hint,
    )


def interrupt_runs(repos: Repositories, sweep_id: str, reason: str) -> None:
    """Store the sweep's runs that were left PENDING or RUNNING INTERRUPTED with the reason:
    resume runs them again."""
    for run in repos.sweeps.runs(sweep_id).values():
        if run.status in (RunStatus.PENDING, RunStatus.RUNNING):
            repos.backtests.mark_finished(run.id, RunStatus.INTERRUPTED, reason)


def take_over_sweep(repos: Repositories, sweep: SweepRecord) -> str:
    """Take over ``sweep`` and its unfinished runs (``liveness.take_over``); the reason."""
    shown = f"ntrader backtest sweep show {sweep.id[:8]}"
    reason = take_over(repos.sweeps, sweep, "Sweep", shown)
    interrupt_runs(repos, sweep.id, reason)
    return reason


def admit(repos: Repositories, sweep_ref: str, *, force: bool = False) -> SweepRecord:
    """A sweep that may be resumed as it stands: one left RUNNING by a dead process is
    stored INTERRUPTED first (with what that process left RUNNING); one whose process may
    still run it is refused, unless ``force`` takes over one whose process cannot be
    checked from here (the user says it is gone)."""
    sweep = released(repos, find_sweep(repos, sweep_ref), repos.sweeps)
    if sweep.status is SweepStatus.RUNNING:
        if not (force and unverifiable(sweep)):
            raise still_running(sweep)
        take_over_sweep(repos, sweep)
        return repos.sweeps.get(sweep.id)
    return sweep


class SweepHistory:
    def __init__(self, database: Database) -> None:
        self._database = database

    def get(self, sweep_ref: str) -> SweepRecord:
        with self._database.transaction() as repos:
            return find_sweep(repos, sweep_ref)

    def list(self, last: int = 20) -> list[SweepRecord]:
        with self._database.transaction() as repos:
            return repos.sweeps.list(last)

    def page(self, *, limit: int = 50, cursor: str | None = None) -> SweepPage:
        """One page of the sweeps, newest first; ``cursor`` is the previous page's
        ``next_cursor``."""
        with self._database.transaction() as repos:
            found = repos.sweeps.list(limit + 1, page_start(cursor))
        return SweepPage(*newest_first_page(found, limit))

    def interrupt(self, sweep_id: str, reason: str) -> None:
        """Store a sweep whose job ended without finishing it INTERRUPTED with the reason,
        and its runs that were left PENDING or RUNNING: `backtest sweep resume` runs them
        again."""
        with self._database.transaction() as repos:
            interrupt_runs(repos, sweep_id, reason)
            repos.sweeps.set_status(sweep_id, SweepStatus.INTERRUPTED, error_message=reason)

    def end_pending(self, sweep_id: str, reason: str) -> None:
        """Store a sweep that is still PENDING INTERRUPTED with the reason (its job was
        refused before it ran); one that started has stored its own end, and one deleted
        meanwhile has nothing to end."""
        with self._database.transaction() as repos:
            try:
                sweep = repos.sweeps.get(sweep_id)
            except NotFoundError:
                return
            if sweep.status is SweepStatus.PENDING:
                repos.sweeps.set_status(sweep_id, SweepStatus.INTERRUPTED, error_message=reason)

    def admit(self, sweep_ref: str, *, force: bool = False) -> SweepRecord:
        """A sweep that may be resumed (see ``admit``)."""
        with self._database.transaction() as repos:
            return admit(repos, sweep_ref, force=force)

    def requeue(self, sweep_ref: str, *, force: bool = False) -> SweepRecord:
        """Store a sweep PENDING again, for a job to resume it; refused while it runs or
        is queued (a stale one is taken as an interrupted one, and ``force`` takes over one
        whose process cannot be checked from here)."""
        with self._database.transaction() as repos:
            sweep = admit(repos, sweep_ref, force=force)
            if sweep.status is SweepStatus.PENDING:
                raise ConflictError(
                    f"Sweep {sweep.id} is PENDING; it can be resumed once it has stopped.",
                    hint=f"`ntrader backtest sweep show {sweep.id[:8]}` shows it.",
                )
            repos.sweeps.set_status(sweep.id, SweepStatus.PENDING, sweep.statistics)
            return repos.sweeps.get(sweep.id)

    def interrupt_abandoned(self, created_before: datetime) -> list[str]:
        """Mark INTERRUPTED the sweeps a stopped job runner left queued (PENDING, created
        before ``created_before``) and those left RUNNING by a process that is gone;
        returns their ids."""
        with self._database.transaction() as repos:
            stale = release_all_stale(repos, repos.sweeps)
            return repos.sweeps.interrupt_pending(created_before) + stale

    def show(self, sweep_ref: str) -> SweepSummary:
        with self._database.transaction() as repos:
            sweep = find_sweep(repos, sweep_ref)
            runs = repos.sweeps.runs(sweep.id)
        return SweepSummary(sweep=sweep, rows=ranked(sweep, runs))
