"""A walk-forward on the sample data: each window's sweep and test run stored as normal
ones, the stitched equity equal to chaining the stored test runs, the efficiency from the
windows' figures, the HTML report's chart holding that curve, and refusals before anything
runs."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pytest
from sqlalchemy import func, select

from ntrader.core.errors import NotFoundError
from ntrader.db.database import Database
from ntrader.db.tables import backtest_results, sweeps
from ntrader.models.enums import RunStatus
from ntrader.services.reports import walk_forward_report
from ntrader.services.run_history import RunHistory
from ntrader.services.sweep_executors import InProcessExecutor
from ntrader.services.sweep_history import SweepHistory
from ntrader.services.walk_forward import Duration, WalkForwardService
from tests.integration.report_pages import ReportCharts
from tests.integration.sweep_support import BASE, SPEC

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _count(database: Database, table: object) -> int:
    with database.transaction() as repos:
        return int(repos.connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_walk_forward_chains_the_stored_test_runs(database: Database) -> None:
    result = WalkForwardService(database).run(
        BASE, SPEC, InProcessExecutor(), train=Duration(12, "M"), test=Duration(6, "M")
    )
    assert [(w.window.test_start, w.window.test_end) for w in result.windows] == [
        (date(2020, 1, 1), date(2020, 6, 30)),
        (date(2020, 7, 1), date(2020, 12, 31)),
    ]
    history = RunHistory(database)
    chained: list[float] = []
    level = BASE.initial_capital
    for w in result.windows:
        # The window's sweep is a normal stored sweep over the training window, and the
        # parameters chosen are its best point's.
        sweep = SweepHistory(database).show(w.sweep_id)
        assert sweep.sweep.base_config.start == w.window.train_start
        assert sweep.sweep.base_config.end == w.window.train_end
        assert sweep.rows[0].parameters == w.parameters
        assert sweep.rows[0].objective == w.in_sample
        # The test run is a normal stored run of those parameters on the test window.
        run = history.get(w.test_run_id)
        assert run.status is RunStatus.COMPLETED
        assert (run.config.start, run.config.end) == (w.window.test_start, w.window.test_end)
        assert run.config.parameters == w.parameters
        assert run.metrics is not None
        assert run.metrics.risk.sharpe_ratio == pytest.approx(w.out_of_sample)
        # Chained independently: each snapshot's growth since the run's start, compounded.
        with database.transaction() as repos:
            values = np.array([s.total_value for s in repos.backtests.snapshots(run.id)])
        growth = values / np.concatenate([[run.config.initial_capital], values[:-1]])
        chained.extend(level * np.cumprod(growth))
        level = chained[-1]
    assert result.equity.to_numpy() == pytest.approx(np.array(chained), rel=1e-12)
    # Efficiency: mean OOS Sharpe over mean IS Sharpe (Sharpe is yearly already).
    is_mean = np.mean([w.in_sample for w in result.windows])
    oos_mean = np.mean([w.out_of_sample for w in result.windows])
    assert result.efficiency == pytest.approx(oos_mean / is_mean)
    with database.transaction() as repos:
        stored = repos.walk_forwards.windows(result.id)
    assert stored == [w.as_dict() for w in result.windows]
    # Buy-and-hold of AAPL over the out-of-sample days, from the same capital.
    assert result.buy_and_hold.iloc[0] == pytest.approx(BASE.initial_capital)
    assert result.buy_and_hold.index[0].date() == date(2020, 1, 2)

    page = walk_forward_report.render(result)
    parser = ReportCharts()
    parser.feed(page)
    assert parser.chart_ids == [walk_forward_report.EQUITY_CHART_ID]
    figure = parser.figures[walk_forward_report.EQUITY_CHART_ID]
    assert isinstance(figure, dict)
    strategy, held = figure["data"]
    assert strategy["y"] == pytest.approx(list(result.equity.to_numpy()))
    assert held["name"] == "AAPL buy & hold"
    assert held["y"] == pytest.approx(list(result.buy_and_hold.to_numpy()))
    assert len(re.findall(r"<tr>", page)) == 1 + len(result.windows)  # header + a row each


@SQLITE_ONLY
def test_a_window_without_bars_is_refused_before_anything_runs(database: Database) -> None:
    early = BASE.model_copy(update={"start": date(2017, 1, 1)})
    with pytest.raises(NotFoundError, match=r"Window 1's training part \(2017-01-01"):
        WalkForwardService(database).run(
            early, SPEC, InProcessExecutor(), train=Duration(12, "M"), test=Duration(6, "M")
        )
    assert _count(database, sweeps) == 0
    assert _count(database, backtest_results) == 0
