"""One job in its own process: ``python -m ntrader.api.worker KIND ID PARENT_PID [ARGS]``.

KIND is ``backtest`` (ID a PENDING run), ``sweep`` (ID a sweep; ARGS ``new CONFIRM_TOP``,
CONFIRM_TOP a number or ``none``, for a PENDING sweep, or ``resume``) or ``walk-forward``
(ID a PENDING analysis: a new one, or a resumed one queued again with its finished
windows, whose first unfinished window continues its training sweep) or ``ib-fetch`` (ID a
PENDING fetch job; the gateway comes from the settings this process inherits from the
server). The API server starts one per running job. A process, not a thread, because nautilus keeps
process-wide state (its logger, a Rust runtime) and a run cannot be stopped from another
thread; a process is stopped with SIGTERM and then stores its run as INTERRUPTED, exactly as
`backtest run` does on Ctrl-C. Progress goes to the server as JSON lines on the original
stdout; the engine's own output goes to /dev/null.

``python -m ntrader.api.worker standby PARENT_PID`` is a worker started ahead of its job:
its imports (the engine, about 2 s) are done by the time the server hands it a job as one
JSON line on stdin, ``[KIND, ID, ARGS...]``; stdin closed without a line lets it go.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import IO

from ntrader.core.errors import NotFoundError, NtraderError
from ntrader.models.enums import RunStatus
from ntrader.models.sweep import SweepRunView
from ntrader.services.backtest_service import BacktestService
from ntrader.services.ib.fetch import (
    FetchInterruptedError,
    FetchOptions,
    FetchProgress,
    IbFetchService,
)
from ntrader.services.ib.gateway import GatewayConfig
from ntrader.services.ib.jobs import FetchJobs
from ntrader.services.run_history import RunHistory
from ntrader.services.store import Database, open_database
from ntrader.services.sweep_executors import InProcessExecutor
from ntrader.services.sweep_history import SweepHistory
from ntrader.services.sweep_service import SweepInterruptedError, SweepService
from ntrader.services.walk_forward import WalkForwardInterruptedError, WalkForwardService
from ntrader.utils.settings import get_settings

_PR_SET_PDEATHSIG = 1
_PROGRESS_INTERVAL_S = 0.2


class _Stopped(KeyboardInterrupt):
    """SIGTERM before the engine took over the signal: the run never started."""


def _stop(_signum: int, _frame: object) -> None:
    raise _Stopped


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel send SIGTERM when the server dies (even by SIGKILL), so the run is
    stored INTERRUPTED instead of RUNNING forever."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: a restarted server finds the stale run
        return
    if os.getppid() != parent_pid:  # the server died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _event_stream() -> IO[str]:
    events = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return events


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _stop)
    if argv[0] == "standby":
        _die_with_parent(int(argv[1]))
        try:
            line = sys.stdin.readline()
        except _Stopped:
            return 0
        if not line:
            return 0
        kind, job_id, *arguments = (str(part) for part in json.loads(line))
    else:
        kind, job_id, arguments = argv[0], argv[1], argv[3:]
        _die_with_parent(int(argv[2]))
    events = _event_stream()

    def send(event: str, **data: object) -> None:
        events.write(json.dumps({"event": event, **data}) + "\n")

    database = open_database(None)
    try:
        if kind == "sweep":
            return _sweep(database, job_id, arguments, send)
        if kind == "walk-forward":
            return _walk_forward(database, job_id, send)
        if kind == "ib-fetch":
            return _ib_fetch(database, job_id, send)
        return _backtest(database, job_id, send)
    finally:
        database.dispose()


def _backtest(database: Database, run_id: str, send: Callable[..., None]) -> int:
    last = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= _PROGRESS_INTERVAL_S or done >= total:
            last = now
            send("progress", bars=done, total=total)

    try:
        BacktestService(database).start(
            run_id, on_stage=lambda stage: send("stage", stage=stage), on_progress=progress
        )
    except _Stopped:
        _end_pending(
            RunHistory(database), run_id, RunStatus.INTERRUPTED, "cancelled before it started"
        )
        return 130
    except NtraderError as exc:
        # Refused before it ran (bars gone since it was submitted): the run says why.
        _end_pending(RunHistory(database), run_id, RunStatus.FAILED, exc.message)
        return exc.exit_code
    return 0


def _sweep(
    database: Database, sweep_id: str, arguments: list[str], send: Callable[..., None]
) -> int:
    """Run a sweep's points one after another in this process: the job holds one of the
    server's --jobs slots, so a sweep never takes more than one CPU (a pool inside would
    multiply the server's processes)."""

    def point(done: int, total: int, best: SweepRunView | None) -> None:
        shown = (
            None
            if best is None
            else {"run_id": best.run_id, "objective": best.objective, "parameters": best.parameters}
        )
        send("progress", runs=done, total=total, best=shown)

    service = SweepService(database)
    try:
        if arguments[0] == "resume":
            service.resume(sweep_id, InProcessExecutor(), point)
        else:
            top = None if arguments[1] == "none" else int(arguments[1])
            service.run_created(sweep_id, InProcessExecutor(), point, confirm_top=top)
    except (_Stopped, SweepInterruptedError):
        # Stopped before its points ran, or in the middle: the server stores it
        # INTERRUPTED if it is not already, and resume runs what is missing.
        return 130
    except NtraderError as exc:
        # Refused before its points ran (bars gone since it was submitted): the sweep says
        # why; one stopped while running stored the same sentence itself.
        SweepHistory(database).end_pending(sweep_id, exc.message)
        send("stage", stage=exc.message)
        return exc.exit_code
    return 0


def _walk_forward(database: Database, walk_forward_id: str, send: Callable[..., None]) -> int:
    """Run an analysis's windows here, each training sweep one point after another (one
    CPU, as a sweep job)."""

    def window(windows_done: int, windows: int, runs_done: int, runs: int) -> None:
        send("progress", windows_done=windows_done, windows=windows, runs=runs_done, total=runs)

    try:
        WalkForwardService(database).run_created(walk_forward_id, InProcessExecutor(), window)
    except (_Stopped, WalkForwardInterruptedError):  # stored INTERRUPTED by the service
        return 130
    except NtraderError as exc:  # stored FAILED or INTERRUPTED, with the reason
        return exc.exit_code
    return 0


def _ib_fetch(database: Database, job_id: str, send: Callable[..., None]) -> int:
    """Fetch a PENDING job's request as `data fetch` does, from the gateway of the server's
    settings; the job stores its progress and its end (FAILED or INTERRUPTED with the
    sentence), so a server that dies loses nothing."""
    settings = get_settings()
    service = IbFetchService(
        database, GatewayConfig.from_settings(settings), FetchOptions.from_settings(settings)
    )

    def progress(update: FetchProgress) -> None:
        send("progress", **asdict(update))

    try:
        job = FetchJobs(database).run(job_id, service, progress)
    except (_Stopped, FetchInterruptedError):
        return 130
    except NtraderError as exc:
        return exc.exit_code
    assert job.result is not None  # a completed job has one
    send("result", result=job.result.model_dump(mode="json"))
    return 0


def _end_pending(history: RunHistory, run_id: str, status: RunStatus, reason: str) -> None:
    """End a run that is still PENDING; one the engine started has recorded its own end
    (and a run deleted meanwhile has nothing to end)."""
    with contextlib.suppress(NotFoundError):
        if history.get(run_id).status is RunStatus.PENDING:
            history.mark_ended(run_id, status, reason)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
