"""`backtest run` through the warm worker (``warm_worker`` on): the console script hands the
command to a spare process with its imports done. Real processes throughout: the console
script, the spares it starts, a real store and the engine. The hand-over does not depend
on the store: only the warm-against-cold comparison runs on both backends."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from ntrader.cli.warm import SPARE_MODULE
from ntrader.db.database import Database
from ntrader.services.run_history import RunHistory
from tests.e2e.conftest import NTRADER, RunCli
from tests.e2e.signals import run_statuses, start_running_backtest

pytestmark = pytest.mark.slow

DAILY_RUN = (
    "backtest",
    "run",
    "--strategy",
    "sma_crossover",
    "--instruments",
    "AAPL",
    "--start",
    "2019-01-01",
    "--end",
    "2024-12-31",
)
# Fails at once, before the store is opened: the cheapest command that starts a spare.
UNKNOWN_STRATEGY = (*DAILY_RUN[:3], "no_such_strategy", *DAILY_RUN[4:])
# What differs between two runs of one command in what it prints.
_PER_RUN = {"id", "engine_seconds"}


def _spares(runtime: Path) -> list[int]:
    """The pids of the spares listening under ``runtime`` (found by their command line: a
    spare is no child of the test, nor of the command that started it by the time it runs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if SPARE_MODULE.encode() in arguments and str(runtime / "ntrader").encode() in arguments:
            found.append(int(entry.name))
    return found


def _wait(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _alive(pid: int) -> bool:
    try:
        return b"\0" in Path(f"/proc/{pid}/cmdline").read_bytes()  # a zombie has none
    except OSError:
        return False


@pytest.fixture
def runtime() -> Iterator[Path]:
    """The runtime dir the spares listen in (short: a socket path holds 107 bytes at most);
    every spare started under it is killed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="ntw-"))
    try:
        yield directory
    finally:
        while pids := _spares(directory):  # a spare being let go may start its successor
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def warm(runtime: Path) -> dict[str, str]:
    """The variables that turn the warm worker on, with its own runtime dir."""
    return {"XDG_RUNTIME_DIR": str(runtime), "NTRADER_WARM_WORKER": "1"}


def _ready_spare(run_cli: RunCli, warm: dict[str, str], runtime: Path, **more: str) -> int:
    """The pid of a spare listening: a command run in its own process starts one."""
    if not _listening(runtime):
        run_cli(*UNKNOWN_STRATEGY, check_exit=1, env_extra={**warm, **more})

    def one_listening() -> list[int]:
        # Exactly one: a spare started while another was on its way up finds the lock
        # taken and leaves, but its process is seen until it has.
        pids = _spares(runtime)
        return pids if len(pids) == 1 and _listening(runtime) else []

    [pid] = _wait(one_listening, "one spare listening")
    return pid


def _listening(runtime: Path) -> bool:
    return any((runtime / "ntrader").glob("*.sock"))


def _host_pid(database_url: str, run_id: str) -> int | None:
    database = Database(database_url)
    try:
        return RunHistory(database).get(run_id).host_pid
    finally:
        database.dispose()


def _stored(database_url: str, run_id: str) -> dict[str, Any]:
    database = Database(database_url)
    history = RunHistory(database)
    try:
        run = history.get(run_id)
        assert run.metrics is not None
        return {
            "metrics": run.metrics.stored(),
            "trades": [t.model_dump(mode="json") for t in history.trades(run_id)],
            "snapshots": [s.model_dump(mode="json") for s in history.snapshots(run_id)],
        }
    finally:
        database.dispose()


def _printed(stdout: str) -> dict[str, Any]:
    return {key: value for key, value in json.loads(stdout).items() if key not in _PER_RUN}


def test_a_warm_run_prints_and_stores_what_a_cold_run_does(
    run_cli: RunCli, stocked: str, warm: dict[str, str], runtime: Path
) -> None:
    # No spare yet: the first run is the command's own process, which then starts one.
    cold = run_cli(*DAILY_RUN, "--json", database_url=stocked, env_extra=warm).stdout
    spare = _ready_spare(run_cli, warm, runtime)
    hot = run_cli(*DAILY_RUN, "--json", database_url=stocked, env_extra=warm).stdout
    cold_id, hot_id = json.loads(cold)["id"], json.loads(hot)["id"]
    assert _host_pid(stocked, hot_id) == spare
    assert _host_pid(stocked, cold_id) != spare
    assert _printed(hot) == _printed(cold)
    assert _stored(stocked, hot_id) == _stored(stocked, cold_id)
    # The spare served one command and left; its successor waits for the next.
    successor = _ready_spare(run_cli, warm, runtime)
    assert successor != spare and not _alive(spare)


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [((*UNKNOWN_STRATEGY, "--json"), 1), ((*DAILY_RUN, "--no-such-option"), 2)],
    ids=["refused", "usage"],
)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failing_command_fails_alike_through_a_spare(
    run_cli: RunCli,
    stocked: str,
    warm: dict[str, str],
    runtime: Path,
    args: tuple[str, ...],
    exit_code: int,
) -> None:
    spare = _ready_spare(run_cli, warm, runtime)
    hot = run_cli(*args, database_url=stocked, check_exit=exit_code, env_extra=warm)
    assert not _alive(spare)  # it took the command
    cold = run_cli(*args, database_url=stocked, check_exit=exit_code)
    assert (hot.stdout, hot.stderr) == (cold.stdout, cold.stderr)
    assert hot.stderr.startswith(("Error: ", "Usage: "))


@pytest.mark.parametrize(
    ("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "term"]
)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_signal_to_the_command_stops_the_run_in_the_spare(
    run_cli: RunCli,
    database_url: str,
    cli_env: dict[str, str],
    warm: dict[str, str],
    runtime: Path,
    tmp_path: Path,
    signum: signal.Signals,
    exit_code: int,
) -> None:
    spare = _ready_spare(run_cli, warm, runtime)
    process = start_running_backtest(run_cli, {**cli_env, **warm}, database_url, tmp_path)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == exit_code, stderr
    [(run_id, status, _)] = run_statuses(database_url)
    assert status == "INTERRUPTED"
    assert _host_pid(database_url, run_id) == spare
    assert f"ntrader backtest resume {run_id[:8]}" in stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_spare_that_dies_with_the_command_is_reported(
    run_cli: RunCli,
    database_url: str,
    cli_env: dict[str, str],
    warm: dict[str, str],
    runtime: Path,
    tmp_path: Path,
) -> None:
    spare = _ready_spare(run_cli, warm, runtime)
    process = start_running_backtest(run_cli, {**cli_env, **warm}, database_url, tmp_path)
    os.kill(spare, signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert f"the warm worker (pid {spare}) running the command ended without an exit" in stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_socket_of_a_killed_spare_is_replaced(
    run_cli: RunCli, stocked: str, warm: dict[str, str], runtime: Path
) -> None:
    spare = _ready_spare(run_cli, warm, runtime)
    [path] = (runtime / "ntrader").glob("*.sock")
    stale = path.stat().st_ctime_ns  # not the inode: a new file may get the number back
    os.kill(spare, signal.SIGKILL)
    _wait(lambda: not _alive(spare), "the spare to die")
    assert path.stat().st_ctime_ns == stale  # left behind, nobody listening on it
    out = run_cli(*DAILY_RUN, "--json", database_url=stocked, env_extra=warm).stdout
    assert _host_pid(stocked, json.loads(out)["id"]) not in (spare, None)
    # The command ran in its own process and started a spare, which bound a new socket.
    _wait(lambda: path.exists() and path.stat().st_ctime_ns != stale, "a new socket")
    assert _ready_spare(run_cli, warm, runtime) != spare


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_spare_serves_only_its_own_fingerprint(
    run_cli: RunCli, stocked: str, warm: dict[str, str], runtime: Path
) -> None:
    spare = _ready_spare(run_cli, warm, runtime)
    # PYTHONHASHSEED is read at interpreter start: a command started with another value
    # would not run the same interpreter set-up as the spare.
    other = {**warm, "PYTHONHASHSEED": "7"}
    out = run_cli(*DAILY_RUN, "--json", database_url=stocked, env_extra=other).stdout
    assert _host_pid(stocked, json.loads(out)["id"]) != spare
    assert _alive(spare)
    # and the command's own fingerprint got its own spare
    assert _wait(lambda: len(list((runtime / "ntrader").glob("*.sock"))) == 2, "a second spare")


def test_an_idle_spare_exits_after_its_timeout(
    run_cli: RunCli, warm: dict[str, str], runtime: Path
) -> None:
    spare = _ready_spare(run_cli, warm, runtime, NTRADER_WARM_WORKER_IDLE_MINUTES="0.02")
    _wait(lambda: not _alive(spare), "the idle spare to exit")
    assert not _listening(runtime)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_off_by_default_and_a_spare_declines_once_turned_off(
    run_cli: RunCli, stocked: str, warm: dict[str, str], runtime: Path, cli_env: dict[str, str]
) -> None:
    place = {"XDG_RUNTIME_DIR": warm["XDG_RUNTIME_DIR"]}
    run_cli(*UNKNOWN_STRATEGY, check_exit=1, env_extra=place)
    run_cli(*DAILY_RUN, database_url=stocked, env_extra=place)
    time.sleep(1)  # a spare would have bound its socket by now
    assert not (runtime / "ntrader").exists() and not _spares(runtime)
    # Turned on in the config file, then off in the environment: the waiting spare declines
    # the command, which runs in its own process and starts no spare.
    run_cli("config", "set", "warm_worker", "true", env_extra=place)
    spare = _ready_spare(run_cli, place, runtime)
    off = {**place, "NTRADER_WARM_WORKER": "0"}
    out = run_cli(*DAILY_RUN, "--json", database_url=stocked, env_extra=off).stdout
    assert _host_pid(stocked, json.loads(out)["id"]) != spare
    _wait(lambda: not _alive(spare), "the declining spare to exit")
    time.sleep(1)
    assert not _spares(runtime) and not _listening(runtime)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_terminal_gets_the_same_styles_through_a_spare(
    run_cli: RunCli,
    stocked: str,
    warm: dict[str, str],
    runtime: Path,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """The spare writes to the caller's terminal itself: rich sees a terminal and colours
    the output as the command's own process does, and NO_COLOR still turns colour off."""
    terminal = {key: value for key, value in cli_env.items() if key != "NO_COLOR"}
    terminal |= {"TERM": "xterm-256color", "NTRADER_DATABASE_URL": stocked}

    def styles(extra: dict[str, str]) -> set[str]:
        child = pexpect.spawn(
            str(NTRADER),
            list(DAILY_RUN),
            env={**terminal, **extra},
            cwd=str(tmp_path),
            encoding="utf-8",
            timeout=120,
            dimensions=(50, 120),
        )
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, child.before
        return set(re.findall(r"\x1b\[[0-9;]*m", child.before))

    cold, cold_plain = styles({}), styles({"NO_COLOR": "1"})
    assert cold_plain < cold  # colours gone, bold and dim kept
    spare = _ready_spare(run_cli, warm, runtime)
    assert styles(warm) == cold
    assert not _alive(spare)
    successor = _ready_spare(run_cli, warm, runtime)
    assert styles({**warm, "NO_COLOR": "1"}) == cold_plain
    assert not _alive(successor)
