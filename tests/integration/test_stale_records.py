"""Migration 0012 (the process of a sweep or a walk-forward analysis) down and up on both
backends, and the one staleness rule as the server's start-up recovery and the API's resume
use it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import inspect, update

from ntrader.api.jobs import SweepLedger, WalkForwardLedger
from ntrader.core.errors import ConflictError
from ntrader.db.database import Database
from ntrader.db.engine import SCHEMA_HEAD, create_db_engine, current_revision
from ntrader.db.tables import sweeps, walk_forwards
from ntrader.models.enums import RunStatus
from ntrader.models.sweep import SweepStatus
from ntrader.services.liveness import is_stale, process_start, this_process
from ntrader.services.sweep_executors import InProcessExecutor
from ntrader.services.sweep_history import SweepHistory
from ntrader.services.sweep_service import SweepService
from ntrader.services.walk_forward import Duration, WalkForwardService
from ntrader.services.walk_forward_history import WalkForwardHistory
from tests.integration.migration_support import alembic_config
from tests.integration.sweep_support import BASE, SPEC

WINDOWS = {"train": Duration(12, "M"), "test": Duration(6, "M")}


def _columns(database_url: str, table: str) -> set[str]:
    engine = create_db_engine(database_url)
    try:
        return {column["name"] for column in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def _dead_pid() -> int:
    """The pid of a process that has ended."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def _hold(database: Database, record_id: str, host: str | None, pid: int | None) -> None:
    """Store the sweep or analysis ``record_id`` RUNNING in that process."""
    with database.transaction() as repos:
        for table in (sweeps, walk_forwards):
            repos.connection.execute(
                update(table)
                .where(table.c.id == record_id)
                .values(status="RUNNING", host=host, host_pid=pid)
            )


def test_the_process_columns_go_down_and_up_and_old_rows_are_not_known_stale(
    database: Database, database_url: str
) -> None:
    sweep, _plan = SweepService(database).create(BASE, SPEC, "local")
    walk_forward_id = WalkForwardService(database).create(BASE, SPEC, **WINDOWS)
    database.dispose()
    config = alembic_config(database_url)
    try:
        command.downgrade(config, "0011")
        for table in ("sweeps", "walk_forwards"):
            assert {"host", "host_pid"}.isdisjoint(_columns(database_url, table))
        assert "current_sweep_id" in _columns(database_url, "walk_forwards")  # 0011's stays
        # A row an older version left RUNNING: it recorded no process.
        engine = create_db_engine(database_url)
        with engine.begin() as connection:
            for table in (sweeps.name, walk_forwards.name):
                connection.exec_driver_sql(f"UPDATE {table} SET status = 'RUNNING'")
        engine.dispose()
    finally:
        command.upgrade(config, "head")
    for table in ("sweeps", "walk_forwards"):
        assert {"host", "host_pid"} <= _columns(database_url, table)
    engine = create_db_engine(database_url)
    assert current_revision(engine) == SCHEMA_HEAD
    engine.dispose()

    upgraded = Database(database_url)
    try:
        old_sweep = SweepHistory(upgraded).get(sweep.id)
        old_analysis = WalkForwardHistory(upgraded).get(walk_forward_id)
        for record in (old_sweep, old_analysis):
            assert (record.host, record.host_pid) == (None, None)
            assert not is_stale(record)
        # Not known stale: refused as before, and the server's recovery leaves them.
        with pytest.raises(ConflictError, match="an earlier version of ntrader did not record"):
            SweepHistory(upgraded).requeue(sweep.id)
        with pytest.raises(ConflictError, match="an earlier version of ntrader did not record"):
            WalkForwardHistory(upgraded).requeue(walk_forward_id)
        now = datetime.now(UTC)
        assert SweepLedger(upgraded).recover(now) == []
        assert WalkForwardLedger(upgraded).recover(now) == []
        assert SweepHistory(upgraded).get(sweep.id).status is SweepStatus.RUNNING
    finally:
        upgraded.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_start_up_recovery_interrupts_stale_records_and_leaves_live_ones(
    database: Database,
) -> None:
    host = socket.gethostname()
    dead_sweep, _plan = SweepService(database).create(BASE, SPEC, "local")
    live_sweep, _plan = SweepService(database).create(BASE, SPEC, "local")
    dead_analysis = WalkForwardService(database).create(BASE, SPEC, **WINDOWS)
    live_analysis = WalkForwardService(database).create(BASE, SPEC, **WINDOWS)
    dead = _dead_pid()
    for record_id, pid in (
        (dead_sweep.id, dead),
        (live_sweep.id, os.getpid()),
        (dead_analysis, dead),
        (live_analysis, os.getpid()),
    ):
        _hold(database, record_id, host, pid)
    # Created before the server started: PENDING ones would be recovered too.
    started = datetime(2000, 1, 1, tzinfo=UTC)
    assert SweepLedger(database).recover(started) == [dead_sweep.id]
    assert WalkForwardLedger(database).recover(started) == [dead_analysis]
    sweeps_now = SweepHistory(database)
    analyses = WalkForwardHistory(database)
    assert sweeps_now.get(dead_sweep.id).status is SweepStatus.INTERRUPTED
    assert sweeps_now.get(dead_sweep.id).error_message == (
        f"its process {dead} on {host} ended before it finished"
    )
    assert analyses.get(dead_analysis).status is RunStatus.INTERRUPTED
    assert sweeps_now.get(live_sweep.id).status is SweepStatus.RUNNING
    assert analyses.get(live_analysis).status is RunStatus.RUNNING


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_resume_queues_a_stale_record_again(database: Database) -> None:
    """The API's resume routes requeue: a stale record is taken as an interrupted one."""
    sweep, _plan = SweepService(database).create(BASE, SPEC, "local")
    walk_forward_id = WalkForwardService(database).create(BASE, SPEC, **WINDOWS)
    dead = _dead_pid()
    for record_id in (sweep.id, walk_forward_id):
        _hold(database, record_id, socket.gethostname(), dead)
    assert SweepHistory(database).requeue(sweep.id).status is SweepStatus.PENDING
    assert WalkForwardHistory(database).requeue(walk_forward_id).status is RunStatus.PENDING
    resumed = SweepService(database).resume(sweep.id, InProcessExecutor())
    assert resumed.sweep.status is SweepStatus.COMPLETED
    assert (resumed.sweep.host, resumed.sweep.host_pid) == (socket.gethostname(), os.getpid())


def test_the_holder_start_goes_down_and_up(database: Database, database_url: str) -> None:
    """Migration 0015: a record claimed before it reads back with no holder start and is
    judged by its pid alone, as before."""
    sweep, _plan = SweepService(database).create(BASE, SPEC, "local")
    database.dispose()
    config = alembic_config(database_url)
    try:
        command.downgrade(config, "0014")
        for table in ("backtest_results", "sweeps", "walk_forwards"):
            assert "holder_start" not in _columns(database_url, table)
        engine = create_db_engine(database_url)
        with engine.begin() as connection:  # claimed by a version before 0015: this process
            connection.execute(
                update(sweeps)
                .where(sweeps.c.id == sweep.id)
                .values(status="RUNNING", host=socket.gethostname(), host_pid=os.getpid())
            )
        engine.dispose()
    finally:
        command.upgrade(config, "head")
    upgraded = Database(database_url)
    try:
        for table in ("backtest_results", "sweeps", "walk_forwards"):
            assert "holder_start" in _columns(database_url, table)
        old = SweepHistory(upgraded).get(sweep.id)
        assert (old.status, old.host_pid, old.holder_start) == (
            SweepStatus.RUNNING,
            os.getpid(),
            None,
        )
        assert not is_stale(old)
    finally:
        upgraded.dispose()


@pytest.fixture
def later_process() -> Iterator[int]:
    """The pid of a live process that is not the one a record names: as a pid reused after a
    reboot, or once the holder ended."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def test_a_pid_that_names_another_process_now_is_stale(
    database: Database, later_process: int
) -> None:
    """A record's pid alive on this host, but another process than the one that claimed it
    (another boot, or another start): the record is stale and resumes. Releasing it leaves
    what the process now holding that pid claimed itself."""
    host = socket.gethostname()
    sweep, _plan = SweepService(database).create(BASE, SPEC, "local")
    live_sweep, _plan = SweepService(database).create(BASE, SPEC, "local")
    walk_forward_id = WalkForwardService(database).create(BASE, SPEC, **WINDOWS)
    with database.transaction() as repos:
        assert repos.sweeps.claim(sweep.id, [SweepStatus.PENDING], this_process())
        assert repos.walk_forwards.claim(
            walk_forward_id, [RunStatus.PENDING], RunStatus.RUNNING, this_process()
        )
    ours = process_start(os.getpid())
    assert ours is not None
    for record in (
        SweepHistory(database).get(sweep.id),
        WalkForwardHistory(database).get(walk_forward_id),
    ):
        assert (record.host, record.host_pid, record.holder_start) == (host, os.getpid(), ours)
        assert not is_stale(record)

    now_there = process_start(later_process)
    assert now_there is not None and now_there != ours
    boot, _, ticks = now_there.partition(":")
    another_boot = f"{boot[::-1]}:{ticks}"
    another_start = f"{boot}:{int(ticks) - 1}"
    _hold_as(database, sweep.id, host, later_process, another_boot)
    _hold_as(database, walk_forward_id, host, later_process, another_start)
    _hold_as(database, live_sweep.id, host, later_process, now_there)
    assert is_stale(SweepHistory(database).get(sweep.id))
    assert is_stale(WalkForwardHistory(database).get(walk_forward_id))
    assert not is_stale(SweepHistory(database).get(live_sweep.id))  # that process holds it
    with pytest.raises(ConflictError, match=f"process {later_process} on this machine"):
        SweepHistory(database).requeue(live_sweep.id)

    # Start-up recovery releases the stale ones, with the reason, and only those.
    assert SweepLedger(database).recover(datetime(2000, 1, 1, tzinfo=UTC)) == [sweep.id]
    assert WalkForwardLedger(database).recover(datetime(2000, 1, 1, tzinfo=UTC)) == [
        walk_forward_id
    ]
    reason = f"its process {later_process} on {host} ended before it finished"
    assert SweepHistory(database).get(sweep.id).error_message == reason
    assert WalkForwardHistory(database).get(walk_forward_id).error_message == reason
    assert SweepHistory(database).get(live_sweep.id).status is SweepStatus.RUNNING
    assert SweepHistory(database).requeue(sweep.id).status is SweepStatus.PENDING


def _hold_as(database: Database, record_id: str, host: str, pid: int, start: str) -> None:
    """``_hold`` with which process the pid was when it claimed ``record_id``."""
    _hold(database, record_id, host, pid)
    with database.transaction() as repos:
        for table in (sweeps, walk_forwards):
            repos.connection.execute(
                update(table).where(table.c.id == record_id).values(holder_start=start)
            )
