"""A real `backtest run` on 1-minute bars, started and caught RUNNING, so a test can signal it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import NTRADER, RunCli, import_bars


def minute_csv(path: Path, days: int = 120) -> None:
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


def run_statuses(url: str) -> list[tuple[str, str, str | None]]:
    """(id, status, error message) of every stored run, oldest first."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id, status, error_message FROM backtest_results ORDER BY created_at")
            ).all()
    finally:
        engine.dispose()
    return [(row[0], row[1], row[2]) for row in rows]


def start_running_backtest(
    run_cli: RunCli, cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> subprocess.Popen[str]:
    """Import the minute bars, start `backtest run` on them and return once it is RUNNING."""
    csv = tmp_path / "minutes.csv"
    minute_csv(csv)
    import_bars(run_cli, csv, "TEST", "--timeframe", "1MIN", database_url=database_url)
    process = subprocess.Popen(
        [
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
        ],
        env={**cli_env, "NTRADER_DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        statuses = run_statuses(database_url)
        if statuses and statuses[-1][1] == "RUNNING":
            return process
        time.sleep(0.05)
    process.kill()
    pytest.fail("the run never reached RUNNING")
