"""Deleting and pruning runs: what goes, what stays, and what is refused."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from ntrader.core.errors import NotFoundError, UserInputError
from ntrader.db.database import Database
from ntrader.db.tables import backtest_results, metadata
from ntrader.models.backtest import BacktestConfig, PortfolioSnapshot, ReportRecord, TradeRecord
from ntrader.models.enums import ReportType, RunStatus, TradeSide
from ntrader.services.metrics import compute_metrics
from ntrader.services.reports.files import sha256_manifest
from ntrader.services.run_history import MAX_AGE, RunHistory, parse_age

CONFIG = BacktestConfig(
    strategy_type="sma_crossover",
    parameters={"fast_period": 5, "slow_period": 20},
    instruments=("AAPL.NASDAQ",),
    start=date(2020, 1, 1),
    end=date(2020, 12, 31),
)
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def _completed_run(database: Database, *, trades: int = 2, configuration: str | None = None) -> str:
    """A COMPLETED run with trades and snapshots, stored as the backtest service stores one."""
    start = datetime(2020, 1, 2, tzinfo=UTC)
    records = [
        TradeRecord(
            instrument_id="AAPL.NASDAQ",
            side=TradeSide.LONG,
            quantity=10,
            entry_time=start + timedelta(days=i),
            entry_price=100,
            exit_time=start + timedelta(days=i + 1),
            exit_price=101,
            commission=1,
            pnl=9,
            pnl_pct=0.009,
        )
        for i in range(trades)
    ]
    snapshots = [
        PortfolioSnapshot(
            ts=start + timedelta(days=i), cash=1e5, positions={}, total_value=1e5, buying_power=3e5
        )
        for i in range(3)
    ]
    with database.transaction() as repos:
        if configuration is None:
            run_id = repos.backtests.create(CONFIG)
        else:
            run_id = repos.backtests.create_for(configuration)
        repos.backtests.mark_running(run_id, ("h", 1, None), ("x", "y"))
        repos.backtests.complete(
            run_id,
            metrics=compute_metrics(np.full(3, 1e5), records),
            trade_records=records,
            snapshots=snapshots,
            data_fingerprint="f",
        )
    return run_id


def _add_report(database: Database, run_ids: list[str], path: Path, content: str) -> None:
    """A report file on disk and its record on each run (a comparison has several)."""
    path.write_text(content)
    for run_id in run_ids:
        record = ReportRecord(
            id=str(uuid.uuid4()),
            report_type=ReportType.HTML,
            generated_at=NOW,
            file_path=str(path),
            sha256=hashlib.sha256(content.encode()).hexdigest(),
        )
        with database.transaction() as repos:
            repos.backtests.add_report(run_id, record)


def _set_run(database: Database, run_id: str, **values: Any) -> None:
    with database.transaction() as repos:
        repos.connection.execute(
            update(backtest_results).where(backtest_results.c.id == run_id).values(**values)
        )


def _store(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show what a command changed (or did not)."""
    with database.transaction() as repos:
        return {
            table.name: sorted(
                (tuple(map(repr, row)) for row in repos.connection.execute(select(table))),
            )
            for table in metadata.sorted_tables
        }


def _rows_of(store: dict[str, list[tuple[Any, ...]]], run_id: str) -> int:
    return sum(1 for rows in store.values() for row in rows if repr(run_id) in row)


def test_delete_takes_the_runs_rows_and_leaves_everything_else(
    empty_database: Database, tmp_path: Path
) -> None:
    doomed = _completed_run(empty_database, trades=3)
    kept = _completed_run(empty_database)
    _add_report(empty_database, [doomed], tmp_path / "doomed.html", "<html>doomed</html>")
    before = _store(empty_database)
    history = RunHistory(empty_database)
    configuration = history.get(doomed).configuration_id

    plan = history.plan_delete([doomed[:6]])
    assert [(i.run.id, i.trades, i.snapshots, len(i.reports)) for i in plan.items] == [
        (doomed, 3, 3, 1)
    ]
    result = history.delete(plan)

    assert (result.run_ids, result.trades, result.snapshots, result.reports) == (
        (doomed,),
        3,
        3,
        1,
    )
    assert result.configurations == 1
    after = _store(empty_database)
    assert _rows_of(after, doomed) == 0
    for name, rows in after.items():  # the other run and every other row are untouched
        gone = {repr(doomed), repr(configuration)}
        assert rows == [row for row in before[name] if not gone & set(row)], name
    assert history.get(kept).status is RunStatus.COMPLETED
    # Report files stay on disk unless asked; the result says so.
    assert (tmp_path / "doomed.html").read_text() == "<html>doomed</html>"
    assert [(f.path, f.outcome) for f in result.files] == [(str(tmp_path / "doomed.html"), "kept")]


def test_a_configuration_shared_with_a_rerun_stays_until_its_last_run_goes(
    empty_database: Database,
) -> None:
    first = _completed_run(empty_database)
    history = RunHistory(empty_database)
    configuration = history.get(first).configuration_id
    rerun = _completed_run(empty_database, configuration=configuration)

    assert history.delete(history.plan_delete([first])).configurations == 0
    assert history.get(rerun).configuration_id == configuration
    assert history.delete(history.plan_delete([rerun])).configurations == 1
    assert _store(empty_database)["backtest_configurations"] == []


def test_ids_prefixes_and_latest_name_each_run_once(empty_database: Database) -> None:
    older = _completed_run(empty_database)
    newer = _completed_run(empty_database)
    _set_run(empty_database, older, created_at=NOW - timedelta(days=1))
    _set_run(empty_database, newer, created_at=NOW)
    plan = RunHistory(empty_database).plan_delete(["latest", newer, newer[:5].upper(), older])
    assert [item.run.id for item in plan.items] == [newer, older]


@pytest.mark.parametrize("ref", ["nope", "0000", "", "  "])
def test_an_unknown_reference_deletes_nothing(empty_database: Database, ref: str) -> None:
    run_id = _completed_run(empty_database)
    before = _store(empty_database)
    with pytest.raises(UserInputError) as caught:
        RunHistory(empty_database).plan_delete([run_id, ref])
    assert isinstance(caught.value, NotFoundError) or "empty backtest id" in caught.value.message
    assert _store(empty_database) == before


def test_a_live_running_run_is_refused_unless_forced(empty_database: Database) -> None:
    run_id = _completed_run(empty_database)
    _set_run(
        empty_database,
        run_id,
        status=RunStatus.RUNNING.value,
        host=socket.gethostname(),
        host_pid=os.getpid(),
    )
    history = RunHistory(empty_database)
    before = _store(empty_database)
    with pytest.raises(UserInputError, match=f"Backtest {run_id} .* is still RUNNING") as caught:
        history.plan_delete([run_id])
    assert "--force" in (caught.value.hint or "")
    with pytest.raises(UserInputError, match="still RUNNING"):
        history.plan_prune([RunStatus.RUNNING])
    assert _store(empty_database) == before
    history.delete(history.plan_delete([run_id], force=True))
    assert _rows_of(_store(empty_database), run_id) == 0


def test_a_stale_running_run_needs_no_force(empty_database: Database) -> None:
    run_id = _completed_run(empty_database)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    _set_run(
        empty_database,
        run_id,
        status=RunStatus.RUNNING.value,
        host=socket.gethostname(),
        host_pid=int(dead.stdout),
    )
    history = RunHistory(empty_database)
    assert [i.run.id for i in history.plan_prune([RunStatus.RUNNING]).items] == [run_id]


def test_a_run_that_changed_after_the_plan_is_not_deleted(empty_database: Database) -> None:
    run_id = _completed_run(empty_database)
    _set_run(empty_database, run_id, status=RunStatus.INTERRUPTED.value)
    history = RunHistory(empty_database)
    plan = history.plan_delete([run_id])
    with empty_database.transaction() as repos:  # resumed by another process meanwhile
        repos.backtests.mark_running(run_id, ("elsewhere", 4242, None), ("x", "y"))
    before = _store(empty_database)
    with pytest.raises(UserInputError, match="changed or was deleted while this command ran"):
        history.delete(plan)
    assert _store(empty_database) == before


def test_prune_selects_by_status_and_age(empty_database: Database) -> None:
    runs = {}
    for name, status, age in [
        ("old_failed", RunStatus.FAILED, timedelta(days=40)),
        ("new_failed", RunStatus.FAILED, timedelta(days=2)),
        ("old_interrupted", RunStatus.INTERRUPTED, timedelta(days=40)),
        ("old_completed", RunStatus.COMPLETED, timedelta(days=400)),
    ]:
        runs[name] = _completed_run(empty_database)
        _set_run(empty_database, runs[name], status=status.value, created_at=NOW - age)
    history = RunHistory(empty_database)

    def chosen(statuses: list[RunStatus], older_than: timedelta | None) -> set[str]:
        plan = history.plan_prune(statuses, older_than, now=NOW)
        return {name for name, run_id in runs.items() if run_id in {i.run.id for i in plan.items}}

    assert chosen([RunStatus.FAILED], None) == {"old_failed", "new_failed"}
    assert chosen([RunStatus.FAILED], timedelta(days=30)) == {"old_failed"}
    assert chosen([RunStatus.FAILED, RunStatus.INTERRUPTED], timedelta(days=30)) == {
        "old_failed",
        "old_interrupted",
    }
    assert chosen([RunStatus.PENDING], None) == set()
    plan = history.plan_prune([RunStatus.FAILED], timedelta(days=30), now=NOW)
    history.delete(plan)
    remaining = {i.run.id for i in history.plan_prune(list(RunStatus), None).items}
    assert remaining == set(runs.values()) - {runs["old_failed"]}


def test_delete_files_removes_only_files_that_are_still_the_runs_own(
    empty_database: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "reports"  # apart from the SQLite file
    folder.mkdir()
    doomed, other = _completed_run(empty_database), _completed_run(empty_database)
    _add_report(empty_database, [doomed], folder / "own.html", "own")
    _add_report(empty_database, [doomed], folder / "edited.html", "as written")
    (folder / "edited.html").write_text("edited by hand since")
    _add_report(empty_database, [doomed, other], folder / "comparison.html", "both runs")
    _add_report(empty_database, [doomed], folder / "gone.html", "gone")
    (folder / "gone.html").unlink()
    csv_dir = folder / "csv"
    csv_dir.mkdir()
    for name in ("metrics.csv", "trades.csv"):
        (csv_dir / name).write_text(name)
    record = ReportRecord(
        id=str(uuid.uuid4()),
        report_type=ReportType.CSV,
        generated_at=NOW,
        file_path=str(csv_dir),
        sha256=sha256_manifest(csv_dir, ["metrics.csv", "trades.csv"]),
        metadata={"files": ["metrics.csv", "trades.csv"]},
    )
    with empty_database.transaction() as repos:
        repos.backtests.add_report(doomed, record)

    history = RunHistory(empty_database)
    result = history.delete(history.plan_delete([doomed]), delete_files=True)

    outcomes = {Path(f.path).name: (f.outcome, f.reason) for f in result.files}
    assert outcomes == {
        "own.html": ("deleted", None),
        "edited.html": ("kept", "its content changed since the report was written"),
        "comparison.html": ("kept", "another backtest's report record points to it"),
        "gone.html": ("missing", None),
        "csv": ("deleted", None),
    }
    assert sorted(p.name for p in folder.iterdir()) == ["comparison.html", "edited.html"]
    with empty_database.transaction() as repos:
        assert [r.file_path for r in repos.backtests.reports(other)] == [
            str(folder / "comparison.html")
        ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12h", timedelta(hours=12)), ("7d", timedelta(days=7)), (" 2W ", timedelta(weeks=2))],
)
def test_ages(text: str, expected: timedelta) -> None:
    assert parse_age(text) == expected


_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def _expected_age(text: str) -> timedelta | None:
    """An independent reading of the rule: whole number, then h/d/w, 1h to MAX_AGE."""
    body = text.strip()
    number, unit = body[:-1].strip(), body[-1:].lower()
    if unit not in _UNITS or not number or not all(c in "0123456789" for c in number):
        return None
    age = int(number) * _UNITS[unit]
    return age if timedelta(0) < age <= MAX_AGE else None


@given(
    st.one_of(
        st.text(alphabet=st.sampled_from("0123456789hdwHDWmy .-\t٣"), max_size=8),
        st.text(max_size=12),
    )
)
def test_any_age_text_is_a_positive_bounded_duration_or_a_clear_refusal(text: str) -> None:
    expected = _expected_age(text)
    if expected is None:
        with pytest.raises(UserInputError, match=re.escape(repr(text))):
            parse_age(text)
    else:
        assert parse_age(text) == expected


@pytest.mark.parametrize(
    "text", ["0d", "7", "d", "1.5d", "-3d", "3m", "1y", "5215w", "36501d", "٣d"]
)
def test_bad_ages_are_refused(text: str) -> None:
    with pytest.raises(UserInputError, match=r"e\.g\. 12h, 7d or 2w|from 1h to 100 years"):
        parse_age(text)
