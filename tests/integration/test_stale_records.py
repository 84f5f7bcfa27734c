"""Migration 0012 (the process of a sweep or a walk-forward analysis) down and up on both
backends, and the one staleness rule as the server's start-up recovery and the API's resume
use it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

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
from ntrader.services.liveness import is_stale
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


def _hold(
    database: Database,
    record_id: str,
    host: str | None,
    pid: int | None,
    claimed_at: datetime | None = None,
) -> None:
    """Store the sweep or analysis ``record_id`` RUNNING in that process, claimed then."""
    with database.transaction() as repos:
        for table in (sweeps, walk_forwards):
            repos.connection.execute(
                update(table)
                .where(table.c.id == record_id)
                .values(status="RUNNING", host=host, host_pid=pid, claimed_at=claimed_at)
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


def test_the_claim_time_goes_down_and_up(database: Database, database_url: str) -> None:
    """Migration 0015: rows claimed before it have no claim time and are judged by their
    process alone, as before."""
    sweep, _plan = SweepService(database).create(BASE, SPEC, "local")
    database.dispose()
    config = alembic_config(database_url)
    try:
        command.downgrade(config, "0014")
        for table in ("sweeps", "walk_forwards"):
            assert "claimed_at" not in _columns(database_url, table)
    finally:
        command.upgrade(config, "head")
    upgraded = Database(database_url)
    try:
        for table in ("sweeps", "walk_forwards"):
            assert "claimed_at" in _columns(database_url, table)
        _hold(upgraded, sweep.id, socket.gethostname(), os.getpid())
        old = SweepHistory(upgraded).get(sweep.id)
        assert old.claimed_at is None
        assert not is_stale(old)
    finally:
        upgraded.dispose()


@pytest.fixture
def later_process() -> Iterator[int]:
    """The pid of a live process started now: one that reused a holder's pid, as after a
    reboot."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def test_a_pid_reused_by_a_process_started_after_the_claim_is_stale(
    database: Database, later_process: int
) -> None:
    """A record's pid alive on this host, but in a process that started after the record was
    claimed, is not its holder: the record is stale and resumes, for sweeps, analyses and
    runs alike. Its real holder, started before the claim, keeps it."""
    host = socket.gethostname()
    sweep, _plan = SweepService(database).create(BASE, SPEC, "local")
    walk_forward_id = WalkForwardService(database).create(BASE, SPEC, **WINDOWS)
    with database.transaction() as repos:
        assert repos.sweeps.claim(sweep.id, [SweepStatus.PENDING], (host, os.getpid()))
        assert repos.walk_forwards.claim(
            walk_forward_id, [RunStatus.PENDING], RunStatus.RUNNING, (host, os.getpid())
        )
    sweep_now = SweepHistory(database).get(sweep.id)
    for record in (sweep_now, WalkForwardHistory(database).get(walk_forward_id)):
        assert record.claimed_at is not None
        assert abs(record.claimed_at - datetime.now(UTC)) < timedelta(seconds=30)
        assert not is_stale(record)  # this process: it started before it claimed them

    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    for record_id in (sweep.id, walk_forward_id):
        _hold(database, record_id, host, later_process, claimed_at=an_hour_ago)
    assert is_stale(SweepHistory(database).get(sweep.id))
    assert is_stale(WalkForwardHistory(database).get(walk_forward_id))
    assert SweepHistory(database).requeue(sweep.id).status is SweepStatus.PENDING
    assert WalkForwardHistory(database).requeue(walk_forward_id).status is RunStatus.PENDING
    reason = f"its process {later_process} on {host} ended before it finished"
    assert SweepHistory(database).get(sweep.id).error_message is None  # requeued: cleared
    # Claimed a moment ago by the same pid: the process is its holder, and keeps it.
    time.sleep(0.1)
    _hold(database, sweep.id, host, later_process, claimed_at=datetime.now(UTC))
    assert not is_stale(SweepHistory(database).get(sweep.id))
    with pytest.raises(ConflictError, match=f"process {later_process} on this machine"):
        SweepHistory(database).requeue(sweep.id)
    # Start-up recovery takes the same rule, and says why.
    _hold(database, walk_forward_id, host, later_process, claimed_at=an_hour_ago)
    assert WalkForwardLedger(database).recover(datetime(2000, 1, 1, tzinfo=UTC)) == [
        walk_forward_id
    ]
    assert WalkForwardHistory(database).get(walk_forward_id).error_message == reason
