"""A real `backtest run` on 1-minute bars, held inside the engine so a test can signal it.

Catching the run at RUNNING and signalling at once raced the engine: on a loaded machine the
run could finish before the signal landed. A plug-in strategy that stalls in ``on_bar`` until
signalled (once: it leaves a marker, so the resumed run goes through) takes the timing out.
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

STALLING_STRATEGY = '''
"""Buys on the second bar, then waits in on_bar at bar 500 until a signal ends the wait."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from nautilus_trader.model.data import Bar

from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.core.strategy_registry import register_strategy


class StallingConfig(SignalStrategyConfig, frozen=True):
    marker: str = ""


@register_strategy(name="stalling", config=StallingConfig)
class Stalling(SignalStrategy):
    def __init__(self, config: StallingConfig) -> None:
        super().__init__(config)
        self._bars = 0

    def update_signal(self, bar: Bar) -> None:
        self._bars += 1
        if self._bars == 2:
            self.go_long(bar)
        marker = Path(self.config.marker)
        if self._bars == 500 and not marker.exists():
            marker.touch()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                time.sleep(0.05)
'''


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
    run_cli: RunCli, cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> subprocess.Popen[str]:
    """Import the minute bars, start `backtest run` on them and return once the strategy
    stalls inside the engine. `backtest resume` needs ``stalling_path(tmp_path)`` too."""
    csv = tmp_path / "minutes.csv"
    minute_csv(csv, days=40)
    import_bars(run_cli, csv, "TEST", "--timeframe", "1MIN", database_url=database_url)
    marker = tmp_path / "stalled"
    (tmp_path / "stalling.py").write_text(STALLING_STRATEGY)
    process = subprocess.Popen(
        [
            str(NTRADER),
            *stalling_path(tmp_path),
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
            "stalling",
            "--param",
            f"marker={marker}",
        ],
        env={**cli_env, "NTRADER_DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if marker.exists():
            return process
        if process.poll() is not None:
            pytest.fail(f"the run ended before it stalled: {process.communicate()[1]}")
        time.sleep(0.05)
    process.kill()
    pytest.fail("the run never stalled in the strategy")


def stalling_path(tmp_path: Path) -> tuple[str, str]:
    """The global option that loads the stalling strategy: `backtest resume` needs it too."""
    return ("--strategy-path", str(tmp_path / "stalling.py"))


def resume_stalled(
    run_cli: RunCli, tmp_path: Path, run_id: str, database_url: str
) -> dict[str, Any]:
    """`backtest resume RUN --json` of a run the stalling strategy held, as printed."""
    return json.loads(
        run_cli(
            *stalling_path(tmp_path),
            "backtest",
            "resume",
            run_id[:8],
            "--json",
            database_url=database_url,
        ).stdout
    )
