"""`backtest sweep resume` and `backtest walk-forward resume` refuse a record whose process
may still run it (alive here, on another machine, or not recorded by an older version),
saying which process holds it, and change nothing; `--force` is offered where that process
cannot be checked from here, and does not take over one alive here."""

from __future__ import annotations

import json
import os
import socket

import pytest
from sqlalchemy import func, select

from ntrader.db.database import Database
from ntrader.db.tables import backtest_results, sweeps, walk_forwards
from tests.e2e.conftest import RunCli
from tests.integration.sweep_support import running_sweep_and_analysis

HOLDERS = {
    # This test's own process: alive.
    "alive": (socket.gethostname(), os.getpid(), f"process {os.getpid()} on this machine"),
    "elsewhere": ("far.example", 4242, "process 4242 on far.example, another machine"),
    "unrecorded": (None, None, "a process an earlier version of ntrader did not record"),
}


def _running(database_url: str, holder: str) -> tuple[str, str]:
    """A sweep and a walk-forward analysis stored RUNNING in ``holder``'s process."""
    host, pid, _sentence = HOLDERS[holder]
    return running_sweep_and_analysis(database_url, host, pid)


def _rows(database_url: str) -> tuple[object, ...]:
    database = Database(database_url)
    with database.transaction() as repos:
        found = tuple(
            tuple(row)
            for table in (sweeps, walk_forwards)
            for row in repos.connection.execute(
                select(table.c.id, table.c.status, table.c.host, table.c.host_pid)
            )
        )
        runs = repos.connection.execute(select(func.count()).select_from(backtest_results))
        found += (runs.scalar_one(),)
    database.dispose()
    return found


@pytest.mark.parametrize("holder", list(HOLDERS))
def test_resume_refuses_a_record_whose_process_may_run_it(
    invoke_cli: RunCli, stocked: str, holder: str
) -> None:
    sweep_id, walk_forward_id = _running(stocked, holder)
    sentence = HOLDERS[holder][2]
    before = _rows(stocked)
    for kind, record_id, noun in (
        ("sweep", sweep_id, "Sweep"),
        ("walk-forward", walk_forward_id, "Walk-forward analysis"),
    ):
        refused = invoke_cli(
            "backtest", kind, "resume", record_id[:8], "--json", database_url=stocked, check_exit=1
        )
        error = json.loads(refused.stdout)
        assert f"{noun} {record_id} is RUNNING in {sentence}" in error["error"]
        assert "it can be resumed once it has stopped." in error["error"]
        # --force is offered only where the process cannot be checked from here...
        take_over = f"`ntrader backtest {kind} resume {record_id[:8]} --force`"
        assert (take_over in error["hint"]) is (holder != "alive")
        if holder == "alive":
            # ...and a process this machine sees running is not taken over.
            forced = invoke_cli(
                "backtest", kind, "resume", record_id[:8], "--force", "--json",
                database_url=stocked, check_exit=1,
            )  # fmt: skip
            assert json.loads(forced.stdout)["error"] == error["error"]
        listed = invoke_cli("backtest", kind, "list", "--json", database_url=stocked)
        assert [item["stale"] for item in json.loads(listed.stdout)] == [False]
        table = invoke_cli("backtest", kind, "list", database_url=stocked).stdout
        assert "RUNNING" in table and "stale" not in table
    assert _rows(stocked) == before


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_force_takes_over_and_finishes_what_another_machine_left_running(
    invoke_cli: RunCli, stocked: str
) -> None:
    """`--force` on both resume commands: the record is run to its end by this process."""
    sweep_id, _other = _running(stocked, "unrecorded")
    _sweep, walk_forward_id = _running(stocked, "elsewhere")
    for kind, record_id in (("sweep", sweep_id), ("walk-forward", walk_forward_id)):
        done = invoke_cli(
            "backtest", kind, "resume", record_id[:8], "--force", "--workers", "1", "--json",
            database_url=stocked,
        )  # fmt: skip
        assert json.loads(done.stdout)["status"] == "COMPLETED"
    database = Database(stocked)
    with database.transaction() as repos:
        for table, row_id in ((sweeps, sweep_id), (walk_forwards, walk_forward_id)):
            row = repos.connection.execute(
                select(table.c.status, table.c.host).where(table.c.id == row_id)
            ).one()
            assert tuple(row) == ("COMPLETED", socket.gethostname())
    database.dispose()
