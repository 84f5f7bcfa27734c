"""Run the installed ``ntrader`` console script as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

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
    """A clean environment: its own data dir, no colour, no inherited ntrader settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NTRADER_")}
    env.update(
        {
            "XDG_DATA_HOME": str(tmp_path / "xdg"),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
            "NO_COLOR": "1",
            "COLUMNS": "120",
            "TERM": "dumb",
        }
    )
    return env


@pytest.fixture
def run_cli(cli_env: dict[str, str], tmp_path: Path) -> RunCli:
    def run(
        *args: str,
        database_url: str | None = None,
        check_exit: int | None = 0,
        timeout: int = 180,
        input: str | None = None,
        env_extra: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``input`` is typed on stdin (answers to prompts); ``env_extra`` adds variables."""
        env = {**cli_env, **(env_extra or {})}
        if database_url:
            env["NTRADER_DATABASE_URL"] = database_url
        result = subprocess.run(
            [str(NTRADER), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=timeout,
            check=False,
            input=input,
        )
        if check_exit is not None:
            assert result.returncode == check_exit, (
                f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    return run


def import_bars(
    run_cli: RunCli, path: Path, symbol: str, *extra: str, database_url: str, check_exit: int = 0
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
