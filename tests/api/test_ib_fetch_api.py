"""IB fetch as a job of the HTTP API, against the fake TWS: the bars it stores are those
`data fetch` stores, the gateway is the server's alone, and an unreachable one is a 503."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from ntrader.db.database import Database
from ntrader.models.enums import RunStatus, Timeframe
from ntrader.services.ib.jobs import FetchJobs
from ntrader.services.instruments import find_stored
from tests.api.server import (
    Server,
    assert_problem,
    events_of,
    fake_gateway,
    running_server,
    start_server,
    stop_server,
)
from tests.fakes.tws import FakeTws, Fault
from tests.inprocess_cli import invoke_ntrader

V1 = "/api/v1"
BODY = {"instruments": ["AAPL"], "start": "2023-11-13", "end": "2023-11-17", "timeframe": "1HOUR"}


@pytest.fixture
def tws() -> Iterator[FakeTws]:
    with FakeTws(accounts=("DU7654321",)) as server:
        yield server


@pytest.fixture
def server(tws: FakeTws, tmp_path: Path) -> Iterator[Server]:
    with running_server(
        f"sqlite:///{tmp_path / 'api.db'}", tmp_path, jobs=1, env=fake_gateway(tws)
    ) as running:
        yield running


def _bars(url: str) -> dict[str, np.ndarray]:
    database = Database(url)
    with database.transaction() as repos:
        stored = find_stored(repos.instruments, "AAPL")
        bars = repos.bars.load(stored, Timeframe.HOUR_1, 0, 2**62)
    database.dispose()
    return {name: getattr(bars, name) for name in ("ts", "open", "high", "low", "close", "volume")}


def test_a_fetch_job_stores_what_data_fetch_stores(
    server: Server, tws: FakeTws, tmp_path: Path
) -> None:
    with server.client() as client:
        named = client.post(f"{V1}/data/ib/fetch", json={**BODY, "port": 4002})
        assert "port" in str(assert_problem(named, 422)["detail"])
        response = client.post(f"{V1}/data/ib/fetch", json=BODY)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        assert response.headers["location"] == f"{V1}/data/ib/fetch/{job_id}"
        events = events_of(client, f"{V1}/data/ib/fetch/{job_id}/events")
        assert events[-1] == ("done", {"status": "COMPLETED", "error_message": None})
        assert any(name == "progress" and data["chunks_done"] for name, data in events)
        job = client.get(f"{V1}/data/ib/fetch/{job_id[:8]}").json()
        assert job["status"] == "COMPLETED"
        [fetched] = job["result"]["instruments"]
        assert (fetched["instrument_id"], fetched["bars_stored"]) == ("AAPL.NASDAQ", 35)

        tws.close()
        down = assert_problem(client.post(f"{V1}/data/ib/fetch", json=BODY), 503)
        # Refused, or (a connection that raced the close) dropped in the handshake.
        assert any(
            sentence in str(down["detail"])
            for sentence in ("Nothing accepts connections", "closed the connection")
        )
        assert client.get(f"{V1}/data/ib/fetch/latest").json()["id"] == job_id

    with FakeTws(accounts=("DU7654321",)) as again:
        cli_url = f"sqlite:///{tmp_path / 'cli.db'}"
        args = ("--database-url", cli_url, "data", "fetch", "--instruments", "AAPL", "--start",
                "2023-11-13", "--end", "2023-11-17", "--timeframe", "1HOUR", "--json")  # fmt: skip
        ran = invoke_ntrader(args, env={**os.environ, **fake_gateway(again)}, cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr
    over_http, by_cli = _bars(server.database_url), _bars(cli_url)
    assert len(over_http["ts"]) == 35
    for name, values in over_http.items():
        np.testing.assert_array_equal(values, by_cli[name])


def test_the_connection_endpoint_shows_what_data_connect_shows(
    server: Server, tws: FakeTws, tmp_path: Path
) -> None:
    with server.client() as client:
        session = client.get(f"{V1}/data/ib/connection")
        assert session.status_code == 200, session.text
        cli = invoke_ntrader(
            ("data", "connect", "--json"), env={**os.environ, **fake_gateway(tws)}, cwd=tmp_path
        )
        assert cli.returncode == 0, cli.stderr
        over_http, by_cli = session.json(), json.loads(cli.stdout)
        assert over_http.pop("seconds") >= 0 and by_cli.pop("seconds") >= 0
        assert over_http.pop("connection_time") and by_cli.pop("connection_time")
        assert over_http == by_cli
        assert over_http["accounts"] == [{"account_id": "DU7654321", "kind": "paper"}]
        assert over_http["port"] == tws.port

        tws.close()
        down = assert_problem(client.get(f"{V1}/data/ib/connection"), 503)
        # Refused, or (a connection that raced the close) dropped in the handshake.
        assert any(
            sentence in str(down["detail"])
            for sentence in ("Nothing accepts connections", "closed the connection")
        )
        assert str(tws.port) in str(down["detail"])


def test_a_running_or_queued_fetch_job_can_be_cancelled_and_resumed(
    tws: FakeTws, tmp_path: Path
) -> None:
    patient = {**fake_gateway(tws), "NTRADER_IB_REQUEST_TIMEOUT": "300"}
    with (
        running_server(f"sqlite:///{tmp_path / 'api.db'}", tmp_path, jobs=1, env=patient) as server,
        server.client() as client,
    ):
        tws.script.append(Fault(silent=True))  # IB never answers the first request
        running = _submit(client, BODY)
        _wait_status(client, running, "RUNNING")
        # Cancelled while it waits on IB: cancelled before its request, the job would leave
        # the silence to the resumed job, which would wait out the 300 s timeout.
        _wait_for(lambda: bool(tws.history_requests), "the job never asked IB for bars")
        queued = _submit(client, {**BODY, "timeframe": "DAILY"})
        for job_id, reason in ((queued, "cancelled before it started"), (running, None)):
            asked = time.monotonic()
            cancelled = client.post(f"{V1}/data/ib/fetch/{job_id[:8]}/cancel")
            # Not after the 300 s the silent gateway's request would take to time out.
            assert time.monotonic() - asked < 60
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["status"] == "INTERRUPTED"
            if reason is not None:
                assert cancelled.json()["error_message"] == reason
        again = assert_problem(client.post(f"{V1}/data/ib/fetch/{running}/cancel"), 409)
        assert "INTERRUPTED" in str(again["detail"])
        assert_problem(client.post(f"{V1}/data/ib/fetch/ffffffff/cancel"), 404)
        resumed = client.post(f"{V1}/data/ib/fetch/{running}/resume")
        assert resumed.status_code == 202, resumed.text
        events = events_of(client, f"{V1}/data/ib/fetch/{running}/events")
        assert events[-1] == ("done", {"status": "COMPLETED", "error_message": None})
        assert client.get(f"{V1}/data/ib/fetch/{running}").json()["result"]["bars_stored"] == 35


def _submit(client: httpx.Client, body: dict[str, object]) -> str:
    response = client.post(f"{V1}/data/ib/fetch", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "PENDING"
    return str(response.json()["id"])


def _wait_status(client: httpx.Client, job_id: str, status: str) -> None:
    _wait_for(
        lambda: client.get(f"{V1}/data/ib/fetch/{job_id}").json()["status"] == status,
        f"job {job_id} never became {status}",
    )


def _wait_for(condition: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.1)


def _kill_with_its_workers(server: Server) -> None:
    """SIGKILL the server and its worker processes, as a power cut would: a worker is
    stopped first, so it cannot store its job's end when its server dies."""
    children = [
        int(stat.parent.name)
        for stat in Path("/proc").glob("[0-9]*/stat")
        if _parent_of(stat) == server.process.pid
    ]
    assert children, "the server runs no worker"
    for child in children:
        os.kill(child, signal.SIGSTOP)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    for child in children:
        os.kill(child, signal.SIGKILL)


def _parent_of(stat: Path) -> int | None:
    try:
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
        return int(stat.read_text().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):  # a process that ended meanwhile
        return None


def test_fetch_jobs_are_stored_survive_restarts_and_resume(tws: FakeTws, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    # IB never answers the second job: it stays RUNNING until the power cut.
    patient = {**fake_gateway(tws), "NTRADER_IB_REQUEST_TIMEOUT": "300"}
    server = start_server(url, tmp_path, jobs=1, env=patient)
    monday = {**BODY, "start": "2023-11-20", "end": "2023-11-21"}
    try:
        with server.client() as client:
            done = _submit(client, BODY)
            assert events_of(client, f"{V1}/data/ib/fetch/{done}/events")[-1][0] == "done"
            tws.script.append(Fault(silent=True))
            asked = len(tws.history_requests)
            running = _submit(client, monday)
            _wait_status(client, running, "RUNNING")
            # Killed while it waits on IB, or the resumed job would meet the silence.
            _wait_for(lambda: len(tws.history_requests) > asked, "the job never asked IB")
            queued = _submit(client, {**monday, "timeframe": "DAILY"})
    finally:
        _kill_with_its_workers(server)
    database = Database(url)
    assert FetchJobs(database).get(running).status is RunStatus.RUNNING
    assert FetchJobs(database).get(queued).status is RunStatus.PENDING

    restarted = start_server(url, tmp_path, jobs=1, env=fake_gateway(tws))
    try:
        _restarted_server_interrupted_the_left_jobs_and_resumes_them(
            restarted, done, running, queued
        )
    finally:
        stop_server(restarted)  # graceful: nothing queued or running
    # Another start on the same store: every job is as it was.
    before = [FetchJobs(database).get(job_id) for job_id in (done, running, queued)]
    database.dispose()
    with (
        running_server(url, tmp_path, jobs=1, env=fake_gateway(tws)) as third,
        third.client() as client,
    ):
        for job in before:
            assert client.get(f"{V1}/data/ib/fetch/{job.id}").json() == job.model_dump(mode="json")


def _restarted_server_interrupted_the_left_jobs_and_resumes_them(
    server: Server, done: str, running: str, queued: str
) -> None:
    with server.client() as client:
        completed = client.get(f"{V1}/data/ib/fetch/{done[:8]}").json()
        assert completed["status"] == "COMPLETED" and completed["result"]["bars_stored"] == 35
        for job_id in (running, queued):
            left = client.get(f"{V1}/data/ib/fetch/{job_id}").json()
            assert left["status"] == "INTERRUPTED", left
            assert left["error_message"] == "the server running it stopped before it finished"
        first = client.get(f"{V1}/data/ib/fetch", params={"limit": 2}).json()
        cursor = {"limit": 2, "cursor": first["next_cursor"]}
        second = client.get(f"{V1}/data/ib/fetch", params=cursor).json()
        listed = [job["id"] for page in (first, second) for job in page["items"]]
        assert listed == [queued, running, done] and second["next_cursor"] is None

        for job_id, bars in ((running, 14), (queued, 2)):  # two days of hours, of days
            resumed = client.post(f"{V1}/data/ib/fetch/{job_id[:8]}/resume")
            assert resumed.status_code == 202, resumed.text
            assert resumed.headers["location"] == f"{V1}/data/ib/fetch/{job_id}"
            events = events_of(client, f"{V1}/data/ib/fetch/{job_id}/events")
            assert events[-1] == ("done", {"status": "COMPLETED", "error_message": None})
            job = client.get(f"{V1}/data/ib/fetch/{job_id}").json()
            assert job["error_message"] is None and job["result"]["bars_stored"] == bars
        conflict = assert_problem(client.post(f"{V1}/data/ib/fetch/{done}/resume"), 409)
        assert "only a FAILED or INTERRUPTED job can be resumed" in str(conflict["detail"])
        assert_problem(client.post(f"{V1}/data/ib/fetch/ffffffff/resume"), 404)
        assert_problem(client.get(f"{V1}/data/ib/fetch/ffffffff"), 404)
        assert_problem(client.get(f"{V1}/data/ib/fetch", params={"cursor": "garbage!"}), 400)
