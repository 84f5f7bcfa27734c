"""A `backtest sweep` or `backtest walk-forward` killed with SIGKILL is left RUNNING with
its dead process recorded: `list` calls it stale, and `resume` finishes it with the results
an uninterrupted one has. The process is held inside a run by a plug-in strategy, and the
test waits for rows in the store, never on a timer."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import NTRADER, RunCli
from tests.e2e.signals import gated_plugin

# Each case on one backend, the four together on both: staleness is decided in Python, and
# the stores' queries it uses run on both backends in tests/integration/test_stale_records.py.
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
POSTGRESQL = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
SWEEP = (
    "backtest",
    "sweep",
    "--strategy",
    "gated",
    "--instruments",
    "AAPL",
    "--start",
    "2019-01-01",
    "--end",
    "2020-12-31",
    "--grid",
    "period=1,2,3",
    "--objective",
    "total_return",
    "--workers",
    "1",
)
WALK_FORWARD = (
    "backtest",
    "walk-forward",
    "--strategy",
    "gated",
    "--instruments",
    "AAPL",
    "--start",
    "2019-01-01",
    "--end",
    "2020-06-30",
    "--grid",
    "period=1,2",
    "--train",
    "12M",
    "--test",
    "3M",
    "--objective",
    "total_return",
    "--workers",
    "1",
)
_DEADLINE_S = 120


def _run_statuses(url: str) -> Counter[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT status FROM backtest_results")).scalars()
            return Counter(rows)
    finally:
        engine.dispose()


def _kill_when(
    process: subprocess.Popen[str],
    url: str,
    ready: Callable[[Counter[str]], bool],
    how: signal.Signals = signal.SIGKILL,
) -> str:
    """Send ``how`` to ``process`` once the stored runs' statuses satisfy ``ready``; its
    stderr once it ended."""
    deadline = time.monotonic() + _DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"it ended before it was killed: {process.communicate()[1]}")
        if ready(_run_statuses(url)):
            process.send_signal(how)
            return process.communicate(timeout=_DEADLINE_S)[1]
        time.sleep(0.1)
    process.kill()
    process.wait()
    pytest.fail(f"the runs never got there: {_run_statuses(url)}")


def _start(
    cli_env: dict[str, str], url: str, args: tuple[str, ...], **stall: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(NTRADER), *args],
        env={**cli_env, "NTRADER_DATABASE_URL": url, **stall},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ranking(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r["parameters"], r["status"], r["objective"], r["metrics"]) for r in document["runs"]]


def _windows(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (w["train_start"], w["test_start"], w["parameters"], w["in_sample"], w["out_of_sample"])
        for w in document["windows"]
    ]


@pytest.mark.slow
@SQLITE
def test_a_killed_sweep_is_stale_and_resume_finishes_it(
    run_cli: RunCli, cli_env: dict[str, str], stocked: str, tmp_path: Path
) -> None:
    plugin = gated_plugin(tmp_path)
    # Point 0 (period 1) is stored, point 1 (period 2) is held in the engine: killed there.
    process = _start(cli_env, stocked, (*plugin, *SWEEP), STALL_PERIOD="2")
    _kill_when(process, stocked, lambda runs: runs["COMPLETED"] >= 1)

    listed = run_cli(*plugin, "backtest", "sweep", "list", "--json", database_url=stocked)
    (killed,) = json.loads(listed.stdout)
    assert (killed["status"], killed["stale"]) == ("RUNNING", True)
    table = run_cli(*plugin, "backtest", "sweep", "list", database_url=stocked).stdout
    assert "RUNNING (stale)" in table
    before = json.loads(
        run_cli(
            *plugin, "backtest", "sweep", "show", "latest", "--json", database_url=stocked
        ).stdout
    )
    assert before["stale"] is True
    kept = {r["run_id"] for r in before["runs"] if r["status"] == "COMPLETED"}
    assert len(kept) >= 1

    resume = (*plugin, "backtest", "sweep", "resume", killed["sweep_id"][:8], "--workers", "1")
    resumed = json.loads(run_cli(*resume, "--json", database_url=stocked).stdout)
    assert (resumed["status"], resumed["stale"]) == ("COMPLETED", False)
    assert kept <= {r["run_id"] for r in resumed["runs"]}  # the finished run is not run again
    assert _run_statuses(stocked) == Counter(COMPLETED=3)

    reference = json.loads(run_cli(*plugin, *SWEEP, "--json", database_url=stocked).stdout)
    assert _ranking(resumed) == _ranking(reference)
    statistics = {k: v for k, v in resumed["statistics"].items() if k != "best_run_id"}
    assert statistics == {k: v for k, v in reference["statistics"].items() if k != "best_run_id"}


@pytest.mark.slow
@POSTGRESQL
def test_a_killed_walk_forward_is_stale_and_resume_finishes_it(
    run_cli: RunCli, cli_env: dict[str, str], stocked: str, tmp_path: Path
) -> None:
    plugin = gated_plugin(tmp_path)
    # Window 1's training sweep is stored, its test run (from 2020-01-01) is held RUNNING.
    process = _start(cli_env, stocked, (*plugin, *WALK_FORWARD), STALL_FROM="2020-01-01")
    _kill_when(process, stocked, lambda runs: runs["COMPLETED"] >= 2 and runs["RUNNING"] == 1)

    listed = run_cli(*plugin, "backtest", "walk-forward", "list", "--json", database_url=stocked)
    (killed,) = json.loads(listed.stdout)
    assert (killed["status"], killed["stale"], killed["windows_done"]) == ("RUNNING", True, 0)
    shown = run_cli(*plugin, "backtest", "walk-forward", "list", database_url=stocked).stdout
    assert "RUNNING (stale)" in shown
    runs = run_cli(*plugin, "backtest", "list", "--json", database_url=stocked).stdout
    assert [r["stale"] for r in json.loads(runs) if r["status"] == "RUNNING"] == [True]

    resumed = json.loads(
        run_cli(
            *plugin,
            "backtest",
            "walk-forward",
            "resume",
            killed["walk_forward_id"][:8],
            "--workers",
            "1",
            "--json",
            database_url=stocked,
        ).stdout
    )
    assert (resumed["status"], resumed["stale"]) == ("COMPLETED", False)
    # The test run the dead process left RUNNING is stored INTERRUPTED, saying why; the
    # window ran its test again.
    statuses = _run_statuses(stocked)
    assert statuses["INTERRUPTED"] == 1 and statuses["RUNNING"] == 0
    reference = json.loads(run_cli(*plugin, *WALK_FORWARD, "--json", database_url=stocked).stdout)
    assert _windows(resumed) == _windows(reference) and len(_windows(resumed)) == 2
    assert resumed["efficiency"] == reference["efficiency"]
    assert resumed["final_equity"] == reference["final_equity"]


@pytest.mark.slow
@POSTGRESQL
def test_sigterm_stops_a_sweep_interrupted_not_stale(
    run_cli: RunCli, cli_env: dict[str, str], stocked: str, tmp_path: Path
) -> None:
    """A supervisor's stop (SIGTERM) ends the sweep as Ctrl-C does: stored INTERRUPTED with
    the reason, exit 143 and the sentence, and resume runs the rest."""
    plugin = gated_plugin(tmp_path)
    process = _start(cli_env, stocked, (*plugin, *SWEEP), STALL_PERIOD="2")
    stderr = _kill_when(process, stocked, lambda runs: runs["COMPLETED"] >= 1, signal.SIGTERM)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM" in stderr and "Traceback" not in stderr
    listed = run_cli(*plugin, "backtest", "sweep", "list", "--json", database_url=stocked)
    (stopped,) = json.loads(listed.stdout)
    assert (stopped["status"], stopped["stale"]) == ("INTERRUPTED", False)
    assert stopped["error_message"] == "interrupted by SIGTERM"
    assert f"ntrader backtest sweep resume {stopped['sweep_id'][:8]}" in " ".join(stderr.split())
    resume = (*plugin, "backtest", "sweep", "resume", stopped["sweep_id"][:8], "--workers", "1")
    resumed = json.loads(run_cli(*resume, "--json", database_url=stocked).stdout)
    assert resumed["status"] == "COMPLETED"
    assert _run_statuses(stocked) == Counter(COMPLETED=3)


@pytest.mark.slow
@SQLITE
def test_sigterm_stops_a_walk_forward_interrupted_not_stale(
    run_cli: RunCli, cli_env: dict[str, str], stocked: str, tmp_path: Path
) -> None:
    plugin = gated_plugin(tmp_path)
    process = _start(cli_env, stocked, (*plugin, *WALK_FORWARD), STALL_FROM="2020-01-01")
    stderr = _kill_when(
        process,
        stocked,
        lambda runs: runs["COMPLETED"] >= 2 and runs["RUNNING"] == 1,
        signal.SIGTERM,
    )
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "was stopped by SIGTERM after 0 of 2 windows" in " ".join(stderr.split())
    listed = run_cli(*plugin, "backtest", "walk-forward", "list", "--json", database_url=stocked)
    (stopped,) = json.loads(listed.stdout)
    assert (stopped["status"], stopped["stale"]) == ("INTERRUPTED", False)
    assert _run_statuses(stocked)["RUNNING"] == 0
