"""`--force` on resume: a record left RUNNING by a process this machine cannot check (on
another host, or not recorded by an older version) is taken over, with what that process
left RUNNING stored INTERRUPTED and why; one whose process runs here never is. Both
backends, the services the CLI and the API call."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update

from ntrader.core.errors import ConflictError, UserInputError
from ntrader.db.database import Database, Repositories
from ntrader.db.tables import backtest_results, sweeps, walk_forwards
from ntrader.models.enums import RunStatus
from ntrader.models.sweep import SweepStatus
from ntrader.services.backtest_service import BacktestService
from ntrader.services.liveness import take_over, this_process
from ntrader.services.sweep_executors import InProcessExecutor
from ntrader.services.sweep_history import SweepHistory
from ntrader.services.sweep_service import SweepService
from ntrader.services.walk_forward import Duration, WalkForwardService
from ntrader.services.walk_forward_history import WalkForwardHistory
from tests.integration.sweep_support import BASE, SPEC, running_sweep_and_analysis

# (host, pid) of a process that cannot be checked from here, and the reason stored.
UNCHECKABLE = {
    "elsewhere": (
        ("far.example", 4242),
        "taken over with --force from process 4242 on far.example",
    ),
    "unrecorded": ((None, None), "taken over with --force from a process ntrader did not record"),
}


def _hold(database: Database, table: Any, row_id: str, host: str | None, pid: int | None) -> None:
    """Store row ``row_id`` of ``table`` RUNNING in that process."""
    with database.transaction() as repos:
        repos.connection.execute(
            update(table)
            .where(table.c.id == row_id)
            .values(status="RUNNING", host=host, host_pid=pid)
        )


def _metrics(database: Database, sweep_id: str) -> dict[int, Any]:
    with database.transaction() as repos:
        return {index: run.metrics for index, run in repos.sweeps.runs(sweep_id).items()}


@pytest.mark.parametrize("holder", list(UNCHECKABLE))
def test_force_takes_over_a_sweep_whose_process_cannot_be_checked(
    database: Database, holder: str
) -> None:
    (host, pid), reason = UNCHECKABLE[holder]
    service, history = SweepService(database), SweepHistory(database)
    sweep, _plan = service.create(BASE, SPEC, "local")
    service.run_created(sweep.id, InProcessExecutor())
    finished = _metrics(database, sweep.id)
    with database.transaction() as repos:
        run_ids = {index: run.id for index, run in repos.sweeps.runs(sweep.id).items()}
    # Its process died on another machine while it ran point 2.
    _hold(database, sweeps, sweep.id, host, pid)
    _hold(database, backtest_results, run_ids[2], host, pid)

    with pytest.raises(ConflictError) as refused:
        history.admit(sweep.id)
    assert refused.value.hint is not None
    assert f"`ntrader backtest sweep resume {sweep.id[:8]} --force`" in refused.value.hint
    assert history.get(sweep.id).status is SweepStatus.RUNNING

    taken = history.admit(sweep.id, force=True)
    assert (taken.status, taken.error_message) == (SweepStatus.INTERRUPTED, reason)
    with database.transaction() as repos:
        runs = repos.sweeps.runs(sweep.id)
    assert (runs[2].status, runs[2].error_message) == (RunStatus.INTERRUPTED, reason)
    assert {runs[i].status for i in (0, 1, 3)} == {RunStatus.COMPLETED}

    resumed = service.resume(sweep.id, InProcessExecutor())
    assert resumed.sweep.status is SweepStatus.COMPLETED
    assert (resumed.sweep.host, resumed.sweep.host_pid) == (socket.gethostname(), os.getpid())
    # The interrupted point ran again in place, to the same numbers; the others were kept.
    assert _metrics(database, sweep.id) == finished
    with database.transaction() as repos:
        assert {i: run.id for i, run in repos.sweeps.runs(sweep.id).items()} == run_ids


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_force_does_not_take_over_a_process_running_here(database: Database) -> None:
    sweep_id, walk_forward_id = running_sweep_and_analysis(
        database.url, socket.gethostname(), os.getpid()
    )
    run_id = BacktestService(database).submit(BASE).id
    _hold(database, backtest_results, run_id, socket.gethostname(), os.getpid())
    with pytest.raises(UserInputError, match="only interrupted runs"):
        BacktestService(database).resume(run_id, force=True)
    assert BacktestService(database).get(run_id).status is RunStatus.RUNNING
    sentence = f"process {os.getpid()} on this machine"
    with pytest.raises(ConflictError, match=sentence) as refused:
        SweepHistory(database).requeue(sweep_id, force=True)
    assert "--force" not in str(refused.value.hint)
    with pytest.raises(ConflictError, match=sentence) as refused:
        WalkForwardHistory(database).requeue(walk_forward_id, force=True)
    assert "--force" not in str(refused.value.hint)
    assert SweepHistory(database).get(sweep_id).status is SweepStatus.RUNNING
    assert WalkForwardHistory(database).get(walk_forward_id).status is RunStatus.RUNNING


@pytest.mark.parametrize("holder", list(UNCHECKABLE))
def test_force_takes_over_an_analysis_with_its_training_sweep_and_test_run(
    database: Database, holder: str
) -> None:
    (host, pid), reason = UNCHECKABLE[holder]
    history = WalkForwardHistory(database)
    walk_forward_id = WalkForwardService(database).create(
        BASE, SPEC, train=Duration(12, "M"), test=Duration(6, "M")
    )
    training, _plan = SweepService(database).create(BASE, SPEC, "local")
    test_run = BacktestService(database).submit(BASE)
    with database.transaction() as repos:
        repos.walk_forwards.set_current_sweep(walk_forward_id, training.id)
    for table, row_id in (
        (walk_forwards, walk_forward_id),
        (sweeps, training.id),
        (backtest_results, test_run.id),
    ):
        _hold(database, table, row_id, host, pid)

    with pytest.raises(ConflictError) as refused:
        history.requeue(walk_forward_id)
    assert f"walk-forward resume {walk_forward_id[:8]} --force`" in str(refused.value.hint)
    assert history.get(walk_forward_id).status is RunStatus.RUNNING

    assert history.requeue(walk_forward_id, force=True).status is RunStatus.PENDING
    stopped = SweepHistory(database).get(training.id)
    assert (stopped.status, stopped.error_message) == (SweepStatus.INTERRUPTED, reason)
    run = BacktestService(database).get(test_run.id)
    # A test run is found by its process: an unrecorded one cannot be told from others.
    if holder == "elsewhere":
        assert (run.status, run.error_message) == (RunStatus.INTERRUPTED, reason)
    else:
        assert run.status is RunStatus.RUNNING


@pytest.mark.parametrize("holder", list(UNCHECKABLE))
def test_force_resumes_a_backtest_whose_process_cannot_be_checked(
    database: Database, holder: str
) -> None:
    (host, pid), _reason = UNCHECKABLE[holder]
    service = BacktestService(database)
    first = service.run(BASE)
    _hold(database, backtest_results, first.run.id, host, pid)
    with pytest.raises(UserInputError) as refused:
        service.resume(first.run.id)
    assert f"`ntrader backtest resume {first.run.id[:8]} --force`" in str(refused.value.hint)
    assert service.get(first.run.id).status is RunStatus.RUNNING
    again = service.resume(first.run.id, force=True)
    assert again.run.id == first.run.id
    assert again.run.status is RunStatus.COMPLETED
    assert (again.run.host, again.run.host_pid) == (socket.gethostname(), os.getpid())
    assert again.run.metrics == first.run.metrics


def test_a_take_over_that_lost_the_race_is_refused_and_changes_nothing(
    database: Database,
) -> None:
    """Two `--force` resumes at once: each reads the record held elsewhere, the first takes
    it over (and its resume claims it); the second's conditional update finds it changed."""
    (host, pid), _reason = UNCHECKABLE["elsewhere"]
    sweep_id, walk_forward_id = running_sweep_and_analysis(database.url, host, pid)
    run_id = BacktestService(database).submit(BASE).id
    # Another process there: the analysis' take-over takes its own process' runs too.
    _hold(database, backtest_results, run_id, host, pid + 1)
    read_by_second: list[tuple[Any, str, Callable[[Repositories], Any]]] = [
        (SweepHistory(database).get(sweep_id), "Sweep", lambda repos: repos.sweeps),
        (
            WalkForwardHistory(database).get(walk_forward_id),
            "Walk-forward analysis",
            lambda repos: repos.walk_forwards,
        ),
        (BacktestService(database).get(run_id), "Backtest", lambda repos: repos.backtests),
    ]
    assert SweepHistory(database).requeue(sweep_id, force=True).status is SweepStatus.PENDING
    assert WalkForwardHistory(database).requeue(walk_forward_id, force=True).status is (
        RunStatus.PENDING
    )
    with database.transaction() as repos:
        take_over(repos.backtests, read_by_second[2][0], "Backtest", "show")
        repos.backtests.mark_running(run_id, this_process(), ("x", "y"))
    for record, noun, records in read_by_second:
        with (
            pytest.raises(ConflictError, match="changed while it was being taken over"),
            database.transaction() as repos,
        ):
            take_over(records(repos), record, noun, "show")
    assert SweepHistory(database).get(sweep_id).status is SweepStatus.PENDING
    assert WalkForwardHistory(database).get(walk_forward_id).status is RunStatus.PENDING
    assert BacktestService(database).get(run_id).host_pid == os.getpid()


def test_two_resumes_of_one_run_never_both_run_it(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process resumes the run while this one loads its bars: this one's claim
    finds the run changed and is refused, so the run is not simulated and stored twice."""
    service = BacktestService(database)
    run_id = service.submit(BASE).id
    with database.transaction() as repos:
        repos.backtests.mark_finished(run_id, RunStatus.INTERRUPTED, "Ctrl-C")
    load_all = BacktestService._load_all

    def loaded_while_another_resumes(self: BacktestService, repos: Any, config: Any) -> Any:
        loaded = load_all(self, repos, config)
        with database.transaction() as other:
            read = BacktestService(database).get(run_id)
            assert other.backtests.claim(read, ("other.example", 7, None), ("x", "y"))
        return loaded

    monkeypatch.setattr(BacktestService, "_load_all", loaded_while_another_resumes)
    with pytest.raises(ConflictError, match="changed while it was being started"):
        service.resume(run_id)
    run = service.get(run_id)
    assert (run.status, run.host, run.host_pid) == (RunStatus.RUNNING, "other.example", 7)
    with database.transaction() as repos:
        assert repos.backtests.trades(run_id) == []
