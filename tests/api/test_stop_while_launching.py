"""A job cancelled, or caught by a shutdown, while its worker is being launched (taken off
the queue, its process not yet handed back) stays stopped: the spare it was handed starts
it at once, so the runner must stop that worker, not store the job INTERRUPTED under it. A
resumed sweep shows it: its worker admits an INTERRUPTED sweep and would run it to
COMPLETED. The cancel answers once the job's end is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ntrader.api.jobs import JobRunner
from ntrader.db.database import Database
from ntrader.models.sweep import SweepSpec, SweepStatus
from ntrader.services.sweep_history import SweepHistory
from ntrader.services.sweep_service import SweepService
from tests.api.server import sma_config, store_with_sample_bars

_WORKER_END_S = 120.0


def _resumable_sweep(database: Database) -> str:
    """A sweep stopped before its points ran and queued again, as the API's resume leaves
    it (PENDING, for a ``resume`` job)."""
    spec = SweepSpec(grid={"fast_period": "5,10", "slow_period": "30"})
    sweep, _plan = SweepService(database).create(sma_config(), spec, "local")
    history = SweepHistory(database)
    history.interrupt(sweep.id, "interrupted by the user")
    return history.requeue(sweep.id).id


async def _stop_while_launching(
    database: Database, stop: Callable[[JobRunner, str], Awaitable[None]]
) -> SweepStatus:
    """The sweep's status once the worker it was handed has ended, after ``stop`` ran
    while that worker was being launched."""
    runner = JobRunner(database, workers=1, per_client=4)
    await runner.start()
    worker = runner._launcher._spare  # the job's worker-to-be
    assert worker is not None
    sweep_id = _resumable_sweep(database)
    runner.enqueue(runner.sweeps, sweep_id, "client", ("resume",))
    job = runner._jobs[sweep_id]
    while job.started_at is None:
        await asyncio.sleep(0)
    # Taken off the queue, its launch not over: the launcher is handing it to the spare,
    # or starting the next spare.
    assert job.process is None
    await stop(runner, sweep_id)
    await asyncio.wait_for(worker.wait(), _WORKER_END_S)
    await runner.shutdown(grace_seconds=0)
    assert job.process is worker
    return SweepHistory(database).get(sweep_id).status


async def _cancel(runner: JobRunner, sweep_id: str) -> None:
    await runner.cancel(runner.sweeps, sweep_id)
    assert runner.sweeps.state(sweep_id).status == "INTERRUPTED"


async def _shut_down(runner: JobRunner, _sweep_id: str) -> None:
    await runner.shutdown(grace_seconds=0)


@pytest.mark.parametrize("stop", [_cancel, _shut_down], ids=["cancel", "shutdown"])
def test_a_job_stopped_while_its_worker_is_launched_stays_interrupted(
    tmp_path: Path, stop: Callable[[JobRunner, str], Awaitable[None]]
) -> None:
    url = f"sqlite:///{tmp_path / 'ntrader.db'}"
    store_with_sample_bars(url)
    database = Database(url)
    try:
        status = asyncio.run(_stop_while_launching(database, stop))
    finally:
        database.dispose()
    assert status is SweepStatus.INTERRUPTED
