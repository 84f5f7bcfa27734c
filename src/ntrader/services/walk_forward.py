"""Walk-forward analysis: optimise on each training window with a sweep, run the winner on
the test window that follows, and chain the test runs' equity into one out-of-sample curve.

Efficiency and stitching are defined in docs/research.md, "Walk-forward".
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ntrader.core.errors import ConflictError, NotFoundError, NtraderError, UserInputError
from ntrader.core.interrupts import how_stopped, stop_signal
from ntrader.db.database import Database, Repositories
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import RunStatus
from ntrader.models.sweep import SweepSpec, SweepStatus
from ntrader.models.walk_forward import (
    WalkForwardRecord,
    WalkForwardResult,
    Window,
    WindowResult,
)
from ntrader.services.backtest_service import (
    MIN_TRADING_DAYS,
    BacktestService,
    RunInterruptedError,
    failure_text,
)
from ntrader.services.instruments import find_stored
from ntrader.services.liveness import this_process
from ntrader.services.sweep_executors import SweepExecutor
from ntrader.services.sweep_history import SweepHistory, SweepSummary, objective_of
from ntrader.services.sweep_service import PointCallback, SweepInterruptedError, SweepService
from ntrader.services.walk_forward_history import (
    RESUMABLE,
    WalkForwardHistory,
    admit,
    find_walk_forward,
    not_resumable,
)
from ntrader.utils.timeutil import date_to_ns

MAX_WINDOWS = 200
# The longest duration any of --train, --test, --step may name: a century.
_MAX_DAYS = 36_525
_DURATION = re.compile(r"([1-9][0-9]{0,4})([DWMY])")
_UNIT_DAYS = {"D": 1, "W": 7, "M": 31, "Y": 366}  # the most days a unit can span
_DAYS_PER_YEAR = 365.25
# Objectives that grow with the window's length; the others are rates or ratios already
# (annualised by the metrics, or not time-scaled at all).
_CUMULATIVE = frozenset({"total_return"})


@dataclass(frozen=True, slots=True)
class Duration:
    """A calendar length such as 12M: ``count`` days (D), weeks (W), months (M) or years (Y)."""

    count: int
    unit: str

    def offset(self, times: int = 1) -> pd.DateOffset:
        count = self.count * times
        return {
            "D": pd.DateOffset(days=count),
            "W": pd.DateOffset(weeks=count),
            "M": pd.DateOffset(months=count),
            "Y": pd.DateOffset(years=count),
        }[self.unit]

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"


def parse_duration(text: str, flag: str) -> Duration:
    """``12M``, ``3M``, ``90D``, ``2W``, ``1Y`` (case-insensitive); anything else, a zero or
    more than a century, is refused."""
    match = _DURATION.fullmatch(text.strip().upper()) if len(text) <= 16 else None
    if match is None:
        raise UserInputError(
            f"{flag} {text!r} is not a duration.",
            hint="Write a whole number and a unit: 90D, 2W, 12M or 1Y.",
        )
    duration = Duration(int(match.group(1)), match.group(2))
    if duration.count * _UNIT_DAYS[duration.unit] > _MAX_DAYS:
        raise UserInputError(
            f"{flag} {text!r} is longer than a century.", hint="Use a shorter duration."
        )
    return duration


def plan_windows(
    start: date, end: date, train: Duration, test: Duration, step: Duration, *, anchored: bool
) -> list[Window]:
    """The windows over [start, end]. The k-th test window starts at start + train + k·step
    (each boundary is computed from ``start``, so month ends do not drift) and lasts
    ``test``, the last one cut at ``end``; its training window is the ``train`` before it
    (rolling) or everything from ``start`` (anchored). A step shorter than the test would
    make test windows overlap and is refused."""
    origin = pd.Timestamp(start)
    if origin + step.offset() < origin + test.offset():
        raise UserInputError(
            f"The step {step} is shorter than the test window {test}: test windows would "
            "overlap and the out-of-sample equity could not be chained.",
            hint="Leave --step out (it defaults to --test) or make it at least --test.",
        )
    windows: list[Window] = []
    test_start = (origin + train.offset()).date()
    while test_start <= end:
        k = len(windows)
        if k == MAX_WINDOWS:
            raise UserInputError(
                f"The span {start} → {end} makes more than {MAX_WINDOWS} windows.",
                hint="Use a longer --step or --test, or a shorter span.",
            )
        next_start = (origin + train.offset() + step.offset(k + 1)).date()
        # From ``start`` in one offset where the units agree, so a clipped month end (Jan 31
        # + 1M = Feb 28) does not shorten the window; never past the next test window.
        if step.unit == test.unit:
            after = (
                origin + train.offset() + Duration(step.count * k + test.count, test.unit).offset()
            )
        else:
            after = pd.Timestamp(test_start) + test.offset()
        test_end = min(after.date(), next_start) - timedelta(days=1)
        train_start = start if anchored else (origin + step.offset(k)).date()
        windows.append(
            Window(train_start, test_start - timedelta(days=1), test_start, min(test_end, end))
        )
        test_start = next_start
    if not windows:
        raise UserInputError(
            f"The span {start} → {end} is shorter than the training window {train} plus a day "
            "of test.",
            hint="Widen --start/--end or shorten --train.",
        )
    return windows


def annualised_objective(
    objective: str, value: float | None, first: date, last: date
) -> float | None:
    """``value`` on a yearly scale: a total return compounds to a year over the window's
    calendar days; every other objective is a yearly rate or a scale-free ratio already."""
    if value is None or objective not in _CUMULATIVE:
        return value
    growth = 1.0 + value
    if growth <= 0.0:
        return -1.0
    return float(growth ** (_DAYS_PER_YEAR / ((last - first).days + 1)) - 1.0)


def efficiency(pairs: Sequence[tuple[float | None, float | None]]) -> float | None:
    """Walk-forward efficiency: mean annualised out-of-sample objective over mean annualised
    in-sample objective, on the windows that have both; None when there are none or the
    in-sample mean is not positive (the ratio would not mean "kept this share")."""
    both = [(i, o) for i, o in pairs if i is not None and o is not None]
    if not both:
        return None
    in_sample = float(np.mean([i for i, _ in both]))
    out_of_sample = float(np.mean([o for _, o in both]))
    return out_of_sample / in_sample if in_sample > 0 else None


# (windows done, windows in all, runs done in this window's sweep, runs in it)
WindowCallback = Callable[[int, int, int, int], None]


def _sweep_progress(notify: WindowCallback, number: int, total: int) -> PointCallback:
    """Window ``number``'s training sweep's progress, as the analysis reports it."""
    return lambda done, runs, _best: notify(number - 1, total, done, runs)


class WalkForwardInterruptedError(NtraderError):
    """Ctrl-C (or SIGTERM) during an analysis: the finished windows are kept, and resume
    runs the rest."""

    def __init__(
        self,
        walk_forward_id: str,
        done: int,
        total: int,
        stopped_by: signal.Signals = signal.SIGINT,
    ) -> None:
        super().__init__(
            f"Walk-forward analysis {walk_forward_id[:8]} was {how_stopped(stopped_by)} after "
            f"{done} of {total} windows; the finished windows are stored.",
            hint=f"Run the rest with `ntrader backtest walk-forward resume {walk_forward_id[:8]}`.",
        )
        self.walk_forward_id = walk_forward_id
        self.done, self.total = done, total
        self.exit_code = 128 + stopped_by

    def details(self) -> dict[str, Any]:
        return {
            "walk_forward_id": self.walk_forward_id,
            "windows_done": self.done,
            "windows": self.total,
        }


class WalkForwardService:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._backtests = BacktestService(database)
        self._sweeps = SweepService(database)
        self._history = WalkForwardHistory(database)

    def run(
        self,
        base: BacktestConfig,
        spec: SweepSpec,
        executor: SweepExecutor,
        *,
        train: Duration,
        test: Duration,
        step: Duration | None = None,
        anchored: bool = False,
        on_window: WindowCallback | None = None,
    ) -> WalkForwardResult:
        """Plan and check every window before anything runs (``create``), then for each: a
        sweep on the training window, and one normal run of its best point on the test
        window (``run_created``)."""
        walk_forward_id = self.create(
            base, spec, train=train, test=test, step=step, anchored=anchored
        )
        return self.run_created(walk_forward_id, executor, on_window)

    def create(
        self,
        base: BacktestConfig,
        spec: SweepSpec,
        *,
        train: Duration,
        test: Duration,
        step: Duration | None = None,
        anchored: bool = False,
    ) -> str:
        """Plan the windows and check each has the bars a backtest needs (counted, not
        read), then store the analysis PENDING; a refused one stores nothing."""
        step = step or test
        windows = plan_windows(base.start, base.end, train, test, step, anchored=anchored)
        resolved, _plan = self._sweeps.plan(base, spec)
        self._backtests.check(resolved)
        settings = {"train": str(train), "test": str(test), "step": str(step)}
        with self._database.transaction() as repos:
            for number, window in enumerate(windows, start=1):
                self._check_bars(repos, resolved, number, window)
            return repos.walk_forwards.create(
                resolved,
                spec,
                {**settings, "anchored": anchored, "objective": spec.objective},
            )

    def run_created(
        self,
        walk_forward_ref: str,
        executor: SweepExecutor,
        on_window: WindowCallback | None = None,
    ) -> WalkForwardResult:
        """Run a PENDING analysis (stored by ``create``, or queued again by the API's
        resume with the windows it finished) window by window, storing each window as it
        is done; one that stops is stored FAILED or INTERRUPTED with why."""
        with self._database.transaction() as repos:
            record = find_walk_forward(repos, walk_forward_ref)
            if record.spec is None or not repos.walk_forwards.claim(
                record.id, (RunStatus.PENDING,), RunStatus.RUNNING, this_process()
            ):
                raise ConflictError(
                    f"Walk-forward analysis {record.id} is {record.status.value}; only a "
                    "PENDING one can be started.",
                    hint="Start a new one with `ntrader backtest walk-forward`.",
                )
        return self._continue(record, executor, on_window)

    def resume(
        self,
        walk_forward_ref: str,
        executor: SweepExecutor,
        on_window: WindowCallback | None = None,
        *,
        force: bool = False,
    ) -> WalkForwardResult:
        """Run the windows an INTERRUPTED, FAILED or stale (left RUNNING by a process that is
        gone) analysis did not finish, in order, with its stored configuration, space and
        windows; it ends as an uninterrupted run would have (the efficiency over all its
        windows). ``force`` takes over one RUNNING in a process that cannot be checked from
        here."""
        with self._database.transaction() as repos:
            record = admit(repos, walk_forward_ref, force=force)
            if record.spec is None or not repos.walk_forwards.claim(
                record.id, RESUMABLE, RunStatus.RUNNING, this_process()
            ):
                raise not_resumable(repos.walk_forwards.get(record.id))
        return self._continue(record, executor, on_window)

    def get(self, walk_forward_ref: str) -> WalkForwardRecord:
        """An analysis by full id, unique prefix, or ``latest``."""
        return self._history.get(walk_forward_ref)

    def _continue(
        self,
        record: WalkForwardRecord,
        executor: SweepExecutor,
        on_window: WindowCallback | None,
    ) -> WalkForwardResult:
        """Run the windows after those ``record`` has stored (claimed RUNNING): the first
        of them continues its training sweep if it was cut short."""
        notify = on_window or (lambda _w, _t, _d, _n: None)
        settings, spec, config = record.settings, record.spec, record.config
        assert spec is not None  # claimed: only analyses with a stored space are
        windows = plan_windows(
            config.start,
            config.end,
            parse_duration(settings["train"], "train"),
            parse_duration(settings["test"], "test"),
            parse_duration(settings["step"], "step"),
            anchored=settings["anchored"],
        )
        results = list(record.windows)
        finished_sweeps = {w.sweep_id for w in results}
        unfinished_sweep = (
            record.current_sweep_id if record.current_sweep_id not in finished_sweeps else None
        )
        try:
            loaded = self._backtests.load(config)
            for number in range(len(results) + 1, len(windows) + 1):
                window = windows[number - 1]
                progress = _sweep_progress(notify, number, len(windows))
                summary = self._training(
                    record.id, config, spec, executor, window, progress, unfinished_sweep
                )
                unfinished_sweep = None
                results.append(self._tested(config, spec, window, number, summary))
                self._update(record.id, RunStatus.RUNNING, windows=results)
                notify(number, len(windows), 0, 0)
        except BaseException as exc:
            # Ctrl-C or SIGTERM, in a training sweep, a test run, or between them.
            interrupted = isinstance(
                exc, KeyboardInterrupt | SweepInterruptedError | RunInterruptedError
            )
            status = RunStatus.INTERRUPTED if interrupted else RunStatus.FAILED
            stopped_by = stop_signal(exc)
            reason = how_stopped(stopped_by) if interrupted else failure_text(exc)
            try:
                self._update(record.id, status, windows=results, error_message=reason)
            except Exception as store_error:  # the store is gone: the cause is what matters
                raise exc from store_error
            if interrupted:
                raise WalkForwardInterruptedError(
                    record.id, len(results), len(windows), stopped_by
                ) from exc
            raise
        wfe = efficiency([(r.in_sample_annualised, r.out_of_sample_annualised) for r in results])
        self._update(record.id, RunStatus.COMPLETED, windows=results, efficiency=wfe)
        equity = self._history.stitched(config, results)
        return WalkForwardResult(
            id=record.id,
            config=config,
            objective=spec.objective,
            settings={key: settings[key] for key in ("train", "test", "step", "anchored")},
            windows=tuple(results),
            efficiency=wfe,
            equity=equity,
            buy_and_hold=self._buy_and_hold(loaded.inputs[0].bars, equity, config.initial_capital),
            benchmark_symbol=config.instruments[0],
            warnings=tuple(loaded.warnings),
        )

    def _update(
        self,
        walk_forward_id: str,
        status: RunStatus,
        *,
        windows: Sequence[WindowResult] | None = None,
        efficiency: float | None = None,
        error_message: str | None = None,
    ) -> None:
        with self._database.transaction() as repos:
            repos.walk_forwards.update(
                walk_forward_id,
                status,
                windows=None if windows is None else [w.as_dict() for w in windows],
                efficiency=efficiency,
                error_message=error_message,
            )

    def _training(
        self,
        walk_forward_id: str,
        base: BacktestConfig,
        spec: SweepSpec,
        executor: SweepExecutor,
        window: Window,
        progress: PointCallback,
        unfinished_sweep: str | None,
    ) -> SweepSummary:
        """The window's training sweep, ranked: the sweep it was cut short in, continued
        (or only read, if it had finished), else a new one, recorded before it runs."""
        if unfinished_sweep is not None:
            sweep = SweepHistory(self._database).get(unfinished_sweep)
            if sweep.status is SweepStatus.COMPLETED:
                return SweepHistory(self._database).show(sweep.id)
            if any(p.run_id is not None or p.screen is not None for p in sweep.points):
                return self._sweeps.resume(sweep.id, executor, progress)
            # Stopped before it screened or ran a point: started as a new one would be
            # (a resume would skip the screen and run every point).
            if sweep.status is not SweepStatus.PENDING:
                SweepHistory(self._database).requeue(sweep.id)
            return self._sweeps.run_created(sweep.id, executor, progress)
        training = base.model_copy(update={"start": window.train_start, "end": window.train_end})
        sweep, _plan = self._sweeps.create(training, spec, executor.name)
        with self._database.transaction() as repos:
            repos.walk_forwards.set_current_sweep(walk_forward_id, sweep.id)
        return self._sweeps.run_created(sweep.id, executor, progress)

    def _tested(
        self,
        base: BacktestConfig,
        spec: SweepSpec,
        window: Window,
        number: int,
        summary: SweepSummary,
    ) -> WindowResult:
        """One normal run of the training sweep's best point on the test window."""
        best = next((row for row in summary.rows if row.objective is not None), None)
        if best is None:
            raise UserInputError(
                f"No run of window {number}'s training sweep ({window.train_start} → "
                f"{window.train_end}) has a {spec.objective}; the window cannot pick "
                f"parameters (sweep {summary.sweep.id[:8]} is stored).",
                hint="Use a longer --train, or an --objective every run has (total_return).",
            )
        tested = base.model_copy(
            update={
                "parameters": best.parameters,
                "start": window.test_start,
                "end": window.test_end,
            }
        )
        outcome = self._backtests.run(tested)
        metrics = outcome.run.metrics.stored() if outcome.run.metrics is not None else None
        out_of_sample = objective_of(metrics, spec.objective)
        return WindowResult(
            window=window,
            sweep_id=summary.sweep.id,
            parameters=best.parameters,
            test_run_id=outcome.run.id,
            in_sample=best.objective,
            out_of_sample=out_of_sample,
            in_sample_annualised=annualised_objective(
                spec.objective, best.objective, window.train_start, window.train_end
            ),
            out_of_sample_annualised=annualised_objective(
                spec.objective, out_of_sample, window.test_start, window.test_end
            ),
        )

    @staticmethod
    def _check_bars(
        repos: Repositories, config: BacktestConfig, number: int, window: Window
    ) -> None:
        """Refuse, before anything runs, a window whose training or test part has too few
        bars of an instrument to backtest (the days counted by the store)."""
        for part, first, last in (
            ("training", window.train_start, window.train_end),
            ("test", window.test_start, window.test_end),
        ):
            for name in config.instruments:
                stored = find_stored(repos.instruments, name)
                days = repos.bars.trading_days(
                    stored,
                    config.timeframe,
                    date_to_ns(first),
                    date_to_ns(last + timedelta(days=1)),
                )
                if days < MIN_TRADING_DAYS:
                    raise NotFoundError(
                        f"Window {number}'s {part} part ({first} → {last}) has {days} trading "
                        f"days of {stored.spec.instrument_id}; a backtest needs at least "
                        f"{MIN_TRADING_DAYS}.",
                        hint="Move --start/--end inside the stored bars (`ntrader data list`) "
                        "or so that the last test window is long enough, or lengthen "
                        "--train/--test.",
                    )

    @staticmethod
    def _buy_and_hold(bars: Any, equity: pd.Series, initial_capital: float) -> pd.Series:
        """``initial_capital`` put into the instrument at the first out-of-sample bar's close
        and valued at each close until the last out-of-sample day."""
        times = pd.DatetimeIndex(pd.to_datetime(bars.ts, unit="ns", utc=True))
        closes = pd.Series(bars.close, index=times)
        if equity.empty:
            return closes.iloc[:0]
        first, last = equity.index[0].normalize(), equity.index[-1]
        span = closes[(closes.index >= first) & (closes.index <= last)]
        return span * (initial_capital / float(span.iloc[0])) if len(span) else span
