"""Starting job worker processes (api/worker.py), one kept ready ahead of its job.

A worker spends about 2 s importing the engine before it can run anything; a backtest of a
few months of minutes runs in about as long. So the launcher keeps one worker started
ahead, imports done, waiting on stdin, and hands the next job to it; then it starts the next
spare. One, not one per slot: an idle spare holds the engine's imports in memory (about
200 MiB), and a burst of jobs is still served sooner by a spare that is half-way through its
imports than by a cold start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Mapping, Sequence

_WORKER = (sys.executable, "-m", "ntrader.api.worker")


class WorkerLauncher:
    def __init__(self) -> None:
        self._spare: asyncio.subprocess.Process | None = None
        self._spare_env: Mapping[str, str] = {}
        # Spares being let go: their end is awaited in the background, never by a launch.
        self._leaving: set[asyncio.Task[None]] = set()

    async def prepare(self, env: Mapping[str, str]) -> None:
        """Start the spare now (the server starts it before its first job)."""
        await self._replace_spare(env)

    async def launch(
        self, command: Sequence[str], env: Mapping[str, str]
    ) -> asyncio.subprocess.Process:
        """A worker process running ``command`` (the worker's arguments after the module:
        kind, job id, server pid, the kind's arguments), its progress on its stdout. The
        spare runs it if it was started with the same environment and is still alive."""
        spare, self._spare = self._spare, None
        process = None
        if spare is not None and self._spare_env == env and spare.returncode is None:
            process = await self._hand_over(spare, command)
        elif spare is not None:
            self._release(spare)
        if process is None:
            process = await asyncio.create_subprocess_exec(
                *_WORKER,
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                env=dict(env),
            )
        await self._replace_spare(env)
        return process

    async def close(self) -> None:
        """Let the spare go (the server is stopping), and wait for every spare let go."""
        spare, self._spare = self._spare, None
        if spare is not None:
            self._release(spare)
        await asyncio.gather(*self._leaving)

    def _release(self, spare: asyncio.subprocess.Process) -> None:
        task = asyncio.create_task(_let_go(spare))
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    async def _replace_spare(self, env: Mapping[str, str]) -> None:
        spare = await asyncio.create_subprocess_exec(
            *_WORKER,
            "standby",
            str(os.getpid()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=dict(env),
        )
        # Swapped with no await in between: two job slots launching at once each leave
        # one spare, and the one replaced is let go rather than left waiting.
        previous, self._spare, self._spare_env = self._spare, spare, dict(env)
        if previous is not None:
            self._release(previous)

    @staticmethod
    async def _hand_over(
        spare: asyncio.subprocess.Process, command: Sequence[str]
    ) -> asyncio.subprocess.Process | None:
        """The spare, now running ``command``; None if it died before it took the job."""
        assert spare.stdin is not None
        kind, job_id, _server_pid, *arguments = command
        try:
            spare.stdin.write((json.dumps([kind, job_id, *arguments]) + "\n").encode())
            await spare.stdin.drain()
            spare.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            await _let_go(spare)
            return None
        return spare


async def _let_go(process: asyncio.subprocess.Process) -> None:
    """End a spare that has no job: closing its stdin ends it; it is killed if it is
    stuck in its imports."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        await asyncio.wait_for(process.wait(), timeout=1.0)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
