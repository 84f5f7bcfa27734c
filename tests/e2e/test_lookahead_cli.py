"""`ntrader backtest lookahead` as a user runs it: exit 0 for a clean strategy, 1 (with the
flagged bars in the JSON) for the cheating example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ntrader.db.database import Database
from ntrader.services.data_service import DataService, ImportRequest
from tests.e2e.conftest import RunCli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"
AAPL_2020 = ("--instruments", "AAPL", "--start", "2020-01-01", "--end", "2020-12-31")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_clean_strategy_exits_0_and_the_cheat_exits_1(
    run_cli: RunCli, database_url: str, sample_dir: Path
) -> None:
    # Imported in-process: `data import` has its own tests, and a process costs seconds.
    database = Database(database_url)
    DataService(database).import_csv(
        ImportRequest(file=sample_dir / "AAPL_daily.csv", instrument="AAPL")
    )
    database.dispose()
    clean = run_cli(
        "backtest", "lookahead", "--strategy", "sma", *AAPL_2020, "--cuts", "3",
        database_url=database_url,
    )  # fmt: skip
    assert "No look-ahead bias found." in clean.stdout
    cheat = run_cli(
        "--json", "backtest", "lookahead", "--strategy-path", str(EXAMPLES / "peeking.py"),
        "--strategy", "peeking", *AAPL_2020, "--cuts", "3",
        database_url=database_url, check_exit=1,
    )  # fmt: skip
    payload = json.loads(cheat.stdout)
    assert payload["lookahead_bias"] is True and len(payload["cuts"]) == 3
    assert {f["value"] for f in payload["findings"]} >= {"next_close"}
    assert len({f["cut_time"] for f in payload["findings"]}) == 3
