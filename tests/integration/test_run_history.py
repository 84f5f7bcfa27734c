"""The run history: rerun, resume, stale runs and immutability."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import update

from ntrader.core.errors import UserInputError
from ntrader.db.database import Database
from ntrader.db.tables import backtest_configurations
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import RunStatus
from ntrader.models.execution import FillAt
from ntrader.services import backtest_service
from ntrader.services.backtest_service import BacktestService, RunInterruptedError
from ntrader.services.data_service import DataService, ImportRequest
from ntrader.services.liveness import is_stale, process_start, this_process
from ntrader.services.run_history import RunHistory

CONFIG = BacktestConfig(
    strategy_type="sma",
    instruments=("AAPL", "SPY"),
    start=date(2021, 1, 1),
    end=date(2022, 12, 31),
)


def _interrupted_run(database: Database, monkeypatch: pytest.MonkeyPatch) -> str:
    def interrupt(*_args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(backtest_service, "simulate", interrupt)
        with pytest.raises(RunInterruptedError) as caught:
            BacktestService(database).run(CONFIG)
    assert "ntrader backtest resume" in (caught.value.hint or "")
    return caught.value.run_id


def test_rerun_on_the_same_data_is_identical(database: Database) -> None:
    service = BacktestService(database)
    first = service.run(CONFIG).run
    comparison = service.rerun(first.id[:8])
    assert comparison.identical
    assert comparison.differences() == []
    assert comparison.outcome.run.id != first.id
    assert len(RunHistory(database).list()) == 2


def test_rerun_notices_changed_data(database: Database, tmp_path: Path) -> None:
    service = BacktestService(database)
    first = service.run(CONFIG).run
    extra = tmp_path / "late.csv"
    extra.write_text("date,open,high,low,close,volume\n2022-12-31,10,11,9,10,100\n")
    DataService(database).import_csv(ImportRequest(file=extra, instrument="AAPL"))
    comparison = service.rerun(first.id)
    assert not comparison.same_data
    assert not comparison.identical


def test_resume_finishes_an_interrupted_run_in_the_same_record(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _interrupted_run(database, monkeypatch)
    assert RunHistory(database).get(run_id).status is RunStatus.INTERRUPTED
    outcome = BacktestService(database).resume(run_id)
    assert outcome.run.id == run_id
    assert outcome.run.status is RunStatus.COMPLETED
    assert outcome.run.error_message is None
    assert len(RunHistory(database).list()) == 1
    reference = BacktestService(database).run(CONFIG).run
    assert outcome.run.metrics == reference.metrics


def test_completed_runs_cannot_be_resumed_or_changed(database: Database) -> None:
    run = BacktestService(database).run(CONFIG).run
    with pytest.raises(UserInputError, match="only interrupted runs"):
        BacktestService(database).resume(run.id)
    with database.transaction() as repos, pytest.raises(UserInputError, match="cannot be changed"):
        repos.backtests.mark_finished(run.id, RunStatus.FAILED, "tampering")
    assert RunHistory(database).get(run.id).status is RunStatus.COMPLETED


def test_a_killed_run_shows_as_stale_and_can_be_resumed(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _interrupted_run(database, monkeypatch)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    with database.transaction() as repos:
        repos.backtests.mark_running(
            run_id, (socket.gethostname(), int(dead.stdout), None), ("x", "y")
        )
    run = RunHistory(database).get(run_id)
    assert run.status is RunStatus.RUNNING
    assert is_stale(run)
    assert BacktestService(database).resume(run_id).run.status is RunStatus.COMPLETED


def test_a_live_run_is_not_stale(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _interrupted_run(database, monkeypatch)
    with database.transaction() as repos:
        repos.backtests.mark_running(run_id, this_process(), ("x", "y"))
    assert not is_stale(RunHistory(database).get(run_id))
    with pytest.raises(UserInputError, match="only interrupted runs"):
        BacktestService(database).resume(run_id)


def test_multi_instrument_runs_report_each_instrument(database: Database) -> None:
    result = BacktestService(database).run(CONFIG).result
    figures = result.metrics.per_instrument
    assert set(figures) == {"AAPL.NASDAQ", "SPY.NYSE"}
    closed = [t for t in result.trades if not t.is_open]
    assert sum(f.total_trades for f in figures.values()) == len(closed)
    assert sum(f.realized_pnl for f in figures.values()) == pytest.approx(
        sum(t.pnl for t in closed)
    )
    # Open positions are marked at the last close, so the instruments add up to the total.
    assert sum(f.net_pnl for f in figures.values()) == pytest.approx(
        result.final_equity - CONFIG.initial_capital, abs=0.01
    )
    assert {t.instrument_id for t in result.trades} == {"AAPL.NASDAQ", "SPY.NYSE"}


def test_snapshots_carry_margin_used_and_buying_power(database: Database) -> None:
    config = CONFIG.model_copy(
        update={
            "strategy_type": "mean_reversion",
            "parameters": {"allow_short": True},
            "instruments": ("AAPL",),
        }
    )
    outcome = BacktestService(database).run(config)
    assert any(t.side.value == "SHORT" for t in outcome.result.trades)
    with database.transaction() as repos:
        snapshots = repos.backtests.snapshots(outcome.run.id)
    held = [s for s in snapshots if s.positions]
    assert held
    for snapshot in held:
        assert snapshot.margin_used > 0
        assert snapshot.buying_power == pytest.approx(
            max(3 * snapshot.total_value - snapshot.margin_used, 0.0)
        )
    flat = [s for s in snapshots if not s.positions]
    assert all(s.margin_used == 0 for s in flat)


def test_runs_stored_before_fill_timing_existed_read_as_close_fills(database: Database) -> None:
    with database.transaction() as repos:
        run_id = repos.backtests.create(CONFIG)
    # What such a run's stored configuration looks like: no fill_at key at all.
    old = CONFIG.model_dump(mode="json")
    del old["fill_at"]
    with database.engine.begin() as connection:
        connection.execute(update(backtest_configurations).values(config=old))
    assert RunHistory(database).get(run_id).config.fill_at is FillAt.CLOSE
    assert CONFIG.fill_at is FillAt.NEXT_OPEN  # new runs fill at the next open


def test_a_run_whose_pid_names_another_process_now_is_stale(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run RUNNING in a pid that another process than its holder now has (reused, as after
    a reboot): the run resumes. The run's own process, recorded by its claim, keeps it."""
    run_id = _interrupted_run(database, monkeypatch)
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        now_there = process_start(later.pid)
        assert now_there is not None
        boot, _, ticks = now_there.partition(":")
        for start, stale in ((now_there, False), (f"{boot}:{int(ticks) - 1}", True)):
            with database.transaction() as repos:
                repos.backtests.mark_running(
                    run_id, (socket.gethostname(), later.pid, start), ("x", "y")
                )
            assert is_stale(RunHistory(database).get(run_id)) is stale
        resumed = BacktestService(database).resume(run_id).run
        assert resumed.status is RunStatus.COMPLETED
        assert (resumed.host_pid, resumed.holder_start) == (os.getpid(), process_start(os.getpid()))
    finally:
        later.kill()
        later.wait()
