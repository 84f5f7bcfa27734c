"""Resuming a walk-forward analysis on the sample data: stopped after a window, or in the
middle of a window's training sweep, it ends with exactly the windows and efficiency an
uninterrupted analysis of the same configuration stores, keeping what it had finished;
one that is not INTERRUPTED or FAILED is refused and left as it was. Analyses are listed
newest first, a page at a time."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from ntrader.core.errors import ConflictError, UserInputError
from ntrader.db.database import Database
from ntrader.db.tables import sweeps
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import RunStatus, SizingMode
from ntrader.models.sweep import SweepStatus
from ntrader.models.walk_forward import WalkForwardResult
from ntrader.services.sweep_executors import InProcessExecutor
from ntrader.services.sweep_history import SweepHistory
from ntrader.services.sweep_service import SweepService
from ntrader.services.walk_forward import (
    Duration,
    WalkForwardInterruptedError,
    WalkForwardService,
)
from ntrader.services.walk_forward_history import WalkForwardHistory
from tests.integration.sweep_support import BASE, SPEC

WINDOWS = {"train": Duration(12, "M"), "test": Duration(6, "M")}


class _StopAt:
    """A progress callback that presses Ctrl-C at one report (windows done, windows, runs
    done, runs) and records every report it hears."""

    def __init__(self, report: tuple[int, int, int, int] | None) -> None:
        self.report = report
        self.heard: list[tuple[int, int, int, int]] = []

    def __call__(self, windows_done: int, windows: int, runs_done: int, runs: int) -> None:
        heard = (windows_done, windows, runs_done, runs)
        self.heard.append(heard)
        if heard == self.report:
            raise KeyboardInterrupt


def _outcome(result: WalkForwardResult) -> list[dict[str, Any]]:
    """What a window found, without the ids of the records it stored."""
    return [
        {k: v for k, v in w.as_dict().items() if k not in ("sweep_id", "test_run_id")}
        for w in result.windows
    ]


def _sweep_count(database: Database) -> int:
    with database.transaction() as repos:
        return int(repos.connection.execute(select(func.count()).select_from(sweeps)).scalar_one())


def _interrupted(
    database: Database, report: tuple[int, int, int, int], base: BacktestConfig = BASE
) -> str:
    """A new analysis stopped by Ctrl-C at ``report``; its id."""
    service = WalkForwardService(database)
    walk_forward_id = service.create(base, SPEC, **WINDOWS)
    with pytest.raises(WalkForwardInterruptedError) as caught:
        service.run_created(walk_forward_id, InProcessExecutor(), _StopAt(report))
    assert caught.value.walk_forward_id == walk_forward_id
    assert f"walk-forward resume {walk_forward_id[:8]}" in (caught.value.hint or "")
    return walk_forward_id


def test_resumed_after_a_window_it_stores_what_an_uninterrupted_run_stores(
    database: Database,
) -> None:
    fresh = WalkForwardService(database).run(BASE, SPEC, InProcessExecutor(), **WINDOWS)
    walk_forward_id = _interrupted(database, (1, 2, 0, 0))  # window 1 stored, 2 not begun
    history = WalkForwardHistory(database)
    stopped = history.get(walk_forward_id)
    assert stopped.status is RunStatus.INTERRUPTED and stopped.error_message == "interrupted"
    assert len(stopped.windows) == 1 and stopped.efficiency is None
    sweeps_before = _sweep_count(database)

    progress = _StopAt(None)
    resumed = WalkForwardService(database).resume(
        walk_forward_id[:8], InProcessExecutor(), progress
    )
    assert resumed.id == walk_forward_id
    assert _outcome(resumed) == _outcome(fresh)
    assert resumed.efficiency == pytest.approx(fresh.efficiency, rel=1e-12)
    assert resumed.equity.to_numpy() == pytest.approx(fresh.equity.to_numpy(), rel=1e-12)
    assert resumed.windows[0] == stopped.windows[0]  # kept: the same sweep and test run
    assert _sweep_count(database) == sweeps_before + 1  # only window 2's sweep is new
    assert progress.heard[0] == (1, 2, 0, 4) and progress.heard[-1] == (2, 2, 0, 0)
    stored = history.get(walk_forward_id)
    assert stored.status is RunStatus.COMPLETED and stored.error_message is None
    assert stored.windows == resumed.windows and stored.efficiency == resumed.efficiency

    with pytest.raises(ConflictError, match=r"is COMPLETED; only an INTERRUPTED or FAILED") as c:
        WalkForwardService(database).resume(walk_forward_id, InProcessExecutor())
    assert f"walk-forward show {walk_forward_id[:8]}" in (c.value.hint or "")
    assert history.get(walk_forward_id) == stored


def test_resumed_in_a_training_sweep_it_continues_that_sweep(database: Database) -> None:
    fresh = WalkForwardService(database).run(BASE, SPEC, InProcessExecutor(), **WINDOWS)
    # Ctrl-C once window 2's training sweep has finished two of its four runs.
    walk_forward_id = _interrupted(database, (1, 2, 2, 4))
    stopped = WalkForwardHistory(database).get(walk_forward_id)
    assert len(stopped.windows) == 1
    cut_short = SweepHistory(database).show(stopped.current_sweep_id or "")
    assert cut_short.sweep.status is SweepStatus.INTERRUPTED
    finished = {r.index: r.run_id for r in cut_short.rows if r.status is RunStatus.COMPLETED}
    assert len(finished) == 2
    sweeps_before = _sweep_count(database)

    progress = _StopAt(None)
    resumed = WalkForwardService(database).resume(walk_forward_id, InProcessExecutor(), progress)
    assert _outcome(resumed) == _outcome(fresh)
    assert resumed.efficiency == pytest.approx(fresh.efficiency, rel=1e-12)
    assert resumed.windows[1].sweep_id == cut_short.sweep.id
    assert _sweep_count(database) == sweeps_before  # no new sweep
    # Its two finished runs kept as they were; the training resumed at two of four.
    assert progress.heard[0] == (1, 2, 2, 4)
    continued = SweepHistory(database).show(cut_short.sweep.id)
    assert continued.sweep.status is SweepStatus.COMPLETED
    assert {r.index: r.run_id for r in continued.rows if r.index in finished} == finished
    assert {r.status for r in continued.rows} == {RunStatus.COMPLETED}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("left", [SweepStatus.PENDING, SweepStatus.INTERRUPTED])
def test_a_training_sweep_stopped_before_its_screen_starts_as_a_new_one_would(
    database: Database, left: SweepStatus
) -> None:
    """Killed right after window 2's sweep was stored (PENDING), or stopped while it read
    its bars (INTERRUPTED, nothing screened or run): resume screens and runs that sweep as
    a new one would be, rather than run every point through the engine unscreened."""
    screened = BASE.model_copy(update={"sizing": SizingMode.PERCENT, "position_pct": 10.0})
    fresh = WalkForwardService(database).run(screened, SPEC, InProcessExecutor(), **WINDOWS)
    walk_forward_id = _interrupted(database, (1, 2, 0, 0), screened)
    stopped = WalkForwardHistory(database).get(walk_forward_id)
    window = fresh.windows[1].window
    training = stopped.config.model_copy(
        update={"start": window.train_start, "end": window.train_end}
    )
    sweep, _plan = SweepService(database).create(training, SPEC, InProcessExecutor.name)
    with database.transaction() as repos:
        repos.walk_forwards.set_current_sweep(walk_forward_id, sweep.id)
        repos.sweeps.set_status(sweep.id, left)

    resumed = WalkForwardService(database).resume(walk_forward_id, InProcessExecutor())
    assert _outcome(resumed) == _outcome(fresh)
    assert resumed.windows[1].sweep_id == sweep.id
    ran = SweepHistory(database).get(sweep.id)
    assert ran.status is SweepStatus.COMPLETED
    assert all(point.screen is not None for point in ran.points)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_only_a_stopped_analysis_resumes_and_a_refusal_changes_nothing(
    database: Database,
) -> None:
    service = WalkForwardService(database)
    history = WalkForwardHistory(database)
    walk_forward_id = service.create(BASE, SPEC, **WINDOWS)
    # A RUNNING one stored without its process (as before 0012) is not known stale.
    for status, sentence in (
        (RunStatus.PENDING, "is PENDING; only an INTERRUPTED"),
        (RunStatus.RUNNING, "is RUNNING in a process an earlier version of ntrader did not"),
    ):
        with database.transaction() as repos:
            repos.walk_forwards.update(walk_forward_id, status)
        before = history.get(walk_forward_id)
        for refused in (
            lambda: service.resume(walk_forward_id, InProcessExecutor()),
            lambda: history.requeue(walk_forward_id),
        ):
            with pytest.raises(ConflictError, match=sentence):
                refused()
            assert history.get(walk_forward_id) == before
    assert _sweep_count(database) == 0
    with pytest.raises(ConflictError, match="only a PENDING one can be started"):
        service.run_created(walk_forward_id, InProcessExecutor())  # it is RUNNING

    # Stopped: queued again (for the API's job) with its windows, and only once.
    with database.transaction() as repos:
        repos.walk_forwards.update(walk_forward_id, RunStatus.FAILED, error_message="boom")
    requeued = history.requeue(walk_forward_id[:8])
    assert requeued.status is RunStatus.PENDING and requeued.error_message is None
    with pytest.raises(ConflictError, match="is PENDING"):
        history.requeue(walk_forward_id)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_analyses_are_listed_newest_first_a_page_at_a_time(database: Database) -> None:
    service = WalkForwardService(database)
    ids = [service.create(BASE, SPEC, **WINDOWS) for _ in range(3)]
    history = WalkForwardHistory(database)
    assert [r.id for r in history.list(2)] == ids[::-1][:2]
    first = history.page(limit=2)
    assert [r.id for r in first.records] == ids[::-1][:2] and first.next_cursor
    second = history.page(limit=2, cursor=first.next_cursor)
    assert [r.id for r in second.records] == ids[:1] and second.next_cursor is None
    with pytest.raises(UserInputError, match="is not a cursor this server gave out"):
        history.page(cursor="not-a-cursor")
