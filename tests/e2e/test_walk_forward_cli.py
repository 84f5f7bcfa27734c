"""`ntrader backtest walk-forward` as a user runs it: anchored windows, its JSON and the
HTML report it writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ntrader.db.database import Database
from ntrader.services.data_service import DataService, ImportRequest
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
