"""Reports of real stored runs, on SQLite and PostgreSQL: files, digests, records, content."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from ntrader.core.errors import NotFoundError, UserInputError
from ntrader.db.database import Database
from ntrader.models.backtest import BacktestConfig, RunRecord
from ntrader.models.enums import ReportType
from ntrader.services.backtest_service import BacktestService
from ntrader.services.reports.service import ReportService
from tests.factories import METRICS_SCHEMA

FIGURES = (
    "fig-equity",
    "fig-underwater",
    "fig-monthly",
    "fig-yearly",
    "fig-distribution",
    "fig-sharpe",
    "fig-volatility",
    "fig-beta",
    "fig-price-0",
    "fig-pnl",
)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in a temporary directory, where the default ./reports/ goes."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(database: Database, **overrides: object) -> RunRecord:
    values: dict[str, object] = {
        "strategy_type": "sma",
        "instruments": ("AAPL",),
        "start": date(2019, 1, 1),
        "end": date(2021, 12, 31),
    }
    values.update(overrides)
    return BacktestService(database).run(BacktestConfig(**values)).run


def _manifest_digest(directory: Path) -> str:
    """What `sha256sum metrics.csv snapshots.csv trades.csv | sha256sum` prints."""
    listing = "".join(
        f"{hashlib.sha256((directory / name).read_bytes()).hexdigest()}  {name}\n"
        for name in sorted(p.name for p in directory.iterdir())
    )
    return hashlib.sha256(listing.encode()).hexdigest()


def test_every_format_is_written_hashed_and_recorded(database: Database, in_tmp: Path) -> None:
    run = _run(database)
    service = ReportService(database)
    records = {fmt: service.generate(run.id[:8], fmt) for fmt in ("text", "json", "html", "csv")}
    prefix = in_tmp / "reports" / run.id[:8]
    expected = {
        "text": Path(f"{prefix}_text.txt"),
        "json": Path(f"{prefix}_json.json"),
        "html": Path(f"{prefix}_html.html"),
        "csv": Path(f"{prefix}_csv"),
    }
    for fmt, record in records.items():
        path = Path(record.file_path)
        assert path == expected[fmt] and path.is_absolute()
        assert record.report_type is ReportType(fmt.upper())
        if fmt == "csv":
            assert sorted(p.name for p in path.iterdir()) == [
                "metrics.csv",
                "snapshots.csv",
                "trades.csv",
            ]
            assert record.sha256 == _manifest_digest(path)
        else:
            assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
            assert record.metadata["bytes"] == path.stat().st_size
        assert record.metadata["content"] == "backtest"
        assert 0 < record.metadata["generation_seconds"] < 10
    with database.transaction() as repos:
        stored = repos.backtests.reports(run.id)
    assert {r.id: r for r in stored} == {r.id: r for r in records.values()}


def test_json_and_csv_reports_match_the_stored_run(database: Database, in_tmp: Path) -> None:
    run = _run(database)
    service = ReportService(database)
    document = json.loads(Path(service.generate("latest", "json").file_path).read_text())
    assert document["schema_version"] == 1
    assert list(document) == [
        "schema_version",
        "generated_at",
        "generator",
        "run",
        "configuration",
        "risk_free_rate",
        "metrics",
        "per_instrument",
        "annualisation",
        "statistics",
        "worst_drawdowns",
        "equity_curve",
        "benchmark",
        "trades",
    ]
    assert document["run"]["id"] == run.id
    assert document["run"]["data_fingerprint"] == run.data_fingerprint
    assert document["configuration"] == run.config.model_dump(mode="json")
    stored = run.metrics.model_dump(mode="json")
    for group in ("returns", "risk", "trading", "benchmark"):
        assert document["metrics"][group] == stored[group]
    METRICS_SCHEMA.validate(document["metrics"])
    METRICS_SCHEMA.validate({**document["metrics"], "per_instrument": document["per_instrument"]})
    with database.transaction() as repos:
        trades = repos.backtests.trades(run.id)
    assert document["trades"] == [t.model_dump(mode="json") for t in trades]
    equity = [point["equity"] for point in document["equity_curve"]]
    assert len(equity) == 757  # trading days 2019-2021
    assert equity[-1] / run.config.initial_capital - 1 == pytest.approx(
        run.metrics.returns.total_return, abs=1e-12
    )
    assert document["benchmark"]["instrument_id"] == "SPY.NYSE"

    directory = Path(service.generate("latest", "csv").file_path)
    with (directory / "trades.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(trades)
    for row, trade in zip(rows, trades, strict=True):
        # Full precision: every float reads back to the identical stored double.
        assert float(row["entry_price"]) == trade.entry_price
        assert float(row["commission"]) == trade.commission
        assert (float(row["pnl"]) if row["pnl"] else None) == trade.pnl
        assert (float(row["pnl_pct"]) if row["pnl_pct"] else None) == trade.pnl_pct
        assert row["is_open"] == ("true" if trade.is_open else "false")
    with (directory / "snapshots.csv").open() as stream:
        snapshots = list(csv.DictReader(stream))
    closes = [float(s["total_value"]) for s in snapshots if s["day_close"] == "true"]
    assert closes == equity
    with (directory / "metrics.csv").open() as stream:
        metrics = {(r["group"], r["metric"]): r["value"] for r in csv.DictReader(stream)}
    assert float(metrics[("risk", "sharpe_ratio")]) == run.metrics.risk.sharpe_ratio
    assert metrics[("settings", "risk_free_rate")] == "0.0"


def test_metrics_recomputed_from_stored_snapshots_equal_the_stored_ones(
    database: Database,
) -> None:
    run = _run(database)
    data = ReportService(database).load(run.id, risk_free_rate=0.0)
    stored, recomputed = run.metrics.model_dump(), data.metrics.model_dump()
    for group in ("returns", "risk", "trading", "benchmark"):
        for key, value in stored[group].items():
            assert recomputed[group][key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_a_risk_free_rate_recomputes_the_ratios(database: Database, in_tmp: Path) -> None:
    _run(database)
    record = ReportService(database).generate("latest", "json", risk_free_rate=0.03)
    document = json.loads(Path(record.file_path).read_text())
    assert document["risk_free_rate"] == 0.03 == record.metadata["risk_free_rate"]
    equity = np.array(
        [document["configuration"]["initial_capital"]]
        + [p["equity"] for p in document["equity_curve"]]
    )
    # An AAPL run over 2019-2021 is annualised on the NYSE's sessions of those years.
    sessions = 252 + 253 + 252
    assert document["annualisation"] == {"calendar": "XNYS", "periods_per_year": sessions / 3}
    excess = np.diff(equity) / equity[:-1] - 0.03 / (sessions / 3)
    assert document["metrics"]["risk"]["sharpe_ratio"] == pytest.approx(
        excess.mean() / excess.std(ddof=1) * math.sqrt(sessions / 3), rel=1e-9
    )


def test_html_report_is_self_contained_and_complete(database: Database, in_tmp: Path) -> None:
    run = _run(database)
    html = Path(ReportService(database).generate("latest", "html").file_path).read_text()
    assert html.startswith("<!DOCTYPE html>")
    # Nothing is fetched: no external scripts, styles or fonts.
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|@import|fonts\.googleapis", html)
    assert "Plotly.newPlot" in html and "plotly.js v" in html
    figures = json.loads(re.search(r"id='figures'>(.*?)</script>", html, re.S).group(1))
    assert sorted(figures) == sorted(FIGURES)
    for figure_id in FIGURES:
        assert f"id='{figure_id}'" in html
    assert html.count("<tr><td>") >= run.trades_count  # one row per trade
    assert run.data_fingerprint in html and run.id in html
    assert "@media print" in html


def test_without_benchmark_data_the_reports_say_so(database: Database, in_tmp: Path) -> None:
    _run(database, benchmark="QQQ")
    service = ReportService(database)
    assert service.load("latest").benchmark is None
    html = Path(service.generate("latest", "html").file_path).read_text()
    assert "No daily bars of the benchmark QQQ are stored for this period" in html
    document = json.loads(Path(service.generate("latest", "json").file_path).read_text())
    assert document["benchmark"] is None
    assert document["metrics"]["benchmark"]["beta"] is None
    text = Path(service.generate("latest", "text").file_path).read_text()
    assert "no daily bars of QQQ" in text


def test_trades_export_and_comparison_are_recorded(database: Database, in_tmp: Path) -> None:
    first = _run(database)
    second = _run(database, parameters={"fast_period": 5, "slow_period": 20})
    service = ReportService(database)
    trades = service.export_trades(first.id, in_tmp / "out" / "t.csv")
    assert Path(trades.file_path).read_text().startswith("instrument_id,side,quantity")
    assert trades.metadata["content"] == "trades"

    comparison = service.compare([first.id[:8], second.id])
    assert comparison.labels == (first.id[:8], second.id[:8])
    assert len(comparison.tests) == 1
    test = comparison.tests[0]
    assert test.common_days == 757
    assert test.t_pvalue is not None and 0 <= test.t_pvalue <= 1
    assert all(0 <= p <= 1 for p in comparison.probabilistic_sharpe if p is not None)
    total = next(row for row in comparison.rows if row.metric.key == "total_return")
    returns = [first.metrics.returns.total_return, second.metrics.returns.total_return]
    assert total.best == {int(np.argmax(returns))}
    record = service.write_comparison(comparison, "text")
    assert Path(record.file_path).name == f"compare_{first.id[:8]}_{second.id[:8]}_text.txt"
    assert "paired t-test" in Path(record.file_path).read_text()
    with database.transaction() as repos:
        for run in (first, second):
            [stored] = [r for r in repos.backtests.reports(run.id) if r.report_type.value == "TEXT"]
            assert stored.sha256 == record.sha256
            assert stored.metadata["runs"] == [first.id, second.id]


def test_refusals(database: Database, in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = ReportService(database)
    with pytest.raises(NotFoundError):
        service.generate("ffffffff", "html")
    run = _run(database)
    with pytest.raises(UserInputError, match="at least two"):
        service.compare([run.id])
    with pytest.raises(UserInputError, match="more than once"):
        service.compare([run.id, "latest"])
    with pytest.raises(UserInputError, match="is a directory"):
        service.generate(run.id, "html", in_tmp)
    with pytest.raises(UserInputError, match="Unknown report format"):
        service.generate(run.id, "pdf")
    from ntrader.services import backtest_service

    def explode(*_args: object) -> None:
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(backtest_service, "simulate", explode)
    with pytest.raises(backtest_service.RunFailedError, match="engine exploded"):
        _run(database)
    with pytest.raises(UserInputError, match="is FAILED; only completed runs"):
        service.generate("latest", "json")
