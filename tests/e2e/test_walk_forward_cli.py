"""`ntrader backtest walk-forward` as a user runs it: anchored windows, its JSON and the
HTML report it writes; `list`, `show` and `resume` of stored analyses, and refusals."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from ntrader.db.database import Database
from ntrader.models.backtest import BacktestConfig
from ntrader.models.sweep import SweepSpec
from ntrader.services.data_service import DataService, ImportRequest
from ntrader.services.sweep_executors import InProcessExecutor
from ntrader.services.walk_forward import Duration, WalkForwardInterruptedError, WalkForwardService
from tests.e2e.conftest import RunCli

ARGS = (
    "backtest",
    "walk-forward",
    "--instruments",
    "AAPL",
    "--start",
    "2019-01-01",
    "--end",
    "2020-06-30",
    "--grid",
    "fast_period=5,10",
    "--grid",
    "slow_period=40",
    "--workers",
    "1",
)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_walk_forward_json_and_html(
    run_cli: RunCli, database_url: str, sample_dir: Path, tmp_path: Path
) -> None:
    database = Database(database_url)
    DataService(database).import_csv(
        ImportRequest(file=sample_dir / "AAPL_daily.csv", instrument="AAPL")
    )
    database.dispose()
    report = tmp_path / "wf.html"
    done = run_cli(
        *ARGS,
        "--train",
        "12M",
        "--test",
        "3M",
        "--anchored",
        "--objective",
        "total_return",
        "--format",
        "html",
        "--output",
        str(report),
        "--json",
        database_url=database_url,
    )
    payload = json.loads(done.stdout)
    assert payload["anchored"] is True
    assert payload["objective"] == "total_return"
    assert [w["train_start"] for w in payload["windows"]] == ["2019-01-01", "2019-01-01"]
    assert [w["test_start"] for w in payload["windows"]] == ["2020-01-01", "2020-04-01"]
    assert payload["report"] == str(report)
    assert "walk-forward-equity" in report.read_text()
    # The same analysis as a table on an 80-column terminal: the chosen values of the
    # swept parameters under their names, the objective in its own format, nothing cut.
    shown = run_cli(
        *ARGS,
        "--train",
        "12M",
        "--test",
        "3M",
        "--anchored",
        "--objective",
        "total_return",
        database_url=database_url,
        env_extra={"COLUMNS": "80"},
    ).stdout
    lines = shown.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("─"))
    assert lines[rule - 2].split() == ["fast_period,"]
    assert lines[rule - 1].split() == [
        "#",
        "Train",
        "Test",
        "slow_period",
        "IS",
        "OOS",
        "Test",
        "run",
    ]
    first = payload["windows"][0]
    chosen = first["parameters"]
    row = lines[rule + 1].split()
    assert row[:5] == ["1", first["train_start"], "→", first["test_start"], "→"]
    assert row[5:7] == [f"{chosen['fast_period']},", str(chosen["slow_period"])]
    assert re.fullmatch(r"[0-9a-f]{8}", row[-1])  # this second analysis's own test run
    assert all(len(line) <= 80 for line in lines if not line.startswith("IS / OOS"))


class _CtrlCAfterFirstWindow:
    def __call__(self, windows_done: int, _windows: int, _runs_done: int, runs: int) -> None:
        if windows_done == 1 and runs == 0:  # window 1 stored, window 2 not begun
            raise KeyboardInterrupt


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_list_show_and_resume_an_analysis(invoke_cli: RunCli, stocked: str) -> None:
    listed = invoke_cli("backtest", "walk-forward", "list", "--json", database_url=stocked)
    assert json.loads(listed.stdout) == []
    ran = invoke_cli(*ARGS, "--train", "12M", "--test", "3M", database_url=stocked).stdout
    # `show` prints the table the run ended with.
    shown = invoke_cli("backtest", "walk-forward", "show", "latest", database_url=stocked)
    assert shown.stdout == ran and "Walk-forward" in ran
    completed = json.loads(
        invoke_cli(
            "backtest", "walk-forward", "show", "latest", "--json", database_url=stocked
        ).stdout
    )
    completed_id = completed["walk_forward_id"]

    # Stopped after its first window (Ctrl-C as a callback: the signal has its own tests).
    database = Database(stocked)
    service = WalkForwardService(database)
    walk_forward_id = service.create(
        BacktestConfig(
            strategy_type="sma",
            instruments=("AAPL",),
            start=date(2019, 1, 1),
            end=date(2020, 6, 30),
        ),
        SweepSpec(grid={"fast_period": "5,10", "slow_period": "40"}),
        train=Duration(12, "M"),
        test=Duration(3, "M"),
    )
    with pytest.raises(WalkForwardInterruptedError):
        service.run_created(walk_forward_id, InProcessExecutor(), _CtrlCAfterFirstWindow())
    database.dispose()
    stopped = invoke_cli(
        "backtest", "walk-forward", "show", walk_forward_id[:8], database_url=stocked
    )
    assert f"Walk-forward {walk_forward_id[:8]}" in stopped.stdout
    assert "INTERRUPTED" in stopped.stdout
    assert f"walk-forward resume {walk_forward_id[:8]}" in " ".join(stopped.stderr.split())
    items = json.loads(
        invoke_cli("backtest", "walk-forward", "list", "--json", database_url=stocked).stdout
    )
    assert [(i["walk_forward_id"], i["status"], i["windows_done"]) for i in items] == [
        (walk_forward_id, "INTERRUPTED", 1),
        (completed_id, "COMPLETED", 2),
    ]
    table = invoke_cli("backtest", "walk-forward", "list", database_url=stocked).stdout
    assert table.index(walk_forward_id[:8]) < table.index(completed_id[:8])

    before = json.loads(
        invoke_cli(
            "backtest", "walk-forward", "show", walk_forward_id, "--json", database_url=stocked
        ).stdout
    )
    resumed = json.loads(
        invoke_cli(
            "backtest", "walk-forward", "resume", "latest", "--workers", "1", "--json",
            database_url=stocked,
        ).stdout
    )  # fmt: skip
    assert resumed["walk_forward_id"] == walk_forward_id and resumed["status"] == "COMPLETED"
    assert len(resumed["windows"]) == 2 and resumed["windows"][0] == before["windows"][0]
    after = invoke_cli(
        "backtest", "walk-forward", "show", walk_forward_id, "--json", database_url=stocked
    )
    assert json.loads(after.stdout) == resumed
    # The uninterrupted analysis of the same configuration, but for what names its records.
    for document in (resumed, completed):
        for item in (document, *document["windows"]):
            for key in ("walk_forward_id", "sweep_id", "test_run_id"):
                item.pop(key, None)
    assert resumed == completed


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_walk_forward_refusals(invoke_cli: RunCli, stocked: str) -> None:
    missing = invoke_cli(*ARGS, "--test", "3M", database_url=stocked, check_exit=2)
    assert "Missing option '--train'" in missing.stderr
    unknown = invoke_cli(
        "backtest", "walk-forward", "show", "ffffffff", "--json", database_url=stocked, check_exit=1
    )
    assert json.loads(unknown.stdout) == {
        "error": "No walk-forward analysis matches 'ffffffff'.",
        "exit_code": 1,
        "hint": "Run `ntrader backtest walk-forward list` to see the stored analyses.",
    }
    invoke_cli(*ARGS, "--train", "12M", "--test", "3M", database_url=stocked)
    before = invoke_cli(
        "backtest", "walk-forward", "show", "latest", "--json", database_url=stocked
    )
    done = invoke_cli(
        "backtest", "walk-forward", "resume", "latest", "--json", database_url=stocked, check_exit=1
    )
    refusal = json.loads(done.stdout)
    assert "is COMPLETED; only an INTERRUPTED or FAILED one can be resumed." in refusal["error"]
    assert "`ntrader backtest walk-forward show " in refusal["hint"]
    after = invoke_cli("backtest", "walk-forward", "show", "latest", "--json", database_url=stocked)
    assert after.stdout == before.stdout
