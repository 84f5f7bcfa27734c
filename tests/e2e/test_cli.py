"""The ``ntrader`` CLI as a user runs it: a subprocess, exit codes, stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from ntrader.cli.main import cli, command_summary
from ntrader.db.engine import SCHEMA_HEAD
from tests.e2e.conftest import NTRADER, RUN_2020, RunCli, import_bars, stock
from tests.factories import METRICS_SCHEMA

pytestmark = pytest.mark.slow


def test_version_and_help(run_cli: RunCli) -> None:
    assert run_cli("--version").stdout.strip() == "ntrader, version 0.1.0"
    help_text = run_cli("--help").stdout
    for command in ("demo", "run-simple", "data", "backtest", "db"):
        assert command in help_text


def test_help_lists_each_command_with_the_first_line_of_its_own_help() -> None:
    context = click.Context(cli)
    for name in cli.list_commands(context):
        command = cli.get_command(context, name)
        assert command is not None
        assert command_summary(name) == command.get_short_help_str(limit=1000), name


def test_help_imports_neither_command_modules_nor_nautilus() -> None:
    probe = (
        "import sys\n"
        "from ntrader.cli.main import cli\n"
        "try:\n"
        "    cli.main(['--help'], standalone_mode=False)\n"
        "finally:\n"
        "    ours = ('ntrader.cli.', 'ntrader.models', 'nautilus_trader')\n"
        "    loaded = [m for m in sys.modules if m.startswith(ours)]\n"
        "    print(sorted(loaded), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stderr.strip().splitlines()[-1] == "['ntrader.cli.context', 'ntrader.cli.main']"


def test_run_simple_shows_a_positive_return(run_cli: RunCli, invoke_cli: RunCli) -> None:
    table = run_cli("run-simple").stdout  # the console script's one run of this command
    for label in ("Total return", "Trades", "Win rate"):
        assert label in table
    payload = json.loads(
        invoke_cli("run-simple", "--strategy", "sma", "--data", "mock", "--json").stdout
    )
    assert payload["metrics"]["returns"]["total_return"] > 0
    assert payload["metrics"]["trading"]["total_trades"] > 0
    # Deterministic: the same command gives the same numbers.
    again = json.loads(invoke_cli("run-simple", "--json").stdout)
    assert again["metrics"] == payload["metrics"]


def test_demo_uses_the_xdg_data_dir_and_is_idempotent(
    invoke_cli: RunCli, cli_env: dict[str, str]
) -> None:
    first = invoke_cli("demo")
    assert "Total return" in first.stdout
    assert "1,510 new" in first.stderr
    database = Path(cli_env["XDG_DATA_HOME"]) / "ntrader" / "ntrader.db"
    assert database.is_file()
    second = invoke_cli("demo", "--json")
    payload = json.loads(second.stdout)
    assert [item["rows_imported"] for item in payload["imports"]] == [0, 0, 0]
    assert payload["backtest"]["status"] == "COMPLETED"
    runs = json.loads(invoke_cli("backtest", "list", "--json").stdout)
    assert len(runs) == 2


def test_import_list_export_round_trip(
    invoke_cli: RunCli, database_url: str, sample_dir: Path, tmp_path: Path
) -> None:
    minutes = sample_dir / "AAPL_1min.csv"
    imported = json.loads(
        import_bars(
            invoke_cli, minutes, "AAPL", "--timeframe", "1MIN", "--json", database_url=database_url
        ).stdout
    )
    assert imported["rows_imported"] == 7620
    assert imported["first_bar"] == "2024-11-01 13:30 UTC"
    again = import_bars(
        invoke_cli, minutes, "AAPL", "--timeframe", "1MIN", database_url=database_url
    )
    assert "already stored; nothing added" in again.stderr
    listing = json.loads(invoke_cli("data", "list", "--json", database_url=database_url).stdout)
    assert listing == [
        {
            "instrument_id": "AAPL.NASDAQ",
            "timeframe": "1MIN",
            "rows": 7620,
            "first_bar": "2024-11-01 13:30 UTC",
            "last_bar": "2024-11-29 17:59 UTC",
        }
    ]
    table = invoke_cli("data", "list", database_url=database_url).stdout
    assert "AAPL.NASDAQ" in table
    exported = tmp_path / "out" / "aapl.csv"
    invoke_cli(
        "data",
        "export",
        "--instrument",
        "AAPL",
        "--timeframe",
        "1MIN",
        "--start",
        "2024-11-04",
        "--end",
        "2024-11-04",
        "--output",
        str(exported),
        database_url=database_url,
    )
    lines = exported.read_text().splitlines()
    assert lines[0] == "timestamp,open,high,low,close,volume"
    assert len(lines) == 1 + 390
    assert lines[1].startswith("2024-11-04T14:30:00Z,")
    # What export writes, import reads back as already present.
    back = json.loads(
        import_bars(
            invoke_cli, exported, "AAPL", "--timeframe", "1MIN", "--json", database_url=database_url
        ).stdout
    )
    assert (back["rows_imported"], back["rows_already_present"]) == (0, 390)


def test_backtest_run_json_show_and_list(
    invoke_cli: RunCli, database_url: str, sample_dir: Path
) -> None:
    stock(database_url, "AAPL", "SPY")
    result = invoke_cli(
        *RUN_2020,
        "--strategy",
        "sma_crossover",
        "--fast-period",
        "5",
        "--slow-period",
        "20",
        "--json",
        database_url=database_url,
    )
    payload = json.loads(result.stdout)  # stdout is exactly one JSON document
    assert payload["status"] == "COMPLETED"
    assert payload["config"]["parameters"]["fast_period"] == 5
    assert set(payload["metrics"]) == {
        "returns",
        "risk",
        "trading",
        "benchmark",
        "per_instrument",
        "exposure",
        "annualisation",
    }
    assert payload["metrics"]["annualisation"]["calendar"] == "XNYS"
    assert payload["config"]["fill_at"] == "next-open"
    assert payload["metrics"]["benchmark"]["benchmark_return"] is not None
    shown = json.loads(
        invoke_cli(
            "backtest", "show", payload["id"][:8], "--json", database_url=database_url
        ).stdout
    )
    assert shown["id"] == payload["id"]
    assert shown["metrics"] == payload["metrics"]
    METRICS_SCHEMA.validate(shown["metrics"])
    human = invoke_cli("backtest", "show", "latest", database_url=database_url).stdout
    assert payload["id"] in human
    assert "Sharpe ratio" in human
    ids = invoke_cli(
        "backtest", "list", "--format", "ids", database_url=database_url
    ).stdout.split()
    assert ids == [payload["id"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--start", "2030-01-01", "--end", "2030-12-31"],
            "No DAILY bars of AAPL.NASDAQ between 2030-01-01 and 2030-12-31",
        ),
        (["--start", "2021-01-01", "--end", "2020-01-01"], "must be after the start date"),
        (["--start", "2024-12-01", "--end", "2024-12-31"], "needs at least 30"),
        (["--strategy", "turtle"], "Unknown strategy 'turtle'; known strategies: sma_crossover"),
        (["--instruments", "APPL"], "Did you mean AAPL"),
        (
            ["--fast-period", "50", "--slow-period", "20"],
            "fast_period (50) must be less than slow_period (20)",
        ),
        (["--position-size", "20"], "--position-size: Input should be less than or equal to 10"),
        (
            ["--risk-per-trade-pct", "20"],
            "--risk-per-trade-pct: Input should be less than or equal to 10",
        ),
        (
            ["--sizing", "percent", "--position-pct", "50"],
            "position_pct 50% of equity is above the position cap of 10%",
        ),
        (
            ["--sizing", "fixed", "--position-size", "2.5"],
            "--position-size: Input should be a valid integer, got a number with a fractional",
        ),
        (["--stop-loss", "atr:abc"], "'atr:abc' must read atr:N with N a number"),
        (["--stop-loss", "r:2"], "'r:2' must read atr:N"),
        (["--trailing-stop", "atr:0"], "the multiple must be above 0"),
        (
            ["--sizing", "percent", "--position-size", "5", "--take-profit", "r:3"],
            "a take-profit r:N is a multiple of the initial risk, so it needs a stop",
        ),
    ],
)
def test_backtest_refusals_are_one_sentence_exit_1_and_store_nothing(
    invoke_cli: RunCli, sample_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    url = f"sqlite:///{tmp_path / 'refusals.db'}"
    stock(url, "AAPL", "SPY")
    result = invoke_cli(*RUN_2020, *args, database_url=url, check_exit=1)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert json.loads(invoke_cli("backtest", "list", "--json", database_url=url).stdout) == []


def test_backtest_execution_flags_reach_the_run_and_its_summary(
    invoke_cli: RunCli, database_url: str, sample_dir: Path
) -> None:
    stock(database_url, "AAPL", "SPY")
    flags = ["--fill-at", "close", "--sizing", "percent", "--position-size", "20"]
    flags += ["--max-position-pct", "20", "--stop-loss", "atr:1.5", "--take-profit", "r:3"]
    payload = json.loads(invoke_cli(*RUN_2020, *flags, "--json", database_url=database_url).stdout)
    config = payload["config"]
    assert (config["fill_at"], config["sizing"], config["max_position_pct"]) == (
        "close",
        "percent",
        20.0,
    )
    assert (config["stop_loss_atr"], config["take_profit_r"]) == (1.5, 3.0)
    # Capped at 20 % when entered; a position that gains afterwards is worth more.
    exposure = payload["metrics"]["exposure"]
    assert 0 < exposure["average"] <= exposure["maximum"]
    shown = invoke_cli("backtest", "show", "latest", database_url=database_url).stdout
    human = " ".join(shown.replace("│", " ").split())  # the panel wraps long lines
    assert "at the signal bar's close (optimistic)" in human
    assert "20% of equity per position, capped at 20% of equity" in human
    assert "stop 1.5x ATR, take-profit 3R" in human


def test_debug_shows_the_traceback(invoke_cli: RunCli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'debug.db'}"
    result = invoke_cli(
        "backtest", "run", "--instruments", "NOPE", "--debug", database_url=url, check_exit=1
    )
    assert "Traceback" in result.stderr


def test_unreachable_database_exits_3(run_cli: RunCli) -> None:
    result = run_cli(
        "data", "list", database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", check_exit=3
    )
    assert (
        "Cannot reach the database at postgresql+psycopg://nobody@127.0.0.1:1/none" in result.stderr
    )


def test_usage_error_exits_2(run_cli: RunCli) -> None:
    result = run_cli(
        "backtest", "run", "--timeframe", "2MIN", "--instruments", "AAPL", check_exit=2
    )
    assert "unknown timeframe '2MIN'" in result.stderr


def test_db_upgrade_and_current(run_cli: RunCli, database_url: str) -> None:
    upgraded = json.loads(run_cli("db", "upgrade", "--json", database_url=database_url).stdout)
    assert upgraded["to"] == SCHEMA_HEAD
    current = json.loads(run_cli("db", "current", "--json", database_url=database_url).stdout)
    assert current["current"] == current["head"] == SCHEMA_HEAD


def test_console_script_is_installed() -> None:
    assert NTRADER.is_file()
