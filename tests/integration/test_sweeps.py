"""Parameter sweeps on the sample data: stored runs ranked by the objective, Ctrl-C keeping
the finished runs, resuming the rest, and refusals before anything runs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ntrader.core.errors import NotFoundError, UserInputError
from ntrader.db.database import Database
from ntrader.db.tables import backtest_results, sweeps
from ntrader.models.enums import RunStatus
from ntrader.models.sweep import SweepSpec, SweepStatus
from ntrader.services.backtest_service import BacktestService
from ntrader.services.data_service import DataService, ImportRequest
from ntrader.services.run_history import RunHistory
from ntrader.services.sweep_executors import (
    InProcessExecutor,
    PointOutcome,
    PointTask,
    SharedInputs,
)
from ntrader.services.sweep_history import SweepHistory
from ntrader.services.sweep_service import SweepInterruptedError, SweepService
from tests.factories import delete_stored_bars
from tests.integration.sweep_support import BASE, SPEC

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _count(database: Database, table: object) -> int:
    with database.transaction() as repos:
        return int(repos.connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_sweep_stores_every_point_as_a_run_and_ranks_them(database: Database) -> None:
    progress: list[tuple[int, int]] = []
    summary = SweepService(database).start(
        BASE, SPEC, InProcessExecutor(), lambda done, total, _best: progress.append((done, total))
    )
    assert summary.sweep.status is SweepStatus.COMPLETED
    assert progress == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    objectives = [row.objective for row in summary.rows]
    assert None not in objectives
    assert objectives == sorted(objectives, reverse=True)  # type: ignore[type-var]
    assert {(r.parameters["fast_period"], r.parameters["slow_period"]) for r in summary.rows} == {
        (5, 20),
        (5, 40),
        (10, 20),
        (10, 40),
    }
    # Each point is a normal stored run, identical to `backtest run` of its parameters.
    best = summary.rows[0]
    assert best.run_id is not None
    stored = RunHistory(database).get(best.run_id)
    single = BacktestService(database).run(BASE.model_copy(update={"parameters": best.parameters}))
    assert stored.status is RunStatus.COMPLETED
    assert stored.config.parameters == single.run.config.parameters
    assert stored.metrics == single.run.metrics
    assert stored.data_fingerprint == single.run.data_fingerprint
    assert stored.host is not None and stored.started_at is not None
    assert stored.metrics is not None
    assert best.objective == stored.metrics.risk.sharpe_ratio
    statistics = summary.sweep.statistics
    assert statistics is not None
    assert statistics["trials"] == 4
    assert 0 <= statistics["deflated_sharpe_ratio"] <= 1
    assert 0 <= statistics["probability_of_overfitting"] <= 1
    assert statistics["best_run_id"] == best.run_id
    shown = SweepHistory(database).show(summary.sweep.id[:8])
    assert [row.run_id for row in shown.rows] == [row.run_id for row in summary.rows]
    assert shown.sweep.statistics == statistics


class _InterruptAfter(InProcessExecutor):
    """Runs points in process, and presses Ctrl-C after ``count`` of them."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.ran: list[int] = []

    def run(self, shared: SharedInputs, tasks: Sequence[PointTask]) -> Iterator[PointOutcome]:
        for outcome in super().run(shared, tasks):
            if len(self.ran) == self.count:
                raise KeyboardInterrupt
            self.ran.append(outcome.index)
            yield outcome


@SQLITE_ONLY
def test_ctrl_c_keeps_finished_runs_and_resume_runs_only_the_rest(database: Database) -> None:
    service = SweepService(database)
    first_by = _InterruptAfter(1)
    with pytest.raises(SweepInterruptedError) as caught:
        service.start(BASE, SPEC, first_by)
    assert caught.value.exit_code == 130
    assert "after 1 of 4 runs" in caught.value.message
    sweep = SweepHistory(database).show(caught.value.sweep_id)
    assert sweep.sweep.status is SweepStatus.INTERRUPTED
    assert sweep.sweep.statistics is None
    statuses = sorted(row.status for row in sweep.rows if row.status is not None)
    assert statuses == [RunStatus.COMPLETED, *[RunStatus.INTERRUPTED] * 3]
    first_runs = {row.index: row.run_id for row in sweep.rows}

    resumed_by = _InterruptAfter(99)
    resumed = service.resume(caught.value.sweep_id[:8], resumed_by)
    assert sorted(resumed_by.ran) == sorted({0, 1, 2, 3} - set(first_by.ran))
    assert len(resumed_by.ran) == 3
    assert resumed.sweep.status is SweepStatus.COMPLETED
    assert {row.index: row.run_id for row in resumed.rows} == first_runs  # same records
    assert all(row.status is RunStatus.COMPLETED for row in resumed.rows)
    assert resumed.sweep.statistics is not None

    # A deleted run leaves its point without one; resuming runs that point alone.
    history = RunHistory(database)
    history.delete(history.plan_delete([resumed.rows[-1].run_id or ""]))
    again_by = _InterruptAfter(99)
    again = service.resume(resumed.sweep.id, again_by)
    assert again_by.ran == [resumed.rows[-1].index]
    assert all(row.status is RunStatus.COMPLETED for row in again.rows)
    assert _count(database, backtest_results) == 4


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SweepSpec(grid={"fast_period": "0:10:5"}), "fast_period=0 is outside"),
        (
            SweepSpec(grid={"fast_period": "5,10"}, constraints=["os.system('x')"]),
            "is not a condition",
        ),
        (SweepSpec(grid={"lookback": "5,10"}), "no parameter 'lookback'"),
    ],
)
def test_a_refused_sweep_stores_nothing(database: Database, spec: SweepSpec, message: str) -> None:
    with pytest.raises(UserInputError) as caught:
        SweepService(database).start(BASE, spec, InProcessExecutor())
    assert message in caught.value.message
    assert _count(database, sweeps) == 0
    assert _count(database, backtest_results) == 0


def test_a_sweep_whose_bars_vanish_is_interrupted_with_the_sentence(
    database: Database, sample_dir: Path
) -> None:
    """Submitted, then its bars deleted before it ran: the sweep is INTERRUPTED with the
    sentence the CLI prints, which `show` repeats; resuming clears it and runs the points."""
    service = SweepService(database)
    history = SweepHistory(database)
    sweep, _plan = service.create(BASE, SPEC, InProcessExecutor.name)
    with database.transaction() as repos:
        delete_stored_bars(repos.connection)
    with pytest.raises(NotFoundError) as caught:
        service.run_created(sweep.id, InProcessExecutor(), confirm_top=None)
    stopped = history.show(sweep.id).view()
    assert stopped.status is SweepStatus.INTERRUPTED
    assert stopped.error_message == caught.value.message
    assert "AAPL" in caught.value.message
    assert _count(database, backtest_results) == 0

    # A job that resumes it is refused the same way before a point runs (the worker ends
    # the still PENDING sweep with the sentence); requeueing cleared the old reason.
    assert history.requeue(sweep.id).error_message is None
    with pytest.raises(NotFoundError) as again:
        service.resume(sweep.id, InProcessExecutor())
    history.end_pending(sweep.id, again.value.message)
    assert history.get(sweep.id).error_message == again.value.message
    history.end_pending(sweep.id, "ignored: it is not PENDING")
    assert history.get(sweep.id).error_message == again.value.message

    DataService(database).import_csv(
        ImportRequest(file=sample_dir / "AAPL_daily.csv", instrument="AAPL")
    )
    DataService(database).import_csv(
        ImportRequest(file=sample_dir / "SPY_daily.csv", instrument="SPY")
    )
    resumed = service.resume(sweep.id, InProcessExecutor())
    assert resumed.sweep.status is SweepStatus.COMPLETED
    assert resumed.sweep.error_message is None
    assert resumed.view().error_message is None
