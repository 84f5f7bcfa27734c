"""``ntrader report`` as a user runs it, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest

from ntrader.db.database import Database
from ntrader.models.backtest import BacktestConfig, RunRecord
from ntrader.services.backtest_service import BacktestService
from ntrader.services.data_service import DataService, ImportRequest
from ntrader.services.reports.comparison_report import METHOD_NOTE
from tests.e2e.conftest import RunCli
from tests.factories import METRICS_SCHEMA

pytestmark = pytest.mark.slow


def _two_runs(database_url: str, sample_dir: Path) -> list[RunRecord]:
    """Set-up in-process: only the report commands are under test here."""
    database = Database(database_url)
    data = DataService(database)
    for name, symbol in (("AAPL_daily.csv", "AAPL"), ("SPY_daily.csv", "SPY")):
        data.import_csv(ImportRequest(file=sample_dir / name, instrument=symbol))
    runs = [
        BacktestService(database)
        .run(
            BacktestConfig(
                strategy_type="sma",
                instruments=("AAPL",),
                start=date(2020, 1, 1),
                end=date(2021, 12, 31),
                parameters=parameters,
            )
        )
        .run
        for parameters in ({}, {"fast_period": 5, "slow_period": 20})
    ]
    database.dispose()
    return runs


def _report(
    invoke_cli: RunCli, database_url: str, *args: str, exit_code: int = 0
) -> tuple[str, str]:
    result = invoke_cli("report", *args, database_url=database_url, check_exit=exit_code)
    return result.stdout, result.stderr


def test_report_commands(invoke_cli: RunCli, sample_dir: Path, tmp_path: Path) -> None:
    """Every command and its output once, on SQLite (both backends: the test below)."""
    database_url = f"sqlite:///{tmp_path / 'ntrader.db'}"
    first, second = _two_runs(database_url, sample_dir)

    def report(*args: str, exit_code: int = 0) -> tuple[str, str]:
        return _report(invoke_cli, database_url, *args, exit_code=exit_code)

    panel, _ = report("summary", "latest", "--detailed")
    for heading in ("Returns", "Risk", "Trading", "Benchmark", "Worst drawdowns", "Exposure"):
        assert heading in panel
    assert second.id[:8] in panel
    assert any(block in panel for block in "▁▂▃▄▅▆▇█")

    summary = json.loads(report("summary", first.id[:8], "--json")[0])
    assert first.metrics is not None
    stored = first.metrics.model_dump(mode="json")
    for group in ("returns", "risk", "trading", "benchmark"):
        assert summary["metrics"][group] == stored[group]
    METRICS_SCHEMA.validate(summary["metrics"])
    assert len(summary["sparkline"]) == 48

    record = json.loads(
        report("generate", "--backtest", first.id, "--format", "csv", "--output", "out", "--json")[
            0
        ]
    )
    assert record["file_path"] == str(tmp_path / "out")
    assert record["metadata"]["files"] == ["metrics.csv", "snapshots.csv", "trades.csv"]

    trades = json.loads(report("trades", first.id[:8], "--output", "t.csv", "--json")[0])
    assert trades["sha256"] == hashlib.sha256((tmp_path / "t.csv").read_bytes()).hexdigest()

    table, note = report("compare", "--backtests", f"{first.id[:8]},{second.id[:8]}")
    written = (
        tmp_path / "reports" / f"compare_{first.id[:8]}_{second.id[:8]}_text.txt"
    ).read_text()
    for shown in (table, written):
        flat = " ".join(shown.split())  # rich wraps the note at the terminal's width
        assert first.id[:8] in flat and second.id[:8] in flat
        assert "Are the differences significant?" in flat
        assert " ".join(METHOD_NOTE.split()) in flat
    assert "Wrote TEXT comparison" in note

    missing = report("summary", "ffff", exit_code=1)[1]
    assert "No backtest matches 'ffff'" in missing and "Traceback" not in missing
    alone = report("compare", "--backtests", first.id[:8], exit_code=1)[1]
    assert "at least two backtests" in alone


def test_html_report_and_comparison(
    run_cli: RunCli, database_url: str, sample_dir: Path, tmp_path: Path
) -> None:
    first, second = _two_runs(database_url, sample_dir)
    path, note = _report(run_cli, database_url, "generate", "--backtest", "latest")
    html = Path(path.strip())
    assert html == tmp_path / "reports" / f"{second.id[:8]}_html.html"
    assert html.read_text().count("Plotly.newPlot") == 1
    assert "Wrote HTML report" in note

    ids = f"{first.id[:8]},{second.id[:8]}"
    compared = json.loads(
        _report(
            run_cli,
            database_url,
            "compare",
            "--backtests",
            ids,
            "--format",
            "html",
            "--output",
            "c.html",
            "--json",
        )[0]
    )
    assert [run["id"] for run in compared["runs"]] == [first.id, second.id]
    [pair] = compared["tests"]["pairs"]
    assert 0 <= pair["t_pvalue"] <= 1 and 0 <= pair["wilcoxon_pvalue"] <= 1
    assert Path(compared["report"]["file_path"]) == tmp_path / "c.html"
