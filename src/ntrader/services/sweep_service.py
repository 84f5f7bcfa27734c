"""Parameter sweeps: plan the points, load the bars once, run the points on an executor,
store each as a normal run, rank them by the objective, and judge the winner's luck."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from typing import Any

import numpy as np
import pandas as pd

from ntrader.core import strategy_registry
from ntrader.core.errors import ConflictError, NtraderError, UserInputError
from ntrader.core.interrupts import how_stopped, stop_reason, stop_signal
from ntrader.core.nautilus_bars import close_times_ns
from ntrader.db.database import Database, Repositories
from ntrader.models.backtest import BacktestConfig, RunRecord
from ntrader.models.enums import RunStatus
from ntrader.models.sweep import DEFAULT_CONFIRM_TOP, SweepRecord, SweepSpec, SweepStatus
from ntrader.services.backtest_service import (
    BacktestService,
    LoadedInputs,
    engine_versions,
    refused_orders_warning,
)
from ntrader.services.liveness import this_process
from ntrader.services.metrics import daily_returns
from ntrader.services.overfitting import sweep_statistics
from ntrader.services.screen import ScreenedSweep, agreement, screen_sweep, sweep_refusal
from ntrader.services.simulation import annualised
from ntrader.services.sweep_executors import PointOutcome, PointTask, SharedInputs, SweepExecutor
from ntrader.services.sweep_history import (
    SweepHistory,
    SweepRunView,
    SweepSummary,
    rank,
    ranked,
    row_of,
    still_running,
)
from ntrader.services.sweep_space import SweepPlan, plan_points
from ntrader.utils.sessions import last_of_day, new_york_days

# A run that ended like this is done: resuming a sweep runs every other point again.
_FINISHED = (RunStatus.COMPLETED, RunStatus.FAILED)
# What a sweep may be resumed from: queued again by the API, stopped, or finished with
# some of its runs deleted since (a stale RUNNING one is stored INTERRUPTED first).
_RESUMABLE = (SweepStatus.PENDING, SweepStatus.INTERRUPTED, SweepStatus.COMPLETED)


class SweepInterruptedError(NtraderError):
    """Ctrl-C (or SIGTERM) during a sweep: finished runs are kept; it can be resumed."""

    def __init__(
        self, sweep_id: str, done: int, total: int, stopped_by: signal.Signals = signal.SIGINT
    ) -> None:
        super().__init__(
            f"Sweep {sweep_id[:8]} was {how_stopped(stopped_by)} after {done} of {total} runs; "
            "the finished runs are stored.",
            hint=f"Run the rest with `ntrader backtest sweep resume {sweep_id[:8]}`.",
        )
        self.sweep_id = sweep_id
        self.done, self.total = done, total
        # 128 + the signal number, as a shell reports a process the signal ended.
        self.exit_code = 128 + stopped_by

    def details(self) -> dict[str, Any]:
        return {"sweep_id": self.sweep_id, "runs_done": self.done, "runs": self.total}


# (runs done, runs in the sweep, the best row so far or None)
PointCallback = Callable[[int, int, SweepRunView | None], None]


def _best(rows: Iterable[SweepRunView]) -> SweepRunView | None:
    return next((row for row in rank(rows) if row.objective is not None), None)


def _agreement(rows: Iterable[SweepRunView]) -> dict[str, float | int | None]:
    """The screen's objective against the engine's, over the points the engine confirmed."""
    return agreement(
        [
            (row.screen["objective"], row.objective)
            for row in rows
            if row.screen is not None
            and row.screen["objective"] is not None
            and row.objective is not None
        ]
    )


class SweepService:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._backtests = BacktestService(database)

    def plan(self, base: BacktestConfig, spec: SweepSpec) -> tuple[BacktestConfig, SweepPlan]:
        """The base configuration resolved (strategy type, stored strategy's parameters,
        defaults, with the configuration's own on top) and the sweep's validated points.
        Nothing is stored: a refused sweep leaves no trace."""
        # Resolve without the overrides: they are checked per point, where the varied
        # parameters complete them (a fast period above the default slow one is fine when
        # the sweep varies the slow one).
        resolved, _ = self._backtests.prepare(base.model_copy(update={"parameters": {}}))
        strategy_type = strategy_registry.resolve(resolved.strategy_type)
        known = set(strategy_type.params.model_fields)
        unknown = sorted(set(base.parameters) - known)
        if unknown:
            raise UserInputError(
                f"{strategy_type.name} has no parameter {', '.join(map(repr, unknown))}; its "
                f"parameters: {', '.join(sorted(known))}.",
                hint="`ntrader strategy types` lists each strategy's parameters.",
            )
        parameters = {**resolved.parameters, **base.parameters}
        plan = plan_points(strategy_type, parameters, spec)
        timeframes = {strategy_type.validate(p).higher_timeframe() for p in plan.points}
        if len(timeframes) > 1:
            raise UserInputError(
                "The sweep's points need different second timeframes (some use a trend "
                "filter, some not); a sweep reads one set of bars.",
                hint="Sweep the trend filter's period only with values, never empty.",
            )
        return resolved.model_copy(update={"parameters": parameters}), plan

    def start(
        self,
        base: BacktestConfig,
        spec: SweepSpec,
        executor: SweepExecutor,
        on_point: PointCallback | None = None,
        *,
        confirm_top: int | None = DEFAULT_CONFIRM_TOP,
    ) -> SweepSummary:
        """Plan, store the sweep, run the points; returns the ranking (``create`` then
        ``run_created``)."""
        sweep, plan = self.create(base, spec, executor.name)
        summary = self.run_created(sweep.id, executor, on_point, confirm_top=confirm_top)
        return dataclasses.replace(summary, refused=plan.refused, refusal=plan.refusal)

    def create(
        self, base: BacktestConfig, spec: SweepSpec, executor: str
    ) -> tuple[SweepRecord, SweepPlan]:
        """Plan the sweep and check its bars (counted, not read), then store it PENDING
        with its points; a refused sweep stores nothing."""
        resolved, plan = self.plan(base, spec)
        self._backtests.check(self._point_config(resolved, plan.points[0]))
        with self._database.transaction() as repos:
            sweep_id = repos.sweeps.create(resolved, spec, executor, plan.points)
            return repos.sweeps.get(sweep_id), plan

    def run_created(
        self,
        sweep_ref: str,
        executor: SweepExecutor,
        on_point: PointCallback | None = None,
        *,
        confirm_top: int | None = DEFAULT_CONFIRM_TOP,
    ) -> SweepSummary:
        """Run a PENDING sweep (stored by ``create``): read the bars once, screen it, run
        its points.

        With ``confirm_top`` the vectorised screen (services/screen.py) ranks every point
        and only that many of its best run through the engine; when the screen cannot
        reproduce the engine for this configuration, every point runs, with a note saying
        why. ``confirm_top=None`` runs every point without a screen.
        """
        sweep = SweepHistory(self._database).get(sweep_ref)
        if sweep.status is not SweepStatus.PENDING:
            raise _not_pending(sweep)
        points = [point.parameters for point in sweep.points]
        executor.warm_up()
        daily_equity = None
        try:
            loaded = self._backtests.load(self._point_config(sweep.base_config, points[0]))
            warnings = list(loaded.warnings)
            if confirm_top is not None:
                refusal, daily_equity = self._screen(sweep, points, loaded, confirm_top)
                warnings += refusal
        except BaseException as exc:
            # Stopped before any point ran: the sweep must not stay PENDING; resume runs it.
            self._stop(sweep.id, (), exc)
            if isinstance(exc, KeyboardInterrupt):
                raise SweepInterruptedError(sweep.id, 0, len(points), stop_signal(exc)) from exc
            raise
        summary = self._run(
            sweep.id, (SweepStatus.PENDING,), loaded, executor, on_point, daily_equity
        )
        return dataclasses.replace(summary, warnings=(*warnings, *summary.warnings))

    def _screen(
        self,
        sweep: SweepRecord,
        points: list[dict[str, Any]],
        loaded: LoadedInputs,
        confirm_top: int,
    ) -> tuple[list[str], pd.DataFrame | None]:
        """Screen every point and store which ones the engine confirms. Returns a warning
        when the screen cannot reproduce the engine for this configuration, else the
        screen's daily equity of every point (for the overfitting statistics)."""
        name = strategy_registry.resolve(sweep.base_config.strategy_type).name
        refusal = sweep_refusal(sweep.base_config, name, points)
        if refusal is not None:
            return [f"No screen ({refusal}): every point runs through the engine."], None
        screened = _screened(sweep.base_config, points, loaded, sweep.spec.objective, confirm_top)
        with self._database.transaction() as repos:
            repos.sweeps.set_screen(sweep.id, screened.stored)
        return [], screened.daily_equity

    def resume(
        self,
        sweep_ref: str,
        executor: SweepExecutor,
        on_point: PointCallback | None = None,
        *,
        force: bool = False,
    ) -> SweepSummary:
        """Run the points of a stored sweep that have no finished run (interrupted, left
        RUNNING by a process that is gone, never started, or whose run was deleted); the
        finished ones are kept as they are. One another process may be running is refused;
        ``force`` takes over one whose process cannot be checked from here."""
        sweep = SweepHistory(self._database).admit(sweep_ref, force=force)
        executor.warm_up()
        first = self._point_config(sweep.base_config, sweep.points[0].parameters)
        loaded = self._backtests.load(first)
        daily_equity = None
        if any(point.screen is not None for point in sweep.points):
            # The screen is recomputed (it is cheap) for its equity, which is not stored.
            points = [point.parameters for point in sweep.points]
            confirm_top = sum(1 for p in sweep.points if p.screen and p.screen["confirm"])
            objective = sweep.spec.objective
            screened = _screened(sweep.base_config, points, loaded, objective, confirm_top)
            daily_equity = screened.daily_equity
        summary = self._run(sweep.id, _RESUMABLE, loaded, executor, on_point, daily_equity)
        return dataclasses.replace(summary, warnings=(*loaded.warnings, *summary.warnings))

    @staticmethod
    def _point_config(base: BacktestConfig, parameters: dict[str, Any]) -> BacktestConfig:
        return base.model_copy(update={"parameters": parameters})

    def _run(
        self,
        sweep_id: str,
        allowed: Sequence[SweepStatus],
        loaded: LoadedInputs,
        executor: SweepExecutor,
        on_point: PointCallback | None,
        screened_equity: pd.DataFrame | None,
    ) -> SweepSummary:
        notify = on_point or (lambda _done, _total, _best: None)
        with self._database.transaction() as repos:
            # Claimed with this process, in one statement: a second `resume` is refused,
            # and a kill -9 leaves a record resume can tell stale.
            if not repos.sweeps.claim(sweep_id, allowed, this_process()):
                raise _not_pending(repos.sweeps.get(sweep_id))
            sweep = repos.sweeps.get(sweep_id)
            runs = repos.sweeps.runs(sweep_id)
            strategy_id = self._stored_strategy_id(repos, sweep.base_config)
            todo: dict[int, str] = {}  # point index -> its run
            tasks = []
            for point in sweep.points:
                run = runs.get(point.index)
                if run is not None and run.status in _FINISHED:
                    continue
                if point.screen is not None and not point.screen["confirm"]:
                    continue  # the screen's figures stand for this point
                config = self._point_config(sweep.base_config, point.parameters)
                if run is None:
                    run_id = repos.backtests.create(config, strategy_id=strategy_id)
                    repos.sweeps.link_run(sweep_id, point.index, run_id)
                else:
                    run_id = run.id
                todo[point.index] = run_id
                tasks.append(PointTask(point.index, config))
        total = len(tasks) + sum(1 for run in runs.values() if run.status in _FINISHED)
        rows = {
            p.index: row_of(
                p.index, p.parameters, runs.get(p.index), sweep.spec.objective, p.screen
            )
            for p in sweep.points
        }
        done = total - len(tasks)
        shared = SharedInputs(
            loaded.inputs,
            loaded.conversions,
            loaded.benchmark,
            annualised(sweep.base_config, loaded.inputs),
        )
        fingerprint = loaded.fingerprint()
        notify(done, total, _best(rows.values()))
        refusals = []
        try:
            with closing(executor.run(shared, tasks)) as outcomes:
                for outcome in outcomes:
                    run = self._store(todo.pop(outcome.index), outcome, fingerprint)
                    refused = outcome.result.refused_orders if outcome.result else ()
                    if refused:
                        warning = refused_orders_warning(refused)
                        refusals.append((outcome.index, f"Run {run.id[:8]}: {warning}"))
                    point = sweep.points[outcome.index]
                    rows[outcome.index] = row_of(
                        point.index, point.parameters, run, sweep.spec.objective, point.screen
                    )
                    done += 1
                    notify(done, total, _best(rows.values()))
        except BaseException as exc:
            self._stop(sweep_id, todo.values(), exc)
            if isinstance(exc, KeyboardInterrupt):
                raise SweepInterruptedError(sweep_id, done, total, stop_signal(exc)) from exc
            raise
        summary = self._finish(sweep_id, screened_equity)
        return dataclasses.replace(summary, warnings=tuple(text for _, text in sorted(refusals)))

    @staticmethod
    def _stored_strategy_id(repos: Repositories, base: BacktestConfig) -> str | None:
        stored = repos.strategies.get(base.strategy_name) if base.strategy_name else None
        return stored.id if stored is not None else None

    def _store(self, run_id: str, outcome: PointOutcome, fingerprint: str) -> RunRecord:
        """Record one point's run as the backtest service records a run."""
        with self._database.transaction() as repos:
            repos.backtests.mark_running(
                run_id,
                (outcome.host, outcome.pid, None),  # a worker's: stored finished at once
                engine_versions(),
                started_at=outcome.started_at,
            )
            if outcome.result is not None:
                repos.backtests.complete(
                    run_id,
                    metrics=outcome.result.metrics,
                    trade_records=outcome.result.trades,
                    snapshots=outcome.result.snapshots,
                    data_fingerprint=fingerprint,
                )
            else:
                repos.backtests.mark_finished(run_id, RunStatus.FAILED, outcome.error)
            return repos.backtests.get(run_id)

    def _stop(self, sweep_id: str, unfinished: Iterable[str], cause: BaseException) -> None:
        """Mark the sweep and its unfinished runs INTERRUPTED with the reason; if the store
        fails too, the original error is what the user must see."""
        if isinstance(cause, KeyboardInterrupt):
            reason = stop_reason(cause)
        elif isinstance(cause, NtraderError):
            reason = cause.message  # the sentence the CLI prints: its bars are gone, ...
        else:
            reason = f"the sweep stopped: {type(cause).__name__}"
        try:
            with self._database.transaction() as repos:
                for run_id in unfinished:
                    repos.backtests.mark_finished(run_id, RunStatus.INTERRUPTED, reason)
                repos.sweeps.set_status(sweep_id, SweepStatus.INTERRUPTED, error_message=reason)
        except Exception as exc:
            raise cause from exc

    def _finish(self, sweep_id: str, screened_equity: pd.DataFrame | None) -> SweepSummary:
        """Rank the runs, compute the overfitting statistics from their stored equity
        curves (and the screen's, for points the engine did not run), and mark the sweep
        COMPLETED."""
        with self._database.transaction() as repos:
            sweep = repos.sweeps.get(sweep_id)
            runs = repos.sweeps.runs(sweep_id)
            rows = ranked(sweep, runs)
            statistics = self._statistics(repos, sweep, rows, screened_equity)
            if any(point.screen is not None for point in sweep.points):
                statistics = {**(statistics or {}), "screen_agreement": _agreement(rows)}
            repos.sweeps.set_status(sweep_id, SweepStatus.COMPLETED, statistics)
            sweep = repos.sweeps.get(sweep_id)
        return SweepSummary(sweep=sweep, rows=rows)

    @staticmethod
    def _statistics(
        repos: Repositories,
        sweep: SweepRecord,
        rows: tuple[SweepRunView, ...],
        screened_equity: pd.DataFrame | None,
    ) -> dict[str, Any] | None:
        """Deflated Sharpe ratio of the best run and PBO over every point tried: the
        completed runs' daily returns (their stored equity at each New York day's last
        snapshot, as the metrics read it) and, for a point only the screen ran, the
        screen's proxy returns, on the days they share. None without a completed run or
        with fewer than two trials."""
        completed = [row for row in rows if row.status is RunStatus.COMPLETED]
        if not completed:
            return None
        equity = repos.sweeps.equity_points(sweep.id)
        initial = sweep.base_config.initial_capital
        returns = {}
        for row in completed:
            ts, values = equity[row.index]
            days = new_york_days(ts)
            closing = last_of_day(days)
            curve = np.concatenate([[initial], values[closing]])
            returns[row.index] = pd.Series(daily_returns(curve), index=days[closing])
        screened_only = []
        if screened_equity is not None:
            for row in rows:
                if row.status is not RunStatus.COMPLETED and row.index in screened_equity:
                    curve = np.concatenate([[1.0], screened_equity[row.index].to_numpy()])
                    index = screened_equity.index
                    returns[row.index] = pd.Series(daily_returns(curve), index=index)
                    screened_only.append(row.index)
        if len(returns) < 2:
            return None
        matrix = pd.DataFrame(returns).dropna()
        best = list(matrix.columns).index(completed[0].index)
        statistics = sweep_statistics(matrix.to_numpy(), best).as_dict()
        return {
            **statistics,
            "screened_trials": len(screened_only),
            "best_run_id": completed[0].run_id,
        }


def _not_pending(sweep: SweepRecord) -> ConflictError:
    """The refusal to start a sweep that is no longer PENDING (or to resume one another
    process has claimed meanwhile)."""
    if sweep.status is SweepStatus.RUNNING:
        return still_running(sweep)
    return ConflictError(
        f"Sweep {sweep.id} is {sweep.status.value}; only a PENDING sweep can be started.",
        hint=f"`ntrader backtest sweep resume {sweep.id[:8]}` runs its missing points.",
    )


def _screened(
    base: BacktestConfig,
    points: Sequence[dict[str, Any]],
    loaded: LoadedInputs,
    objective: str,
    confirm_top: int,
) -> ScreenedSweep:
    """The screen of a single-instrument sweep on its loaded bars."""
    (item,) = loaded.inputs
    closes = pd.to_datetime(
        close_times_ns(item.spec, item.timeframe, item.bars.ts), unit="ns", utc=True
    )
    name = strategy_registry.resolve(base.strategy_type).name
    return screen_sweep(
        base, name, points, item.bars, new_york_days(closes), objective, confirm_top
    )
