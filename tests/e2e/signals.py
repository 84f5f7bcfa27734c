"""Real runs held inside the engine so a test can signal or kill them: a plug-in strategy
that stalls in ``on_bar`` where the environment tells it to.

Catching a run at RUNNING and signalling at once raced the engine: on a loaded machine the
run could finish before the signal landed. A run that stalls cannot finish first, and the
run resumed without the environment variable goes through.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import NTRADER, RunCli, import_bars

# Long on bar PERIOD + 1, flat 20 bars later. A run whose period is STALL_PERIOD, or whose
# first bar is on or after STALL_FROM, or which is the STALL_RUN-th run its process starts,
# waits on that bar (for at most two minutes): the test kills the process there. STALL_RUN
# holds only the first attempt of a job whose resume (a new process) runs fewer runs.
GATED_STRATEGY = """
from __future__ import annotations

import itertools
import os
import time
from datetime import UTC, datetime

from nautilus_trader.model.data import Bar

from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.core.strategy_registry import register_strategy

_STARTED = itertools.count(1)  # the runs this process started


class GatedConfig(SignalStrategyConfig, frozen=True):
    period: int = 1


@register_strategy(name="gated", config=GatedConfig)
class Gated(SignalStrategy):
    def __init__(self, config: GatedConfig) -> None:
        super().__init__(config)
        self._bars = 0
        self._run = next(_STARTED)

    def update_signal(self, bar: Bar) -> None:
        self._bars += 1
        if self._bars == 1 and self._stalls(bar):
            # Short sleeps: a SIGTERM the kernel hands to another thread of the process sets
            # the handler's flag but does not wake a long sleep in the main thread.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                time.sleep(0.05)
        if self._bars == self.config.period + 1:
            self.go_long(bar)
        if self._bars == self.config.period + 21:
            self.go_flat()

    def _stalls(self, bar: Bar) -> bool:
        period = os.environ.get("STALL_PERIOD")
        since = os.environ.get("STALL_FROM")
        run = os.environ.get("STALL_RUN")
        day = datetime.fromtimestamp(bar.ts_event / 1e9, UTC).date().isoformat()
        return (
            (period is not None and int(period) == self.config.period)
            or (since is not None and day >= since)
            or (run is not None and int(run) == self._run)
        )
"""


def minute_csv(path: Path, days: int = 120) -> None:
    """Regular-hours 1-minute bars."""
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
    run_cli: RunCli, cli_env: dict[str, str], database_url: str, tmp_path: Path, *extra: str
) -> subprocess.Popen[str]:
    """Import the minute bars, start `backtest run [extra...]` of the gated strategy on them,
    stalling on its first bar, and return once the run is stored RUNNING: it cannot finish
    before a signal lands. Resume it with ``resume_stalled``."""
    csv = tmp_path / "minutes.csv"
    minute_csv(csv, days=40)
    import_bars(run_cli, csv, "TEST", "--timeframe", "1MIN", database_url=database_url)
    process = subprocess.Popen(
        [
            str(NTRADER),
            *gated_plugin(tmp_path),
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
            "--strategy",
            "gated",
            *extra,
        ],
        env={**cli_env, "NTRADER_DATABASE_URL": database_url, "STALL_FROM": "2023-01-01"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        statuses = run_statuses(database_url)
        if statuses and statuses[-1][1] == "RUNNING":
            return process
        if process.poll() is not None:
            pytest.fail(f"the run ended before it ran: {process.communicate()[1]}")
        time.sleep(0.05)
    process.kill()
    pytest.fail("the run never reached RUNNING")


def gated_strategy_file(directory: Path) -> Path:
    """The gated strategy's plug-in file, written into ``directory``."""
    path = directory / "gated.py"
    path.write_text(GATED_STRATEGY)
    return path


def gated_plugin(tmp_path: Path) -> tuple[str, str]:
    """The global option that loads the gated strategy (written into ``tmp_path``)."""
    return ("--strategy-path", str(gated_strategy_file(tmp_path)))


def resume_stalled(
    run_cli: RunCli, tmp_path: Path, run_id: str, database_url: str
) -> dict[str, Any]:
    """`backtest resume RUN --json` of a run the gated strategy held, as printed."""
    return json.loads(
        run_cli(
            *gated_plugin(tmp_path),
            "backtest",
            "resume",
            run_id[:8],
            "--json",
            database_url=database_url,
        ).stdout
    )
