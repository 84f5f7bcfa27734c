"""Managing runs and configurations from the command line: delete, prune, list, strategy
files, and configuration errors that say where a value came from."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ntrader.cli.render import compact_params
from tests.e2e.conftest import RUN_2020, RunCli, stock

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "configs" / "examples"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture
def stocked(url: str) -> str:
    return stock(url, "AAPL")


def _run(invoke_cli: RunCli, url: str, *extra: str) -> dict[str, Any]:
    return json.loads(
        invoke_cli(*RUN_2020, "--benchmark", "AAPL", *extra, "--json", database_url=url).stdout
    )


def _runs(invoke_cli: RunCli, url: str) -> list[dict[str, Any]]:
    return json.loads(invoke_cli("backtest", "list", "--json", database_url=url).stdout)


def _row_blocks(listing: str) -> dict[str, str]:
    """Each run's lines of a `backtest list` table, by id prefix."""
    body = listing.split("─\n", 1)[1]
    return {block[:8]: block for block in re.split(r"\n(?=[0-9a-f]{8} )", body)}


def test_list_delete_and_prune(invoke_cli: RunCli, stocked: str, tmp_path: Path) -> None:
    fast = _run(invoke_cli, stocked, "--fast-period", "5", "--slow-period", "20")
    slow = _run(invoke_cli, stocked, "--fast-period", "10", "--slow-period", "30")
    before = _runs(invoke_cli, stocked)

    # The list tells the two runs apart by Sharpe and parameters; headers stay whole at 80.
    listed = invoke_cli(
        "backtest", "list", database_url=stocked, env_extra={"COLUMNS": "80"}
    ).stdout
    assert max(len(line) for line in listed.splitlines()) <= 80
    header = next(line for line in listed.splitlines() if line.startswith("ID"))
    assert header.split() == [
        "ID",
        "Strategy",
        "Symbols",
        "Period",
        "Status",
        "Return",
        "Sharpe",
        "Params",
    ]
    blocks = _row_blocks(listed)
    for run, params in ((fast, ["fast=5", "slow=20"]), (slow, ["fast=10", "slow=30"])):
        words = blocks[run["id"][:8]].split()
        assert f"{run['metrics']['risk']['sharpe_ratio']:,.2f}" in words
        assert all(p in words for p in params)
    wide = invoke_cli("backtest", "list", database_url=stocked, env_extra={"COLUMNS": "120"}).stdout
    assert "Created" in wide and "fast=5 slow=20" in wide

    # delete: shows the plan, asks; "n" keeps everything.
    report = tmp_path / "fast.txt"
    invoke_cli(
        "report",
        "generate",
        "--backtest",
        fast["id"],
        "--format",
        "text",
        "--output",
        str(report),
        database_url=stocked,
    )
    report_text = report.read_text()
    assert fast["id"] in report_text
    declined = invoke_cli("backtest", "delete", fast["id"][:8], database_url=stocked, input="n\n")
    assert fast["id"][:8] in declined.stdout
    assert "Delete 1 backtest? [y/N]" in declined.stdout
    assert "Nothing deleted." in declined.stderr
    refused = invoke_cli(
        "backtest", "delete", fast["id"], "--json", database_url=stocked, check_exit=2
    )
    assert "--json needs --yes" in refused.stderr
    unknown = invoke_cli(
        "backtest", "delete", fast["id"], "ffffffff", "--yes", database_url=stocked, check_exit=1
    )
    assert "No backtest matches 'ffffffff'" in unknown.stderr
    assert _runs(invoke_cli, stocked) == before

    # "y" deletes that run only; its report file stays and is listed.
    deleted = invoke_cli("backtest", "delete", fast["id"], database_url=stocked, input="y\n")
    assert "Deleted 1 backtest with" in deleted.stderr
    assert f"Report files kept:\n  {report} (left in place" in deleted.stdout
    assert report.read_text() == report_text
    assert _runs(invoke_cli, stocked) == [run for run in before if run["id"] == slow["id"]]

    # prune: refuses a bad age, says when nothing matches, asks, then deletes with files.
    bad = invoke_cli(
        "backtest",
        "prune",
        "--status",
        "COMPLETED",
        "--older-than",
        "30 days",
        database_url=stocked,
        check_exit=2,
    )
    assert "'30 days' is not an age; use a whole number and h, d or w" in bad.stderr
    young = invoke_cli(
        "backtest", "prune", "--status", "completed", "--older-than", "1h", database_url=stocked
    )
    assert "No COMPLETED backtests created more than 1h ago; nothing to delete." in young.stderr
    none = invoke_cli(
        "backtest", "prune", "--status", "FAILED", "--status", "INTERRUPTED", database_url=stocked
    )
    assert "No FAILED or INTERRUPTED backtests; nothing to delete." in none.stderr
    kept = invoke_cli(
        "backtest", "prune", "--status", "COMPLETED", database_url=stocked, input="n\n"
    )
    assert slow["id"][:8] in kept.stdout
    slow_report = tmp_path / "slow.txt"
    invoke_cli(
        "report",
        "generate",
        "--backtest",
        slow["id"],
        "--format",
        "text",
        "--output",
        str(slow_report),
        database_url=stocked,
    )
    result = json.loads(
        invoke_cli(
            "backtest",
            "prune",
            "--status",
            "COMPLETED",
            "--yes",
            "--delete-files",
            "--json",
            database_url=stocked,
        ).stdout
    )
    assert result["deleted"] == [slow["id"]]
    assert result["trades"] > 0 and result["snapshots"] > 0
    assert (result["reports"], result["configurations"]) == (1, 1)
    assert result["report_files"] == [
        {"path": str(slow_report), "outcome": "deleted", "reason": None}
    ]
    assert not slow_report.exists()
    assert report.read_text() == report_text
    assert _runs(invoke_cli, stocked) == []


@pytest.mark.parametrize(
    ("strategy_type", "parameters", "shown"),
    [
        (
            "sma",
            {"fast_period": 10, "slow_period": 30, "allow_short": False, "entry_threshold": 0.0},
            "fast=10 slow=30",
        ),
        (
            "sma_crossover",
            {"fast_period": 10, "slow_period": 30, "allow_short": True, "entry_threshold": 0.01},
            "fast=10 slow=30 allow_short=True entry_threshold=0.01",
        ),
        (
            "momentum",
            {"rsi_period": 7, "entry_rsi_low": 25.0, "exit_rsi_high": 75.5},
            "rsi=7 entry_rsi_low=25 exit_rsi_high=75.5",
        ),
        ("not_loaded_here", {"window": 3, "allow_short": False}, "window=3 allow_short=False"),
    ],
)
def test_compact_parameters(strategy_type: str, parameters: dict[str, Any], shown: str) -> None:
    assert compact_params(strategy_type, parameters) == shown


def test_configuration_errors_say_where_values_came_from_and_store_nothing(
    invoke_cli: RunCli, stocked: str, tmp_path: Path
) -> None:
    sma = str(EXAMPLES / "sma_config.yaml")
    readme = invoke_cli(
        "backtest",
        "run",
        "--config",
        sma,
        "--start",
        "2021-01-01",
        database_url=stocked,
        check_exit=1,
    )
    assert (
        f"The end date 2020-12-31 (from {sma}, period.end) must be after the start date "
        "2021-01-01 (from --start)." in readme.stderr
    )

    config = tmp_path / "fast.yaml"
    config.write_text(
        "strategy: {type: sma, parameters: {fast_period: 50}}\ninstruments: [AAPL]\n"
        "period: {start: 2020-01-01, end: 2020-12-31}\nbenchmark: AAPL\n"
    )
    alone = invoke_cli("backtest", "run-config", str(config), database_url=stocked, check_exit=1)
    assert (
        "fast_period (50) must be less than slow_period (26) "
        f"(fast_period from {config}, strategy.parameters.fast_period)." in alone.stderr
    )
    mixed = invoke_cli(
        "backtest",
        "run",
        "--config",
        str(config),
        "--slow-period",
        "40",
        database_url=stocked,
        check_exit=1,
    )
    assert (
        f"(fast_period from {config}, strategy.parameters.fast_period; slow_period from "
        "--slow-period)." in mixed.stderr
    )

    # An output directory the results cannot go to is refused before any run is stored.
    (tmp_path / "taken").write_text("a file")
    for directory, problem in (
        (tmp_path / "taken", "is not a directory"),
        (tmp_path / "taken" / "sub", f"cannot be created: {tmp_path / 'taken'} is not a directory"),
        (Path("/sys/ntrader-results"), "is not writable"),
    ):
        out = tmp_path / "out.yaml"
        out.write_text(
            "strategy: {type: sma}\ninstruments: [AAPL]\n"
            "period: {start: 2020-01-01, end: 2020-12-31}\nbenchmark: AAPL\n"
            f"output: {{directory: '{directory}'}}\n"
        )
        result = invoke_cli("backtest", "run-config", str(out), database_url=stocked, check_exit=1)
        assert f"{out}: output.directory {directory} {problem}" in result.stderr
    assert _runs(invoke_cli, stocked) == []

    fixed = json.loads(
        invoke_cli(
            "backtest",
            "run",
            "--config",
            str(config),
            "--slow-period",
            "60",
            "--json",
            database_url=stocked,
        ).stdout
    )
    assert fixed["config"]["parameters"]["fast_period"] == 50
    assert [run["id"] for run in _runs(invoke_cli, stocked)] == [fixed["id"]]


def test_strategy_list_filter_and_create_from_an_exported_file(
    invoke_cli: RunCli, url: str, tmp_path: Path
) -> None:
    invoke_cli(
        "strategy",
        "create",
        "--name",
        "old",
        "--type",
        "sma",
        "--params",
        "fast_period=7",
        database_url=url,
    )
    invoke_cli("strategy", "archive", "old", database_url=url)
    active = invoke_cli("strategy", "list", "--active", database_url=url)
    assert "No strategy matches --active; 1 is stored" in active.stderr
    assert "No strategies stored yet" not in active.stderr
    assert (
        json.loads(invoke_cli("strategy", "list", "--active", "--json", database_url=url).stdout)
        == []
    )

    exported = tmp_path / "old.yaml"
    invoke_cli("strategy", "export", "old", "--output", str(exported), database_url=url)
    taken = invoke_cli(
        "strategy", "create", "--params-file", str(exported), database_url=url, check_exit=1
    )
    assert "A strategy named 'old' already exists" in taken.stderr
    conflict = invoke_cli(
        "strategy",
        "create",
        "--params-file",
        str(exported),
        "--name",
        "new",
        "--type",
        "momentum",
        database_url=url,
        check_exit=1,
    )
    assert f"--type momentum contradicts {exported}: strategy.type sma_crossover" in conflict.stderr
    created = json.loads(
        invoke_cli(
            "strategy",
            "create",
            "--params-file",
            str(exported),
            "--name",
            "new",
            "--params",
            "slow_period=30",
            "--json",
            database_url=url,
        ).stdout
    )
    assert (created["strategy_type"], created["status"]) == ("sma_crossover", "draft")
    assert (created["parameters"]["fast_period"], created["parameters"]["slow_period"]) == (7, 30)
    names = [
        s["name"]
        for s in json.loads(invoke_cli("strategy", "list", "--json", database_url=url).stdout)
    ]
    assert names == ["new", "old"]
    plain = tmp_path / "plain.yaml"
    plain.write_text("fast_period: 3\n")
    missing = invoke_cli(
        "strategy",
        "create",
        "--params-file",
        str(plain),
        "--name",
        "p",
        database_url=url,
        check_exit=2,
    )
    assert f"Give --type ({plain} has none)" in missing.stderr
