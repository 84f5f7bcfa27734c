"""IB fetch as a job of the HTTP API, against the fake TWS: the bars it stores are those
`data fetch` stores, the gateway is the server's alone, and an unreachable one is a 503."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ntrader.db.database import Database
from ntrader.models.enums import Timeframe
from ntrader.services.instruments import find_stored
from tests.api.server import Server, assert_problem, events_of, fake_gateway, running_server
from tests.fakes.tws import FakeTws
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
