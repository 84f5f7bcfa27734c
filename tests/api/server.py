"""A real `ntrader serve` on a free loopback port, for the API tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
from click.testing import CliRunner

from ntrader.cli.context import AppContext
from ntrader.cli.main import cli
from ntrader.core.strategy_registry import PATH_VARIABLE
from ntrader.db.database import Database
from ntrader.models.backtest import BacktestConfig
from ntrader.services.data_service import DataService, ImportRequest
from tests.conftest import SAMPLE_DIR
from tests.e2e.signals import gated_strategy_file
from tests.fakes.tws import FakeTws

NTRADER = Path(sys.executable).with_name("ntrader")
START_TIMEOUT_S = 90.0
SMA_BODY = {
    "strategy": {"type": "sma", "parameters": {"fast_period": 10, "slow_period": 30}},
    "instruments": ["AAPL"],
    "period": {"start": "2020-01-01", "end": "2021-06-30"},
}


def sma_config() -> BacktestConfig:
    """``SMA_BODY`` as the configuration the services take."""
    return BacktestConfig(
        strategy_type="sma",
        instruments=("AAPL",),
        start=date(2020, 1, 1),
        end=date(2021, 6, 30),
        parameters={"fast_period": 10, "slow_period": 30},
    )


@dataclass
class Server:
    url: str
    database_url: str
    process: subprocess.Popen[bytes]
    token: str | None = None
    log: Path = field(default_factory=Path)

    def client(self, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]


def fake_gateway(tws: FakeTws) -> dict[str, str]:
    """The server's settings for the fake TWS as its gateway, without pacing or backoff."""
    return {
        "NTRADER_IB_PORT": str(tws.port),
        "NTRADER_IB_CONNECT_TIMEOUT": "2",
        "NTRADER_IB_PACING": "off",
        "NTRADER_IB_BACKOFF_SECONDS": "0",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def store_with_sample_bars(database_url: str) -> None:
    """AAPL and SPY (the benchmark) daily bars in the store."""
    database = Database(database_url)
    service = DataService(database)
    for name, symbol in (("AAPL_daily.csv", "AAPL"), ("SPY_daily.csv", "SPY")):
        service.import_csv(ImportRequest(file=SAMPLE_DIR / name, instrument=symbol))
    database.dispose()


def start_server(
    database_url: str, workdir: Path, *, jobs: int = 2, env: dict[str, str] | None = None
) -> Server:
    port = free_port()
    log = workdir / f"server-{port}.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NTRADER_")}
    environment.update(
        {
            "NTRADER_DATABASE_URL": database_url,
            "XDG_DATA_HOME": str(workdir / "xdg"),
            "NTRADER_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
    )
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(NTRADER), "serve", "--port", str(port), "--jobs", str(jobs)],
            env=environment,
            cwd=workdir,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Server(
        f"http://127.0.0.1:{port}",
        database_url,
        process,
        token=environment.get("NTRADER_API_TOKEN"),
        log=log,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()}")
        try:
            httpx.get(f"{server.url}/health", timeout=1)
            return server
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not start in {START_TIMEOUT_S} s: {log.read_text()}")


def stop_server(server: Server) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.process.kill()
    return server.process.wait()


@contextmanager
def running_server(database_url: str, workdir: Path, **kwargs: object) -> Iterator[Server]:
    server = start_server(database_url, workdir, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        stop_server(server)


@contextmanager
def gated_server(database_url: str, workdir: Path, stall_run: int) -> Iterator[Server]:
    """A server on ``database_url``, given the sample bars, that loads the gated plug-in
    strategy (tests/e2e/signals.py): the ``stall_run``-th run each of its workers starts
    waits on its first bar. A job cancelled once it is there cannot have finished first,
    and its resume (a new worker, with fewer runs to do) goes through."""
    store_with_sample_bars(database_url)
    env = {PATH_VARIABLE: str(gated_strategy_file(workdir)), "STALL_RUN": str(stall_run)}
    with running_server(database_url, workdir, jobs=1, env=env) as server:
        yield server


def wait_for_progress(
    client: httpx.Client, path: str, reached: Callable[[dict[str, object]], bool]
) -> None:
    """Follow a job's server-sent events at ``path`` until a ``progress`` event's data is
    ``reached``."""
    with closing(_events(client, path)) as events:
        if any(name == "progress" and reached(data) for name, data in events):
            return
    raise AssertionError(f"{path} ended before the progress the test waits for")


def wait_for_end(client: httpx.Client, run_id: str, timeout: float = 120) -> dict[str, object]:
    """The run once it is COMPLETED, FAILED or INTERRUPTED."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/backtests/{run_id}").json()
        if run["status"] in {"COMPLETED", "FAILED", "INTERRUPTED"}:
            return dict(run)
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not end in {timeout} s")


def events_of(client: httpx.Client, path: str) -> list[tuple[str, dict[str, object]]]:
    """Every server-sent event of a job's stream at ``path``, until the server closes it."""
    return list(_events(client, path))


def _events(
    client: httpx.Client, path: str
) -> Generator[tuple[str, dict[str, object]], None, None]:
    """The server-sent events of a job's stream at ``path`` as they come."""
    name = None
    with client.stream("GET", path) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:") and name:
                yield name, json.loads(line.removeprefix("data:"))


def cli_stdout(database_url: str, *args: str) -> str:
    """`ntrader ARGS --json` in this process, on the server's store."""
    result = CliRunner().invoke(
        cli, ["--database-url", database_url, *args], obj=AppContext(), catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"]
    for leak in ("Traceback", "SELECT", "sqlalchemy", "/tmp/", "/work/", "site-packages"):
        assert leak not in response.text
    return dict(body)
