"""Jobs are never lost: SIGKILL the server with jobs running and queued; after a restart
every job is COMPLETED, INTERRUPTED or PENDING, and `backtest resume` finishes the
interrupted ones."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from ntrader.db.database import Database
from ntrader.models.enums import RunStatus
from ntrader.services.backtest_service import BacktestService
from ntrader.services.run_history import RunHistory
from tests.api.server import SMA_BODY, running_server, start_server, store_with_sample_bars

V1 = "/api/v1"


def test_sigkill_loses_no_job(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ntrader.db'}"
    store_with_sample_bars(url)
    server = start_server(url, tmp_path, jobs=1)
    with server.client() as client:
        ids = [client.post(f"{V1}/backtests", json=SMA_BODY).json()["id"] for _ in range(3)]
        deadline = time.monotonic() + 60
        while client.get(f"{V1}/backtests/{ids[0]}").json()["status"] != "RUNNING":
            assert time.monotonic() < deadline, "the first job never started"
            time.sleep(0.1)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()

    with running_server(url, tmp_path) as restarted, restarted.client() as client:
        statuses = {
            run_id: client.get(f"{V1}/backtests/{run_id}").json()["status"] for run_id in ids
        }
    assert set(statuses.values()) <= {"COMPLETED", "INTERRUPTED", "PENDING"}, statuses
    assert statuses[ids[1]] == statuses[ids[2]] == "INTERRUPTED"

    database = Database(url)
    for run_id, status in statuses.items():
        if status == "INTERRUPTED":
            assert BacktestService(database).resume(run_id).run.status is RunStatus.COMPLETED
    assert {RunHistory(database).get(run_id).status for run_id in ids} == {RunStatus.COMPLETED}
    database.dispose()
