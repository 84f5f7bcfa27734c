"""Job workers started ahead of their job: the spare runs the next job, a spare that no
longer fits (other environment, or dead) gives way to a cold start, and a spare let go
without a job ends without touching the store."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

from ntrader.api.launcher import WorkerLauncher
from ntrader.db.database import Database
from ntrader.models.enums import RunStatus
from ntrader.services.run_history import RunHistory
from tests.api.server import sma_config, store_with_sample_bars

_EXEC_TIMEOUT_S = 10.0


async def _command_line(pid: int) -> list[str]:
    """The process's arguments. Read at once after its start they can be empty: the
    kernel closes the close-on-exec pipe the parent waits on before it has set up the new
    program's arguments, and a loaded machine may not run the child in between."""
    deadline = time.monotonic() + _EXEC_TIMEOUT_S
    while not (arguments := Path(f"/proc/{pid}/cmdline").read_bytes()):
        assert time.monotonic() < deadline, f"process {pid} has no arguments"
        await asyncio.sleep(0.01)
    return arguments.decode().split("\0")[:-1]


async def _events(process: asyncio.subprocess.Process) -> list[dict[str, object]]:
    assert process.stdout is not None
    lines = [json.loads(line) async for line in process.stdout]
    await process.wait()
    return lines


def _environment(url: str) -> dict[str, str]:
    return {**os.environ, "NTRADER_DATABASE_URL": url}


def test_the_spare_runs_the_next_job(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ntrader.db'}"
    store_with_sample_bars(url)
    database = Database(url)
    with database.transaction() as repos:
        run_id = repos.backtests.create(sma_config())

    async def scenario() -> tuple[list[str], list[dict[str, object]], int | None]:
        launcher = WorkerLauncher()
        env = _environment(url)
        await launcher.prepare(env)
        process = await launcher.launch(("backtest", run_id, str(os.getpid())), env)
        command = await _command_line(process.pid)
        events = await _events(process)
        await launcher.close()
        return command, events, process.returncode

    command, events, code = asyncio.run(scenario())
    assert command[-2:] == ["standby", str(os.getpid())]
    assert code == 0
    assert {"stage", "progress"} <= {event["event"] for event in events}
    assert RunHistory(database).get(run_id).status is RunStatus.COMPLETED
    database.dispose()


def test_a_spare_of_other_settings_or_dead_gives_way_to_a_cold_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ntrader.db'}"
    Database(url).dispose()

    async def scenario() -> list[list[str]]:
        launcher = WorkerLauncher()
        env = _environment(url)
        await launcher.prepare({**env, "NTRADER_LOG_LEVEL": "DEBUG"})
        mismatched = launcher._spare
        assert mismatched is not None
        other_settings = await launcher.launch(("backtest", "no-such-run", str(os.getpid())), env)
        commands = [await _command_line(other_settings.pid)]
        await _events(other_settings)
        spare = launcher._spare
        assert spare is not None
        spare.send_signal(signal.SIGKILL)
        await spare.wait()
        after_death = await launcher.launch(("backtest", "no-such-run", str(os.getpid())), env)
        commands.append(await _command_line(after_death.pid))
        await _events(after_death)
        await launcher.close()
        # Let go in the background by the launch, and waited for by close().
        assert mismatched.returncode is not None
        assert launcher._leaving == set()
        return commands

    for command in asyncio.run(scenario()):
        assert command[-3:] == ["backtest", "no-such-run", str(os.getpid())]


def test_a_spare_let_go_ends_without_a_job(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ntrader.db'}"
    Database(url).dispose()

    async def scenario() -> int | None:
        launcher = WorkerLauncher()
        await launcher.prepare(_environment(url))
        spare = launcher._spare
        assert spare is not None
        assert spare.stdin is not None
        # What close() does, without its 1 s limit (on a loaded machine the imports take
        # longer, and close() kills a spare still importing).
        spare.stdin.close()
        return await spare.wait()

    assert asyncio.run(scenario()) == 0
    with Database(url).transaction() as repos:
        assert repos.backtests.list(last=10) == []
