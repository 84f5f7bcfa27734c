"""A job id taken again before its first job has been settled (a sweep resumed while the
worker that stored it COMPLETED is still exiting): settling the first job must leave the
second one, and its stored entity, alone."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from ntrader.api.jobs import JobRunner, JobState
from ntrader.db.database import Database


class _RecordingLedger:
    """A sweep-like entity held in memory, which records how the runner ends it."""

    kind = "sweep"
    noun = "Sweep"

    def __init__(self) -> None:
        self.status = "RUNNING"
        self.ended: list[tuple[str, bool, str]] = []

    def state(self, job_id: str) -> JobState:
        terminal = self.status in ("COMPLETED", "FAILED", "INTERRUPTED")
        return JobState(self.status, terminal, self.status == "COMPLETED")

    def end(self, job_id: str, *, interrupted: bool, reason: str) -> None:
        self.ended.append((job_id, interrupted, reason))
        self.status = "INTERRUPTED" if interrupted else "FAILED"

    def recover(self, started_before: datetime) -> list[str]:
        return []

    def show_hint(self, job_id: str) -> str:
        return ""


async def _exited_process() -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec("true")
    await process.wait()
    return process


def test_settling_a_job_whose_id_was_taken_again_leaves_the_new_job_alone(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'ntrader.db'}")
    runner = JobRunner(database, workers=1, per_client=4)
    ledger = _RecordingLedger()

    async def race() -> None:
        runner.enqueue(ledger, "s1", "client")
        first = runner._queue.get_nowait()
        first.process = await _exited_process()
        # The first worker stored the sweep COMPLETED; it is resumed (RUNNING again, a
        # new job under the same id) before the first job is settled.
        runner.enqueue(ledger, "s1", "client")
        second = runner._queue.get_nowait()
        assert second is not first
        ledger.status = "RUNNING"
        await runner._settle(first)
        assert ledger.ended == []
        assert runner.is_queued_or_running("s1")
        # The second job's own end is still settled: its worker died without storing one.
        second.process = await _exited_process()
        await runner._settle(second)
        assert ledger.ended == [("s1", False, "its worker process ended (code 0)")]
        assert not runner.is_queued_or_running("s1")

    asyncio.run(race())
    database.dispose()
