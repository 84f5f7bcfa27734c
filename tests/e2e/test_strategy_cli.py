"""Strategy management, config files and the run history through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ntrader.services.reports.comparison_report import METHOD_NOTE
from tests.e2e.conftest import RUN_2020, RunCli

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "configs" / "examples"


def test_strategy_life_cycle(invoke_cli: RunCli, stocked: str, tmp_path: Path) -> None:
    url = stocked
    created = json.loads(
        invoke_cli(
            "strategy",
            "create",
            "--name",
            "quick",
            "--type",
            "SMA_CROSSOVER",
            "--params",
            "fast_period=5,slow_period=20",
            "--json",
            database_url=url,
        ).stdout
    )
    assert created["status"] == "draft"
    duplicate = invoke_cli(
        "strategy", "create", "--name", "quick", "--type", "sma", database_url=url, check_exit=1
    )
    assert "already exists" in duplicate.stderr
    refused = invoke_cli(
        "backtest",
        "run",
        "--strategy",
        "quick",
        "--instruments",
        "AAPL",
        database_url=url,
        check_exit=1,
    )
    assert "is a draft" in refused.stderr
    validated = json.loads(
        invoke_cli(
            "strategy", "validate", "quick", "--instrument", "AAPL", "--json", database_url=url
        ).stdout
    )
    assert validated["produced_signal"] is True
    assert validated["status"] == "active"
    invoke_cli("strategy", "edit", "quick", "--params", "slow_period=30", database_url=url)
    shown = json.loads(invoke_cli("strategy", "show", "quick", "--json", database_url=url).stdout)
    assert shown["parameters"]["slow_period"] == 30
    listed = json.loads(
        invoke_cli("strategy", "list", "--active", "--json", database_url=url).stdout
    )
    assert [s["name"] for s in listed] == ["quick"]
    exported = tmp_path / "quick.yaml"
    invoke_cli("strategy", "export", "quick", "--output", str(exported), database_url=url)
    assert yaml.safe_load(exported.read_text())["strategy"]["parameters"]["slow_period"] == 30
    run = json.loads(
        invoke_cli(
            "backtest",
            "run",
            "--strategy",
            "quick",
            "--instruments",
            "AAPL",
            "--start",
            "2020-01-01",
            "--end",
            "2021-12-31",
            "--json",
            database_url=url,
        ).stdout
    )
    assert run["config"]["strategy_name"] == "quick"
    by_name = invoke_cli(
        "backtest", "list", "--strategy", "quick", "--format", "ids", database_url=url
    )
    # Newest first: this run, then the validation run, which also belongs to the strategy.
    assert by_name.stdout.split() == [run["id"], validated["run_id"]]
    invoke_cli("strategy", "archive", "quick", database_url=url)
    archived = invoke_cli(
        "strategy", "edit", "quick", "--params", "fast_period=3", database_url=url, check_exit=1
    )
    assert "archived and read-only" in archived.stderr
    assert (
        json.loads(invoke_cli("strategy", "list", "--active", "--json", database_url=url).stdout)
        == []
    )


def test_bad_parameter_is_named(invoke_cli: RunCli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = invoke_cli(
        "strategy",
        "create",
        "--name",
        "x",
        "--type",
        "sma",
        "--params",
        "fast_period=40,slow_period=10",
        database_url=url,
        check_exit=1,
    )
    assert "fast_period (40) must be less than slow_period (10)" in result.stderr
    unknown = invoke_cli(
        "strategy",
        "create",
        "--name",
        "x",
        "--type",
        "sma",
        "--params",
        "speed=3",
        database_url=url,
        check_exit=1,
    )
    assert "speed: unknown parameter" in unknown.stderr


def test_config_file_with_overrides_and_rerun(invoke_cli: RunCli, stocked: str) -> None:
    url = stocked
    sma = str(EXAMPLES / "sma_config.yaml")
    first = json.loads(
        invoke_cli("backtest", "run", "--config", sma, "--json", database_url=url).stdout
    )
    assert first["config"]["instruments"] == ["AAPL.NASDAQ", "SPY.NYSE"]
    assert set(first["metrics"]["per_instrument"]) == {"AAPL.NASDAQ", "SPY.NYSE"}
    overridden = json.loads(
        invoke_cli(
            "backtest",
            "run",
            "--config",
            sma,
            "--start",
            "2021-01-01",
            "--end",
            "2021-12-31",
            "--capital",
            "50000",
            "--json",
            database_url=url,
        ).stdout
    )
    assert overridden["config"]["start"] == "2021-01-01"
    assert overridden["config"]["initial_capital"] == 50000
    assert overridden["config"]["parameters"]["fast_period"] == 12
    same = json.loads(invoke_cli("backtest", "run-config", sma, "--json", database_url=url).stdout)
    assert same["metrics"] == first["metrics"]
    rerun = json.loads(
        invoke_cli("backtest", "rerun", first["id"][:10], "--json", database_url=url).stdout
    )
    assert rerun["identical"] is True
    assert rerun["differences"] == []
    human = invoke_cli("backtest", "rerun", "latest", database_url=url)
    assert "Identical to" in human.stderr
    shown = invoke_cli("backtest", "show", first["id"], database_url=url).stdout
    assert first["config"]["strategy_name"] in shown
    assert first["data_fingerprint"] in shown


def test_config_file_error_names_file_and_key(invoke_cli: RunCli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategy: {type: sma}\ninstruments: [AAPL]\nportfolio: {initial_capitl: 5}\n")
    result = invoke_cli(
        "backtest",
        "run",
        "--config",
        str(bad),
        database_url=f"sqlite:///{tmp_path / 'c.db'}",
        check_exit=1,
    )
    assert f"{bad}: portfolio.initial_capitl: unknown key" in result.stderr


def test_resume_refuses_completed_runs(invoke_cli: RunCli, stocked: str) -> None:
    run = json.loads(invoke_cli(*RUN_2020, "--json", database_url=stocked).stdout)
    result = invoke_cli("backtest", "resume", run["id"], database_url=stocked, check_exit=1)
    assert "only interrupted runs" in result.stderr


def test_config_output_directory_receives_the_result_files(
    invoke_cli: RunCli, stocked: str, tmp_path: Path
) -> None:
    config = tmp_path / "out.yaml"
    results = tmp_path / "results"
    config.write_text(
        "strategy: {type: sma, parameters: {fast_period: 5, slow_period: 20}}\n"
        "instruments: [AAPL]\nperiod: {start: 2020-01-01, end: 2020-12-31}\n"
        f"output: {{directory: {results}, save_trades: false}}\n"
    )
    run = json.loads(
        invoke_cli("backtest", "run-config", str(config), "--json", database_url=stocked).stdout
    )
    folder = results / run["id"][:8]
    assert sorted(p.name for p in (folder / "csv").iterdir()) == ["metrics.csv", "snapshots.csv"]
    report = json.loads((folder / "report.json").read_text())
    assert report["metrics"]["returns"] == run["metrics"]["returns"]


@pytest.mark.parametrize(
    "name", ["sma_config.yaml", "mean_reversion_config.yaml", "momentum_config.yaml"]
)
def test_example_configs_run_as_they_are(
    invoke_cli: RunCli, stocked: str, tmp_path: Path, name: str
) -> None:
    run = json.loads(
        invoke_cli(
            "backtest", "run-config", str(EXAMPLES / name), "--json", database_url=stocked
        ).stdout
    )
    assert run["status"] == "COMPLETED"
    assert run["metrics"]["trading"]["total_trades"] > 0
    # Each example asks for its results in ./results (the working directory here).
    report = json.loads((tmp_path / "results" / run["id"][:8] / "report.json").read_text())
    assert report["metrics"]["returns"] == run["metrics"]["returns"]


def test_user_strategy_from_a_path(invoke_cli: RunCli, stocked: str) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "strategies"
    types = invoke_cli("--strategy-path", str(examples), "strategy", "types", "--json").stdout
    assert "donchian_breakout" in [t["name"] for t in json.loads(types)]
    run = json.loads(
        invoke_cli(
            "backtest",
            "run",
            "--strategy",
            "donchian_breakout",
            "--instruments",
            "AAPL",
            "--start",
            "2020-01-01",
            "--end",
            "2021-12-31",
            "--strategy-path",
            str(examples),
            "--json",
            database_url=stocked,
        ).stdout
    )
    assert run["config"]["strategy_type"] == "donchian_breakout"
    unknown = invoke_cli(
        "backtest",
        "run",
        "--strategy",
        "donchian_breakout",
        "--instruments",
        "AAPL",
        database_url=stocked,
        check_exit=1,
    )
    assert "Unknown strategy 'donchian_breakout'" in unknown.stderr


@pytest.mark.parametrize(
    ("strategy", "strategy_type"),
    [("momentum", "momentum"), ("mean_reversion", "mean_reversion"), ("sma", "sma_crossover")],
)
def test_run_simple_takes_every_strategy(
    invoke_cli: RunCli, strategy: str, strategy_type: str
) -> None:
    payload = json.loads(invoke_cli("run-simple", "--strategy", strategy, "--json").stdout)
    assert payload["config"]["strategy_type"] == strategy_type


def test_backtest_compare_uses_the_comparison_service(invoke_cli: RunCli, stocked: str) -> None:
    ids = []
    for fast in ("5", "10"):
        run = invoke_cli(
            *("backtest", "run", "--instruments", "AAPL", "--start", "2020-01-01"),
            *("--end", "2021-12-31", "--fast-period", fast, "--slow-period", "30", "--json"),
            database_url=stocked,
        )
        ids.append(json.loads(run.stdout)["id"])
    table = invoke_cli("backtest", "compare", ids[0][:8], ids[1][:8], database_url=stocked).stdout
    assert ids[0][:8] in table and ids[1][:8] in table
    flat = " ".join(table.split())  # rich wraps the note at the terminal's width
    assert "Are the differences significant?" in flat
    assert " ".join(METHOD_NOTE.split()) in flat
    single = invoke_cli("backtest", "compare", ids[0], database_url=stocked, check_exit=2)
    assert "at least two" in single.stderr
