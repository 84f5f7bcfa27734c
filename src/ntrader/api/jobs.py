"""The bounded pool that runs submitted jobs (backtests, sweeps, walk-forward analyses, IB
fetches), each in a worker process.

A job's entity (a run, a sweep, an analysis, an IB fetch job) is stored PENDING by the
request, before its 202, and then queued here; ``jobs`` workers take jobs off the queue in
order, so a full pool queues. Events of each job (status, stage, progress, the end) fan out
to whoever follows it (the SSE stream).
What a job's entity is, and how it is marked when its worker dies, is its ``Ledger``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import Histogram
from starlette.concurrency import run_in_threadpool

from ntrader.api.launcher import WorkerLauncher
from ntrader.core import strategy_registry
from ntrader.core.errors import ConflictError, NotFoundError, NtraderError
from ntrader.models.enums import RunStatus
from ntrader.models.sweep import SweepStatus
from ntrader.services import telemetry
from ntrader.services.ib.jobs import FetchJobs
from ntrader.services.run_history import RunHistory
from ntrader.services.store import Database
from ntrader.services.sweep_history import SweepHistory
from ntrader.services.walk_forward_history import WalkForwardHistory

log = logging.getLogger("ntrader.api.jobs")

TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.INTERRUPTED})
_KILL_WAIT_S = 15.0  # after SIGTERM, how long a worker gets to store its run INTERRUPTED
_RECOVERED_NAMED = 20  # jobs a start-up names one by one; more are counted

queue_wait_seconds = Histogram(
    "ntrader_api_job_queue_seconds",
    "Time a submitted backtest waited in the API's queue before a worker started it.",
    buckets=(0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
    registry=telemetry.REGISTRY,
)


class TooManyJobsError(ConflictError):
    """A client has as many jobs queued or running as it may."""


class ShuttingDownError(NtraderError):
    """The server is stopping and takes no new jobs."""

    exit_code = 3


@dataclass(frozen=True, slots=True)
class JobState:
    """Where a job's stored entity stands."""

    status: str
    terminal: bool
    completed: bool
    error_message: str | None = None


class Ledger(Protocol):
    """The stored entity of one kind of job (its worker stores what it does): what it is
    called, where it stands, and how it is ended when its worker could not end it."""

    kind: str  # the worker's first argument
    noun: str  # "Backtest", "Sweep": the start of a sentence

    def state(self, job_id: str) -> JobState: ...

    def end(self, job_id: str, *, interrupted: bool, reason: str) -> None: ...

    def recover(self, started_before: datetime) -> list[str]: ...

    def show_hint(self, job_id: str) -> str: ...


class RunLedger:
    kind = "backtest"
    noun = "Backtest"

    def __init__(self, database: Database) -> None:
        self._history = RunHistory(database)

    def state(self, job_id: str) -> JobState:
        run = self._history.get(job_id)
        return JobState(
            run.status.value,
            run.status in TERMINAL,
            run.status is RunStatus.COMPLETED,
            run.error_message,
        )

    def end(self, job_id: str, *, interrupted: bool, reason: str) -> None:
        status = RunStatus.INTERRUPTED if interrupted else RunStatus.FAILED
        self._history.mark_ended(job_id, status, reason)

    def recover(self, started_before: datetime) -> list[str]:
        return self._history.interrupt_abandoned(started_before)

    def show_hint(self, job_id: str) -> str:
        return f"`ntrader backtest show {job_id[:8]}` shows it."


class SweepLedger:
    kind = "sweep"
    noun = "Sweep"

    def __init__(self, database: Database) -> None:
        self._history = SweepHistory(database)

    def state(self, job_id: str) -> JobState:
        sweep = self._history.get(job_id)
        return JobState(
            sweep.status.value,
            sweep.status in (SweepStatus.COMPLETED, SweepStatus.INTERRUPTED),
            sweep.status is SweepStatus.COMPLETED,
            sweep.error_message,
        )

    def end(self, job_id: str, *, interrupted: bool, reason: str) -> None:
        # A sweep never fails as a whole: what did not finish is resumable.
        self._history.interrupt(job_id, reason)

    def recover(self, started_before: datetime) -> list[str]:
        # A RUNNING sweep is touched only when stale (the rule `resume` uses): a `backtest
        # sweep` in a terminal may be running it.
        return self._history.interrupt_abandoned(started_before)

    def show_hint(self, job_id: str) -> str:
        return f"`ntrader backtest sweep show {job_id[:8]}` shows it."


class WalkForwardLedger:
    kind = "walk-forward"
    noun = "Walk-forward analysis"

    def __init__(self, database: Database) -> None:
        self._history = WalkForwardHistory(database)

    def state(self, job_id: str) -> JobState:
        record = self._history.get(job_id)
        return JobState(
            record.status.value,
            record.status in TERMINAL,
            record.status is RunStatus.COMPLETED,
            record.error_message,
        )

    def end(self, job_id: str, *, interrupted: bool, reason: str) -> None:
        status = RunStatus.INTERRUPTED if interrupted else RunStatus.FAILED
        self._history.end(job_id, status, reason)

    def recover(self, started_before: datetime) -> list[str]:
        # A RUNNING analysis is touched only when stale: it may be a terminal's.
        return self._history.interrupt_abandoned(started_before)

    def show_hint(self, job_id: str) -> str:
        return f"`ntrader backtest walk-forward show {job_id[:8]}` shows it."


class FetchLedger:
    kind = "ib-fetch"
    noun = "IB fetch"

    def __init__(self, database: Database) -> None:
        self._jobs = FetchJobs(database)

    def state(self, job_id: str) -> JobState:
        job = self._jobs.get(job_id)
        return JobState(
            job.status.value,
            job.status in TERMINAL,
            job.status is RunStatus.COMPLETED,
            job.error_message,
        )

    def end(self, job_id: str, *, interrupted: bool, reason: str) -> None:
        status = RunStatus.INTERRUPTED if interrupted else RunStatus.FAILED
        self._jobs.end(job_id, status, reason)

    def recover(self, started_before: datetime) -> list[str]:
        return self._jobs.interrupt_abandoned(started_before)

    def show_hint(self, job_id: str) -> str:
        return f"GET /api/v1/data/ib/fetch/{job_id[:8]} shows it."


@dataclass(eq=False)
class _Job:
    job_id: str
    client: str
    ledger: Ledger
    arguments: tuple[str, ...] = ()  # the worker's, after the kind, id and parent pid
    process: asyncio.subprocess.Process | None = None
    cancelled: bool = False
    queued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None  # when a worker slot took it off the queue
    launched: asyncio.Event = field(default_factory=asyncio.Event)  # its launch is over
    settling: asyncio.Task[None] | None = None  # storing its end, once, whoever asked first
    bars: int = 0  # processed, as a backtest's worker last reported
    listeners: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=set)

    @property
    def queued(self) -> bool:
        """Not taken off the queue: no worker process will run it once it is ended."""
        return self.started_at is None


class JobRunner:
    def __init__(self, database: Database, workers: int, per_client: int) -> None:
        self._database = database
        self.runs = RunLedger(database)
        self.sweeps = SweepLedger(database)
        self.walk_forwards = WalkForwardLedger(database)
        self.fetches = FetchLedger(database)
        self._workers = workers
        self._per_client = per_client
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._jobs: dict[str, _Job] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._accepting = False
        self._launcher = WorkerLauncher()
        self.started_at = datetime.now(UTC)

    @property
    def workers(self) -> int:
        return self._workers

    async def start(self) -> list[str]:
        """Mark what a previous server left behind INTERRUPTED, then start the workers;
        returns the ids it marked."""
        recovered = []
        for ledger in (self.runs, self.sweeps, self.walk_forwards, self.fetches):
            marked = await run_in_threadpool(ledger.recover, self.started_at)
            for job_id in marked[:_RECOVERED_NAMED]:
                log.warning(
                    "%s %s was left unfinished; stored as INTERRUPTED.", ledger.noun, job_id
                )
            if len(marked) > _RECOVERED_NAMED:
                log.warning(
                    "... and %d more of kind %s were left unfinished; stored as INTERRUPTED.",
                    len(marked) - _RECOVERED_NAMED,
                    ledger.kind,
                )
            recovered += marked
        await self._launcher.prepare(self._worker_env())
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]
        self._accepting = True
        return recovered

    def check_accepting(self, client: str) -> None:
        """Refuse a new job now, before its run is stored, if it could not be queued."""
        if not self._accepting:
            raise ShuttingDownError(
                "The server is shutting down and takes no new jobs.",
                hint="Submit it again once the server is back.",
            )
        active = sum(1 for job in self._jobs.values() if job.client == client)
        if active >= self._per_client:
            raise TooManyJobsError(
                f"You already have {active} jobs queued or running, the most one client may have.",
                hint="Wait for some to finish (or cancel them), then submit again.",
            )

    def enqueue(
        self, ledger: Ledger, job_id: str, client: str, arguments: tuple[str, ...] = ()
    ) -> None:
        job = _Job(job_id, client, ledger, arguments)
        self._jobs[job_id] = job
        self._queue.put_nowait(job)

    def is_queued_or_running(self, job_id: str) -> bool:
        return job_id in self._jobs

    async def cancel(self, ledger: Ledger, job_id: str) -> None:
        """Stop a queued or running job; its entity ends INTERRUPTED and can be resumed."""
        job = self._jobs.get(job_id)
        state = await run_in_threadpool(ledger.state, job_id)
        if job is None or state.terminal:
            raise ConflictError(
                f"{ledger.noun} {job_id} is {state.status}"
                + ("" if state.terminal else " but not run by this server")
                + "; only a queued or running job of this server can be cancelled.",
                hint=ledger.show_hint(job_id),
            )
        job.cancelled = True
        if job.queued:
            await run_in_threadpool(
                ledger.end, job_id, interrupted=True, reason="cancelled before it started"
            )
            self._finish(job)
            await self._announce_end(job)
            return
        # Being launched, its worker may be running it already (a spare starts the job it
        # is handed at once): ending the entity now would leave that worker to finish it,
        # COMPLETED after a cancel that answered INTERRUPTED. The worker is stopped instead.
        await job.launched.wait()
        if job.process is not None:
            with contextlib.suppress(ProcessLookupError):
                job.process.send_signal(signal.SIGTERM)
            await job.process.wait()
        # A worker stopped while it started up stored nothing: end its entity now, so
        # the caller reads INTERRUPTED rather than the PENDING it left.
        await self._settle(job)

    @contextlib.asynccontextmanager
    async def follow(self, job_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """The events of one job as they happen (nothing if this server does not run it)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        job = self._jobs.get(job_id)
        if job is not None:
            job.listeners.add(queue)
        try:
            yield queue
        finally:
            if job is not None:
                job.listeners.discard(queue)

    async def shutdown(self, grace_seconds: float) -> None:
        """Take no new jobs; give running ones ``grace_seconds`` to finish, then stop them
        (SIGTERM: they store INTERRUPTED); queued ones are stored INTERRUPTED."""
        self._accepting = False  # from now on a worker skips what it takes off the queue
        queued = [job for job in self._jobs.values() if job.queued]
        for job in queued:
            await run_in_threadpool(
                job.ledger.end,
                job.job_id,
                interrupted=True,
                reason="the server stopped before it started this job",
            )
            self._finish(job)
        # A job being launched is stopped as a running one: its worker may be running it.
        started = list(self._jobs.values())
        await asyncio.gather(*(job.launched.wait() for job in started))
        running = [job.process for job in started if job.process is not None]
        waits = [asyncio.create_task(process.wait()) for process in running]
        if waits:
            _done, late = await asyncio.wait(waits, timeout=grace_seconds)
            if late:
                for process in running:
                    if process.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            process.send_signal(signal.SIGTERM)
                _done, late = await asyncio.wait(late, timeout=_KILL_WAIT_S)
                for process in running:
                    if process.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            process.kill()
                if late:
                    await asyncio.wait(late, timeout=_KILL_WAIT_S)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._launcher.close()
        # A worker killed before it could store its end: the run must not stay RUNNING.
        for job in started:
            await self._settle(job)

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            if job.cancelled or not self._accepting:
                continue
            try:
                await self._run(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # one job's failure must not stop the worker
                log.exception("%s job %s failed in the server", job.ledger.noun, job.job_id)
            try:
                await self._settle(job)
            except Exception:  # the store is gone: the next start-up settles the run
                log.exception("%s job %s could not be settled", job.ledger.noun, job.job_id)

    def _worker_env(self) -> dict[str, str]:
        """The worker sees the server's store and the plug-ins the server loaded (also
        those of --strategy-path), never anything a request named."""
        plugins = os.pathsep.join(str(path) for path in strategy_registry.loaded_files())
        return {
            **os.environ,
            "NTRADER_DATABASE_URL": self._database.url,
            strategy_registry.PATH_VARIABLE: plugins,
        }

    async def _run(self, job: _Job) -> None:
        job.started_at = time.monotonic()
        queue_wait_seconds.observe(job.started_at - job.queued_at)
        try:
            job.process = await self._launcher.launch(
                (job.ledger.kind, job.job_id, str(os.getpid()), *job.arguments),
                self._worker_env(),
            )
        finally:
            job.launched.set()
        self._relay(job, {"event": "status", "status": RunStatus.RUNNING.value})
        assert job.process.stdout is not None
        async for line in job.process.stdout:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if not isinstance(event, dict):
                    continue
                if event.get("event") == "progress" and isinstance(event.get("bars"), int):
                    job.bars = event["bars"]
                self._relay(job, event)
        await job.process.wait()

    async def _settle(self, job: _Job) -> None:
        """After a worker ends: an entity it left PENDING or RUNNING (it crashed or was
        killed) is stored FAILED or INTERRUPTED; then followers hear how the job ended.

        The cancel, the job's worker slot and a shutdown each settle it once its worker
        has exited; it is settled once, and each returns when that is done, so the cancel
        answers with the stored end rather than the PENDING or RUNNING a killed worker
        left. A caller cancelled meanwhile (a shutdown cancels the worker slots) does not
        stop it.

        Only while the id is still this job's: a sweep or analysis stored COMPLETED by its
        worker can be resumed under the same id before that worker has exited, and the
        new job must not be ended for the old one."""
        if job.settling is None:
            job.settling = asyncio.create_task(self._store_end(job))
        await asyncio.shield(job.settling)

    async def _store_end(self, job: _Job) -> None:
        if self._jobs.get(job.job_id) is not job:
            return
        self._finish(job)
        try:
            state = await run_in_threadpool(job.ledger.state, job.job_id)
            ended = job.process is None or job.process.returncode is not None
            if not state.terminal and ended:
                code = job.process.returncode if job.process else None
                killed = job.cancelled or code in (-signal.SIGKILL, -signal.SIGTERM)
                reason = f"its worker process ended (code {code})"
                await run_in_threadpool(
                    job.ledger.end, job.job_id, interrupted=killed, reason=reason
                )
                state = await run_in_threadpool(job.ledger.state, job.job_id)
        except NotFoundError:  # deleted while it was queued or running
            self._publish(job, {"event": "failed", "status": None, "error_message": "deleted"})
            return
        self._end(job, state)

    async def _announce_end(self, job: _Job) -> None:
        self._end(job, await run_in_threadpool(job.ledger.state, job.job_id))

    def _end(self, job: _Job, state: JobState) -> None:
        if job.ledger is self.runs:
            _record(job, state)
        self._publish(job, end_event(state))

    def _finish(self, job: _Job) -> None:
        if self._jobs.get(job.job_id) is job:
            del self._jobs[job.job_id]

    def _relay(self, job: _Job, event: dict[str, Any]) -> None:
        """What the worker reports, to the job's followers."""
        self._publish(job, event)

    @staticmethod
    def _publish(job: _Job, event: dict[str, Any]) -> None:
        for queue in job.listeners:
            queue.put_nowait(event)


def _record(job: _Job, state: JobState) -> None:
    """Count the ended backtest in the server's registry (served at /metrics): its worker
    process recorded into its own registry, which ends with it."""
    seconds = None if job.started_at is None else time.monotonic() - job.started_at
    bars = job.bars if state.completed else 0
    telemetry.record_run(RunStatus(state.status), seconds, bars)


def end_event(state: JobState) -> dict[str, Any]:
    """The last event of a job's stream: ``done`` when it completed, else ``failed``."""
    return {
        "event": "done" if state.completed else "failed",
        "status": state.status,
        "error_message": state.error_message,
    }
