"""The sweep HTML report on a stored sweep: the heatmap holds each pair's objective, the
stability charts the best point's neighbours, hostile axes are refused; and the refusals
of `report generate --sweep` and `backtest walk-forward` before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ntrader.cli.context import AppContext
from ntrader.cli.main import cli
from ntrader.core.errors import UserInputError
from ntrader.db.database import Database
from ntrader.models.execution import SizingMode
from ntrader.models.sweep import SweepSpec
from ntrader.services.reports import sweep_report
from ntrader.services.reports.catalog import by_key
from ntrader.services.sweep_executors import InProcessExecutor
from ntrader.services.sweep_service import SweepService
from tests.integration.report_pages import ReportCharts
from tests.integration.sweep_support import BASE, SPEC


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_heatmap_and_stability_of_a_stored_sweep(database: Database) -> None:
    summary = SweepService(database).start(BASE, SPEC, InProcessExecutor())
    parser = ReportCharts()
    parser.feed(sweep_report.render(summary))
    stability = [f"{sweep_report.STABILITY_PREFIX}{n}" for n in ("fast_period", "slow_period")]
    assert parser.chart_ids == [sweep_report.HEATMAP_ID, *stability]
    heatmap = parser.figures[sweep_report.HEATMAP_ID]
    assert isinstance(heatmap, dict)
    (trace,) = heatmap["data"]
    assert (trace["x"], trace["y"]) == (["5", "10"], ["20", "40"])
    by_pair = {(r.parameters["fast_period"], r.parameters["slow_period"]): r for r in summary.rows}
    for i, slow in enumerate((20, 40)):
        for j, fast in enumerate((5, 10)):
            assert trace["z"][i][j] == pytest.approx(by_pair[fast, slow].objective)
            assert trace["text"][i][j] == "engine"
    # Around the best point: the other value of each parameter, the rest held.
    best = summary.rows[0]
    figure = parser.figures[f"{sweep_report.STABILITY_PREFIX}fast_period"]
    assert isinstance(figure, dict)
    line, marker = figure["data"]
    slow = best.parameters["slow_period"]
    assert line["y"] == pytest.approx([by_pair[5, slow].objective, by_pair[10, slow].objective])
    assert marker["y"] == pytest.approx([best.objective])
    # Axes chosen by hand, swapped; a fixed parameter may fill one; unknown ones refused.
    values = sweep_report.landscape(summary)
    sharpe = by_key("sharpe_ratio")
    swapped = sweep_report.heatmap_figure(
        summary.rows, values, "slow_period", "fast_period", sharpe
    )
    assert swapped["data"][0]["x"] == ["20", "40"]
    assert sweep_report.heatmap_axes(summary.rows, "fast_period", "allow_short") == (
        "fast_period",
        "allow_short",
    )
    for x, y in (("nope", None), (None, "<script>"), ("fast_period", "fast_period")):
        with pytest.raises(UserInputError):
            sweep_report.heatmap_axes(summary.rows, x, y)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_screened_sweeps_landscape_covers_every_point(database: Database) -> None:
    """The points only the screen ran fill the heatmap with its figure, marked screened;
    the confirmed ones keep the engine's."""
    base = BASE.model_copy(update={"sizing": SizingMode.PERCENT, "position_pct": 10.0})
    summary = SweepService(database).start(base, SPEC, InProcessExecutor(), confirm_top=2)
    values = sweep_report.landscape(summary)
    assert sorted(values) == [row.index for row in sorted(summary.rows, key=lambda r: r.index)]
    for row in summary.rows:
        if row.run_id is not None:
            assert values[row.index] == (row.objective, "engine")
        else:
            assert row.screen is not None
            assert values[row.index] == (row.screen["objective"], "screened")
    parser = ReportCharts()
    page = sweep_report.render(summary)
    parser.feed(page)
    heatmap = parser.figures[sweep_report.HEATMAP_ID]
    assert isinstance(heatmap, dict)
    (trace,) = heatmap["data"]
    assert sorted(where for line in trace["text"] for where in line) == [
        "engine",
        "engine",
        "screened",
        "screened",
    ]
    assert "2 of the points show the screen&#x27;s figure" in page
    # An objective the screen has no figure for: its Sharpe ratios cannot stand in.
    calmar = SweepSpec(grid=dict(SPEC.grid), objective="calmar_ratio")
    by_calmar = SweepService(database).start(base, calmar, InProcessExecutor(), confirm_top=2)
    assert {where for _, where in sweep_report.landscape(by_calmar).values()} == {"engine"}
    assert "only the engine&#x27;s runs are shown" in sweep_report.render(by_calmar)


def _invoke(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--database-url", database_url, *args], obj=AppContext())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_report_generate_sweep_in_process(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    """The CLI's own checks (in process: no engine runs here) and the page it writes."""
    summary = SweepService(database).start(BASE, SPEC, InProcessExecutor())
    target = tmp_path / "sweep.html"
    done = _invoke(
        database_url,
        "--json",
        "report",
        "generate",
        "--sweep",
        summary.sweep.id[:8],
        "--y",
        "fast_period",
        "--output",
        str(target),
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {"sweep_id": summary.sweep.id, "path": str(target)}
    parser = ReportCharts()
    parser.feed(target.read_text())
    heatmap = parser.figures[sweep_report.HEATMAP_ID]
    assert isinstance(heatmap, dict)
    assert heatmap["data"][0]["y"] == ["5", "10"]  # --y as asked; x the other varied one
    refusals = [
        (("report", "generate"), "Give either --backtest or --sweep."),
        (("report", "generate", "--sweep", "latest", "--backtest", "latest"), "either"),
        (("report", "generate", "--sweep", "latest", "--format", "csv"), "HTML only"),
        (("report", "generate", "--backtest", "latest", "--x", "fast_period"), "--sweep only"),
        (("report", "generate", "--sweep", "latest", "--x", "'); alert(1)//"), "not a parameter"),
        (
            (
                "backtest",
                "walk-forward",
                "--instruments",
                "AAPL",
                "--train",
                "12 months",
                "--test",
                "3M",
            ),
            "--train '12 months' is not a duration.",
        ),
        (
            (
                "backtest",
                "walk-forward",
                "--instruments",
                "AAPL",
                "--train",
                "12M",
                "--test",
                "3M",
                "--output",
                "wf.html",
            ),
            "--output names the HTML report's file.",
        ),
    ]
    for args, message in refusals:
        result = _invoke(database_url, *args)
        assert isinstance(result.exception, UserInputError), (args, result.output)
        assert message in result.exception.message
