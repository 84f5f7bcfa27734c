"""Jobs are never lost: SIGKILL the server with jobs running and queued; after a restart
every job is COMPLETED, INTERRUPTED or PENDING, and `backtest resume` finishes the
interrupted ones. SIGTERM lets the running job finish and stores the queued INTERRUPTED."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from ntrader.db.database import Database
from ntrader.models.enums import RunStatus
from ntrader.services.backtest_service import BacktestService
from ntrader.services.run_history import RunHistory
from tests.api.server import SMA_BODY, start_server, stop_server, store_with_sample_bars

V1 = "/api/v1"


@pytest.mark.slow
def test_sigkill_loses_no_job_and_sigterm_drains(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ntrader.db'}"
    store_with_sample_bars(url)
    server = start_server(url, tmp_path, jobs=1)
    with server.client() as client:
        ids = [client.post(f"{V1}/backtests", json=SMA_BODY).json()["id"] for _ in range(3)]
        _wait_running(client, ids[0])
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()

    restarted = start_server(url, tmp_path, jobs=1)
    with restarted.client() as client:
        statuses = {
            run_id: client.get(f"{V1}/backtests/{run_id}").json()["status"] for run_id in ids
        }
        assert set(statuses.values()) <= {"COMPLETED", "INTERRUPTED", "PENDING"}, statuses
        assert statuses[ids[1]] == statuses[ids[2]] == "INTERRUPTED"
        # SIGTERM: the running job finishes within the grace period, the queued one is
        # stored INTERRUPTED, and the server exits cleanly.
        running, queued = (
            client.post(f"{V1}/backtests", json=SMA_BODY).json()["id"] for _ in range(2)
        )
        _wait_running(client, running)
    # uvicorn re-raises the SIGTERM once it has shut down, so the exit says "terminated".
    assert stop_server(restarted) in {0, -signal.SIGTERM}

    database = Database(url)
    history = RunHistory(database)
    assert history.get(running).status is RunStatus.COMPLETED
    assert history.get(queued).status is RunStatus.INTERRUPTED
    for run_id, status in statuses.items():
        if status == "INTERRUPTED":
            assert BacktestService(database).resume(run_id).run.status is RunStatus.COMPLETED
    assert {history.get(run_id).status for run_id in ids} == {RunStatus.COMPLETED}
    database.dispose()


def _wait_running(client: httpx.Client, run_id: str) -> None:
    deadline = time.monotonic() + 60
    while client.get(f"{V1}/backtests/{run_id}").json()["status"] != "RUNNING":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)
