"""`ntrader backtest walk-forward` as a user runs it: anchored windows, its JSON and the
HTML report it writes."""

from __future__ import annotations

import json
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
