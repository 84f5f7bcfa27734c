"""Where a sweep's points run: in this process, on a local process pool, or on a Ray cluster.

Every executor gets the bars once (``SharedInputs``, read from the store by the caller)
and yields each point's outcome as it finishes, in any order. Workers never touch the
database: the caller stores what comes back.
"""

from __future__ import annotations

import copy
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ntrader.core import strategy_registry
from ntrader.core.calendars import Annualisation
from ntrader.core.errors import UserInputError
from ntrader.core.runner import InstrumentBars
from ntrader.models.backtest import BacktestConfig
from ntrader.services.backtest_service import failure_text
from ntrader.services.simulation import SimulationResult, simulate

# Workers of a Ray instance this process starts run this same Python. Ray's uv integration
# would instead start each worker under `uv run`, which syncs (and may download) an
# environment at run time; set the variable to 1 to have it anyway. Set before any import
# of ray reads it: ray is imported only when a Ray sweep runs.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")


@dataclass(frozen=True, slots=True)
class SharedInputs:
    """The bars every point of a sweep reads: loaded once, shipped to each worker once."""

    inputs: list[InstrumentBars]
    conversions: list[InstrumentBars]
    benchmark: InstrumentBars | None
    annualisation: Annualisation  # the same for every point: the calendar is built once


@dataclass(frozen=True, slots=True)
class PointTask:
    index: int
    config: BacktestConfig


@dataclass(frozen=True, slots=True)
class PointOutcome:
    """One point's run: its result, or why it failed; where and when it ran."""

    index: int
    result: SimulationResult | None
    error: str | None
    host: str
    pid: int
    started_at: datetime


def run_point(shared: SharedInputs, task: PointTask) -> PointOutcome:
    """Simulate one point on the shared bars (in whichever process this is)."""
    started_at = datetime.now(UTC)
    result, error = None, None
    try:
        strategy_type = strategy_registry.resolve(task.config.strategy_type)
        result = simulate(
            task.config,
            strategy_type,
            shared.inputs,
            shared.benchmark,
            None,
            shared.conversions,
            shared.annualisation,
        )
    except Exception as exc:
        # The text, not the exception: a strategy's exception may not survive pickling.
        error = failure_text(exc)
    return PointOutcome(task.index, result, error, socket.gethostname(), os.getpid(), started_at)


class SweepExecutor(Protocol):
    name: str

    def warm_up(self) -> None:
        """Start what the executor needs before its first point, while the caller loads
        the bars and screens the points."""
        ...

    def run(self, shared: SharedInputs, tasks: Sequence[PointTask]) -> Iterator[PointOutcome]:
        """Each task's outcome as it finishes. Closing the iterator (Ctrl-C) stops the
        work still running."""
        ...


class InProcessExecutor:
    """One point after another in this process (``--workers 1``)."""

    name = "local"

    def warm_up(self) -> None:
        """Nothing to start."""

    def run(self, shared: SharedInputs, tasks: Sequence[PointTask]) -> Iterator[PointOutcome]:
        for task in tasks:
            yield run_point(shared, task)


_WORKER_INPUTS: SharedInputs | None = None


def _start_worker(shared: SharedInputs) -> None:
    """Pool initializer: keep the bars for every task; Ctrl-C is the parent's to handle."""
    global _WORKER_INPUTS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_INPUTS = shared


def _pool_task(task: PointTask) -> PointOutcome:
    if _WORKER_INPUTS is None:
        raise RuntimeError("a sweep worker ran a task before it received the bars")
    return run_point(_WORKER_INPUTS, task)


class LocalPoolExecutor:
    """A process pool on this machine; each worker gets the bars once, when it starts.

    Workers start from a fork server that has imported the engine once. Not a fork of this
    process: importing nautilus and pyarrow already starts native threads here, and a fork
    of a threaded process can deadlock on a lock one of them held. As with any fork
    server, a script that starts a sweep must guard its top level with
    ``if __name__ == "__main__":`` (the ``ntrader`` command does)."""

    name = "local"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._forkserver = "forkserver" in multiprocessing.get_all_start_methods()
        self._context = multiprocessing.get_context("forkserver" if self._forkserver else "spawn")
        if self._forkserver:
            self._context.set_forkserver_preload([__name__])

    def warm_up(self) -> None:
        """Start the fork server now: its import of the engine (about 2 s) then overlaps
        the caller's loading and screening, and the workers fork from it at once."""
        if self._forkserver:
            multiprocessing.forkserver.ensure_running()

    def run(self, shared: SharedInputs, tasks: Sequence[PointTask]) -> Iterator[PointOutcome]:
        context = self._context
        pool = context.Pool(
            processes=min(self.workers, len(tasks)) or 1,
            initializer=_start_worker,
            initargs=(shared,),
        )
        try:
            yield from pool.imap_unordered(_pool_task, tasks)
            pool.close()
        finally:
            # Interrupted or done: no worker outlives the sweep.
            pool.terminate()
            pool.join()


def _ray_point(shared: SharedInputs, task: PointTask) -> PointOutcome:
    """``run_point`` on a copy: Ray hands out the object store's arrays read-only (zero
    copy), and the engine writes into the bars it is given."""
    return run_point(copy.deepcopy(shared), task)


class RayExecutor:
    """Points as Ray tasks: the bars go into the object store once, each task returns its
    outcome to this process. Connects to ``address`` (``auto``, ``ray://host:port``) or,
    without one, starts a local Ray instance for the sweep (unless one is running here)."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.address = address
        self.workers = workers

    def warm_up(self) -> None:
        """Nothing ahead of the run: a Ray instance started here must not outlive a sweep
        that fails before its first point."""

    def run(self, shared: SharedInputs, tasks: Sequence[PointTask]) -> Iterator[PointOutcome]:
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            self._connect()
        try:
            remote = ray.remote(num_cpus=1)(_ray_point)
            shared_ref = ray.put(shared)
            pending = [remote.remote(shared_ref, task) for task in tasks]
            try:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    yield from ray.get(done)
            finally:
                for ref in pending:
                    ray.cancel(ref, force=True)
        finally:
            if started_here:
                ray.shutdown()

    def _connect(self) -> None:
        import ray

        options: dict[str, object] = {"include_dashboard": False, "log_to_driver": False}
        if self.address is None and self.workers is not None:
            options["num_cpus"] = self.workers
        try:
            ray.init(address=self.address, **options)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = self.address or "a new local instance"
            raise UserInputError(
                f"Could not start or reach Ray at {where}: {exc}.",
                hint="Check --ray-address (auto, or ray://HOST:PORT of a running cluster).",
            ) from exc


def make_executor(kind: str, workers: int, ray_address: str | None) -> SweepExecutor:
    """The executor ``--executor`` names; ``workers`` caps the local pool (or the CPUs of
    a Ray instance started here)."""
    if kind == "ray":
        return RayExecutor(ray_address, workers)
    if ray_address is not None:
        raise UserInputError(
            "--ray-address applies to --executor ray only.",
            hint="Add --executor ray, or drop --ray-address.",
        )
    if workers <= 1:
        return InProcessExecutor()
    return LocalPoolExecutor(workers)


def default_workers() -> int:
    """The CPUs this process may use."""
    if sys.platform == "linux":
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
