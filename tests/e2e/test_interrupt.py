"""Ctrl-C during a real `backtest run`: the run is stored INTERRUPTED and resumes in place."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import NTRADER, RunCli, import_bars

pytestmark = pytest.mark.slow


def _minute_csv(path: Path, days: int = 120) -> None:
    """Regular-hours 1-minute bars: enough for a run that lasts a couple of seconds."""
    starts = np.datetime64("2023-01-02T14:30") + np.arange(days * 2) * np.timedelta64(1, "D")
    starts = starts[np.is_busday(starts.astype("datetime64[D]"))][:days]
    stamps = (starts[:, None] + np.arange(390) * np.timedelta64(1, "m")).ravel()
    close = np.round(
        100 * np.exp(np.cumsum(np.random.default_rng(5).normal(0, 1e-3, stamps.size))), 2
    )
    open_ = np.concatenate([[close[0]], close[:-1]])
    lines = ["timestamp,open,high,low,close,volume"] + [
        f"{t}Z,{o:.2f},{max(o, c) + 0.02:.2f},{min(o, c) - 0.02:.2f},{c:.2f},1000"
        for t, o, c in zip(stamps.astype(str), open_, close, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


def _latest_status(url: str) -> tuple[str, str] | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT id, status FROM backtest_results ORDER BY created_at DESC LIMIT 1")
            ).first()
    finally:
        engine.dispose()
    return None if row is None else (row[0], row[1])


def test_ctrl_c_marks_the_run_interrupted_and_resume_completes_it(
    run_cli: RunCli, database_url: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    csv = tmp_path / "minutes.csv"
    _minute_csv(csv)
    import_bars(run_cli, csv, "TEST", "--timeframe", "1MIN", database_url=database_url)
    command = [
        str(NTRADER),
        "backtest",
        "run",
        "--instruments",
        "TEST",
        "--timeframe",
        "1MIN",
        "--start",
        "2023-01-01",
        "--end",
        "2023-12-31",
        "--benchmark",
        "TEST",
    ]
    process = subprocess.Popen(
        command,
        env={**cli_env, "NTRADER_DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = _latest_status(database_url)
        if status and status[1] == "RUNNING":
            break
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("the run never reached RUNNING")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    run_id, status = _latest_status(database_url) or ("", "")
    assert status == "INTERRUPTED"
    assert f"ntrader backtest resume {run_id[:8]}" in stderr
    assert "Traceback" not in stderr
    resumed = json.loads(
        run_cli("backtest", "resume", run_id[:8], "--json", database_url=database_url).stdout
    )
    assert resumed["id"] == run_id
    assert resumed["status"] == "COMPLETED"
