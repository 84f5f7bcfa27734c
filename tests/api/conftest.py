"""Real servers for the API tests: one on SQLite (with a token, a small upload limit, one
job at a time and three per client) and one on PostgreSQL (open, two jobs, the fake TWS as
its IB gateway)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.server import Server, fake_gateway, running_server, store_with_sample_bars
from tests.conftest import _new_postgres_database
from tests.fakes.tws import FakeTws

TOKEN = "test-token-3f9c2a"
UPLOAD_LIMIT = 400_000


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("api-sqlite")
    url = f"sqlite:///{workdir / 'ntrader.db'}"
    store_with_sample_bars(url)
    env = {
        "NTRADER_API_TOKEN": TOKEN,
        "NTRADER_API_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "NTRADER_API_MAX_JOBS_PER_CLIENT": "3",
    }
    with running_server(url, workdir, jobs=1, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """With the fake TWS as its IB gateway: an IB fetch answers 202, not 503."""
    workdir = tmp_path_factory.mktemp("api-pg")
    with FakeTws() as tws, _new_postgres_database() as url:
        store_with_sample_bars(url)
        with running_server(url, workdir, jobs=2, env=fake_gateway(tws)) as server:
            yield server
