"""Run ``ntrader`` as a user would: the installed console script, or the same in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ntrader.db.database import Database
from ntrader.services.data_service import DataService, ImportRequest
from tests.conftest import SAMPLE_DIR
from tests.inprocess_cli import invoke_ntrader

NTRADER = Path(sys.executable).with_name("ntrader")

RunCli = Callable[..., subprocess.CompletedProcess[str]]

# `backtest run` on AAPL over 2020, the arguments most CLI tests start from.
RUN_2020 = (
    "backtest",
    "run",
    "--instruments",
    "AAPL",
    "--start",
    "2020-01-01",
    "--end",
    "2020-12-31",
)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: its own data dir, no colour, no inherited ntrader settings, and
    no warm worker of the user's reachable (``XDG_RUNTIME_DIR`` unset, its own state dir)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NTRADER_") and k != "XDG_RUNTIME_DIR"
    }
    env.update(
        {
            "XDG_DATA_HOME": str(tmp_path / "xdg"),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
            "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
            "NO_COLOR": "1",
            "COLUMNS": "120",
            "TERM": "dumb",
        }
    )
    return env


def _caller(
    execute: Callable[..., subprocess.CompletedProcess[str]], cli_env: dict[str, str], cwd: Path
) -> RunCli:
    def run(
        *args: str,
        database_url: str | None = None,
        check_exit: int | None = 0,
        input: str | None = None,
        env_extra: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``input`` is typed on stdin (answers to prompts); ``env_extra`` adds variables."""
        env = {**cli_env, **(env_extra or {})}
        if database_url:
            env["NTRADER_DATABASE_URL"] = database_url
        result = execute(args, env=env, cwd=cwd, input=input)
        if check_exit is not None:
            assert result.returncode == check_exit, (
                f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    return run


def _subprocess(
    args: tuple[str, ...], *, env: dict[str, str], cwd: Path, input: str | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NTRADER), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=180,
        check=False,
        input=input,
    )


@pytest.fixture
def run_cli(cli_env: dict[str, str], tmp_path: Path) -> RunCli:
    """The installed console script in a subprocess: for what only a process shows (signals,
    start-up, the script itself); one such test per command path."""
    return _caller(_subprocess, cli_env, tmp_path)


@pytest.fixture
def invoke_cli(cli_env: dict[str, str], tmp_path: Path) -> RunCli:
    """The same command line, environment and working directory, run in this process."""
    return _caller(invoke_ntrader, cli_env, tmp_path)


def import_bars(
    run_cli: RunCli,
    path: Path,
    symbol: str,
    *extra: str,
    database_url: str,
    check_exit: int | None = 0,
) -> subprocess.CompletedProcess[str]:
    """`ntrader data import --file PATH --instrument SYMBOL [extra...]`."""
    return run_cli(
        "data",
        "import",
        "--file",
        str(path),
        "--instrument",
        symbol,
        *extra,
        database_url=database_url,
        check_exit=check_exit,
    )


def stock(database_url: str, *symbols: str) -> str:
    """Import the bundled daily bars of ``symbols`` in-process: set-up, not what is tested."""
    database = Database(database_url)
    service = DataService(database)
    for symbol in symbols:
        service.import_csv(
            ImportRequest(file=SAMPLE_DIR / f"{symbol}_daily.csv", instrument=symbol)
        )
    database.dispose()
    return database_url


@pytest.fixture
def stocked(database_url: str) -> str:
    """A store holding the AAPL and SPY daily sample bars (SPY is the default benchmark)."""
    return stock(database_url, "AAPL", "SPY")
