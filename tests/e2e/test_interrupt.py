"""Ctrl-C during a real `backtest run`: the run is stored INTERRUPTED and resumes in place."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.e2e.conftest import RunCli
from tests.e2e.signals import resume_stalled, run_statuses, start_running_backtest

pytestmark = pytest.mark.slow


def test_ctrl_c_marks_the_run_interrupted_and_resume_completes_it(
    run_cli: RunCli, database_url: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    process = start_running_backtest(run_cli, cli_env, database_url, tmp_path, "--json")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    [(run_id, status, _)] = run_statuses(database_url)
    assert status == "INTERRUPTED"
    # A script learns which run to resume from the JSON error object itself.
    assert {key: json.loads(stdout)[key] for key in ("exit_code", "run_id")} == {
        "exit_code": 130,
        "run_id": run_id,
    }
    assert f"ntrader backtest resume {run_id[:8]}" in stderr
    assert "Traceback" not in stderr
    resumed = resume_stalled(run_cli, tmp_path, run_id, database_url)
    assert resumed["id"] == run_id
    assert resumed["status"] == "COMPLETED"
