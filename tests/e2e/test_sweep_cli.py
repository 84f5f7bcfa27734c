"""`ntrader backtest sweep` as a user runs it: a YAML sweep with a flag on top, its JSON,
`sweep show` and `sweep list`, and a refusal that stores nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ntrader.db.database import Database
from ntrader.services.data_service import DataService, ImportRequest
from tests.e2e.conftest import RunCli

SWEEP_FILE = """\
strategy: {type: sma_crossover}
instruments: [AAPL]
period: {start: "2019-01-01", end: "2020-12-31"}
sweep:
  grid: {fast_period: "5:10:5", slow_period: "20,40"}
  constraints: ["fast_period < slow_period"]
  objective: total_return
"""


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sweep_from_a_file_json_show_and_list(
    run_cli: RunCli, database_url: str, sample_dir: Path, tmp_path: Path
) -> None:
    # The bars go in directly: the import command has tests of its own.
    database = Database(database_url)
    for name, symbol in (("AAPL_daily.csv", "AAPL"), ("SPY_daily.csv", "SPY")):
        DataService(database).import_csv(ImportRequest(file=sample_dir / name, instrument=symbol))
    database.dispose()
    config = tmp_path / "sweep.yaml"
    config.write_text(SWEEP_FILE)
    refused = run_cli(
        "backtest",
        "sweep",
        "--config",
        str(config),
        "--grid",
        "fast_period=0:10:5",
        database_url=database_url,
        check_exit=1,
    )
    assert "fast_period=0 is outside what fast_period accepts" in refused.stderr
    assert (
        json.loads(run_cli("backtest", "sweep", "list", "--json", database_url=database_url).stdout)
        == []
    )

    ran = run_cli(
        "backtest",
        "sweep",
        "--config",
        str(config),
        "--grid",
        "slow_period=20:40:20",  # the flag replaces the file's grid of slow_period
        "--workers",
        "1",  # the pool has its own test (tests/integration/test_sweep_executors.py)
        "--json",
        database_url=database_url,
    )
    payload = json.loads(ran.stdout)
    assert payload["status"] == "COMPLETED"
    assert payload["objective"] == "total_return"
    assert payload["executor"] == "local"
    runs = payload["runs"]
    assert len(runs) == 4
    assert {(r["parameters"]["fast_period"], r["parameters"]["slow_period"]) for r in runs} == {
        (5, 20),
        (5, 40),
        (10, 20),
        (10, 40),
    }
    returns = [r["objective"] for r in runs]
    assert returns == sorted(returns, reverse=True)
    assert all(r["objective"] == r["metrics"]["total_return"] for r in runs)
    assert payload["statistics"]["trials"] == 4

    shown = run_cli(
        "backtest", "sweep", "show", payload["sweep_id"][:8], database_url=database_url
    ).stdout
    assert f"Sweep {payload['sweep_id'][:8]}" in shown
    assert "Deflated Sharpe ratio of the best run" in shown
    assert shown.index(runs[0]["run_id"][:8]) < shown.index(runs[-1]["run_id"][:8])
    # On an 80-column terminal every value stays whole: the parameters' values sit under
    # their names, the objective under its label.
    narrow = run_cli(
        "backtest",
        "sweep",
        "show",
        "latest",
        database_url=database_url,
        env_extra={"COLUMNS": "80"},
    ).stdout
    lines = narrow.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("─"))
    header, best = lines[rule - 1], lines[rule + 1]
    # The objective is the total return: no second Return column.
    assert header.split() == [
        "#",
        "fast_period,",
        "slow_period",
        "Total",
        "return",
        "Max",
        "DD",
        "Trades",
        "Run",
    ]
    top = runs[0]
    values = f"{top['parameters']['fast_period']}, {top['parameters']['slow_period']}"
    assert best.split()[:3] == ["1", *values.split()]
    assert top["run_id"][:8] in best
    listed = json.loads(
        run_cli("backtest", "sweep", "list", "--json", database_url=database_url).stdout
    )
    assert [s["sweep_id"] for s in listed] == [payload["sweep_id"]]  # the refused one is not
