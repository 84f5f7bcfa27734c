"""HTTP API benchmarks, against a real `ntrader serve` on loopback (the test suite's launcher).

- ``GET /api/v1/backtests`` (a page of 50) with many stored runs, from an async client with 32
  requests in flight: p50 / p99 latency and requests per second.
- ``GET /api/v1/data/bars`` of a year of 1-minute bars as Arrow and as CSV: rows per second
  and the server's peak resident memory while it streams (sampled every 5 ms).
- Many concurrent clients submitting small backtests: every one must end COMPLETED (none lost);
  median time in the queue against median run time.
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import psutil
import pyarrow as pa
from datagen import random_walk_bars, rth_minutes, trading_days
from harness import Row, fmt_seconds, fresh_database

from ntrader.api.routes.data import ARROW, CSV
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import Timeframe

if TYPE_CHECKING:
    from cases import BenchContext

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the launcher lives in tests/
from tests.api.server import Server, running_server

CONCURRENCY = 32
BAR_YEAR = 2023
SMALL_BACKTEST_DAYS = 30  # the fewest trading days a backtest accepts
TERMINAL = {"COMPLETED", "FAILED", "INTERRUPTED"}


@dataclass(frozen=True, slots=True)
class ApiSizes:
    stored_runs: int
    list_requests: int
    bar_days: int
    clients: int
    backtests: int


FULL_API = ApiSizes(
    stored_runs=10_000, list_requests=2_000, bar_days=252, clients=50, backtests=200
)
QUICK_API = ApiSizes(
    stored_runs=1_000, list_requests=200, bar_days=SMALL_BACKTEST_DAYS, clients=2, backtests=4
)


def bench_api(ctx: BenchContext) -> list[Row]:
    from cases import QUICK, SYMBOL, _store  # cases imports this module: by now it is loaded

    sizes = QUICK_API if ctx.sizes is QUICK else FULL_API
    backend = ctx.backends[0]
    with fresh_database(backend, "api") as database:
        minutes = rth_minutes(trading_days(BAR_YEAR, sizes.bar_days))
        _store(database, Timeframe.MINUTE_1, random_walk_bars(minutes, seed=11))
        config = BacktestConfig(
            strategy_type="sma",
            instruments=(SYMBOL,),
            start=date(BAR_YEAR, 1, 2),
            end=trading_days(BAR_YEAR, SMALL_BACKTEST_DAYS)[-1].date(),
            timeframe=Timeframe.MINUTE_1,
            parameters={"fast_period": 10, "slow_period": 30},
        )
        with database.transaction() as repos:
            first = repos.backtests.create(config)
            configuration = repos.backtests.configuration_id_of(first)
            for _ in range(sizes.stored_runs - 1):
                repos.backtests.create_for(configuration)
        ctx.log(f"api: {sizes.stored_runs:,} runs and {len(minutes):,} minute bars stored")
        env = {"NTRADER_API_MAX_JOBS_PER_CLIENT": str(sizes.backtests + 1)}
        with running_server(database.url, ctx.workdir, jobs=2, env=env) as server:
            rows = [_list_row(server, backend.name, sizes)]
            rows += [_bars_row(server, backend.name, media, len(minutes)) for media in (ARROW, CSV)]
            rows.append(_jobs_row(server, backend.name, sizes, config))
    return rows


def _list_row(server: Server, backend: str, sizes: ApiSizes) -> Row:
    latencies: list[float] = []

    async def load() -> float:
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
            await client.get("/api/v1/backtests")  # warm-up
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one() -> None:
                async with gate:
                    started = time.perf_counter()
                    response = await client.get("/api/v1/backtests")
                    latencies.append(time.perf_counter() - started)
                    response.raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(sizes.list_requests)))
            return time.perf_counter() - started

    wall = asyncio.run(load())
    p50, p99 = np.percentile(latencies, [50, 99])
    return Row(
        benchmark=f"api list ({sizes.stored_runs:,} runs)",
        backend=backend,
        median=fmt_seconds(float(p50)),
        value=f"{sizes.list_requests / wall:,.0f} req/s",
        target="",
        verdict="info",
        notes=f"p50 {fmt_seconds(float(p50))}, p99 {fmt_seconds(float(p99))}, "
        f"{CONCURRENCY} in flight, {sizes.list_requests:,} requests",
        samples_s=latencies,
    )


class _PeakMemory:
    """The server's resident memory, sampled every 5 ms while a request streams."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._stop = threading.Event()
        self.peak = self.before = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _bars_row(server: Server, backend: str, media: str, expected: int) -> Row:
    params = {"instrument": "BENCH", "timeframe": "1MIN"}
    with server.client() as client, _PeakMemory(server.process.pid) as memory:
        started = time.perf_counter()
        with client.stream(
            "GET", "/api/v1/data/bars", params=params, headers={"Accept": media}
        ) as response:
            response.raise_for_status()
            body = b"".join(response.iter_bytes())
        seconds = time.perf_counter() - started
    if media == ARROW:
        rows = pa.ipc.open_stream(io.BytesIO(body)).read_all().num_rows
    else:
        rows = body.count(b"\n") - 1  # the header line
    mib = 1024 * 1024
    return Row(
        benchmark=f"api bars as {'Arrow' if media == ARROW else 'CSV'} ({expected:,} rows)",
        backend=backend,
        median=fmt_seconds(seconds),
        value=f"{rows / seconds:,.0f} rows/s",
        target="every row",
        verdict="PASS" if rows == expected else "FAIL",
        notes=f"server peak RSS {memory.peak / mib:,.0f} MiB "
        f"(+{(memory.peak - memory.before) / mib:,.0f} while streaming), "
        f"{len(body) / mib:,.1f} MiB sent",
        samples_s=[seconds],
    )


def _jobs_row(server: Server, backend: str, sizes: ApiSizes, config: BacktestConfig) -> Row:
    body = {
        "strategy": {"type": config.strategy_type, "parameters": config.parameters},
        "instruments": list(config.instruments),
        "period": {"start": config.start.isoformat(), "end": config.end.isoformat()},
        "timeframe": config.timeframe.value,
    }
    each = sizes.backtests // sizes.clients

    async def client_submits(client: httpx.AsyncClient) -> list[str]:
        ids = []
        for _ in range(each):
            response = await client.post("/api/v1/backtests", json=body)
            if response.status_code != 202:
                raise RuntimeError(f"submission refused: {response.text}")
            ids.append(response.json()["id"])
        return ids

    async def submit_all() -> list[str]:
        clients = [httpx.AsyncClient(base_url=server.url, timeout=60) for _ in range(sizes.clients)]
        try:
            batches = await asyncio.gather(*(client_submits(client) for client in clients))
        finally:
            await asyncio.gather(*(client.aclose() for client in clients))
        return [run_id for batch in batches for run_id in batch]

    started = time.perf_counter()
    ids = asyncio.run(submit_all())
    runs = _wait_for_all(server, set(ids))
    wall = time.perf_counter() - started
    completed = [run for run in runs if run["status"] == "COMPLETED"]
    queued = [_seconds(run["created_at"], run["started_at"]) for run in completed]
    running = [_seconds(run["started_at"], run["completed_at"]) for run in completed]
    lost = sizes.backtests - len(runs)
    return Row(
        benchmark=f"api {sizes.backtests} backtests from {sizes.clients} clients",
        backend=backend,
        median=fmt_seconds(wall),
        value=f"{len(completed)}/{sizes.backtests} completed",
        target="all complete, none lost",
        verdict="PASS" if len(completed) == sizes.backtests and lost == 0 else "FAIL",
        notes=f"median queue {fmt_seconds(float(np.median(queued or [0])))}, median run "
        f"{fmt_seconds(float(np.median(running or [0])))}, 2 jobs at a time, {lost} lost",
        samples_s=running,
    )


def _wait_for_all(server: Server, ids: set[str]) -> list[dict[str, object]]:
    """Every submitted run once none is PENDING or RUNNING (one listing page at a time)."""
    deadline = time.monotonic() + 60 * 60
    with server.client() as client:
        while time.monotonic() < deadline:
            found: dict[str, dict[str, object]] = {}
            cursor = None
            while True:
                params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
                page = client.get("/api/v1/backtests", params=params).json()
                found.update({run["id"]: run for run in page["items"] if run["id"] in ids})
                cursor = page["next_cursor"]
                if not cursor or len(found) == len(ids):
                    break
            if len(found) == len(ids) and all(run["status"] in TERMINAL for run in found.values()):
                return list(found.values())
            time.sleep(1.0)
    raise RuntimeError("the submitted backtests did not all end within an hour")


def _seconds(first: object, last: object) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(str(last)) - datetime.fromisoformat(str(first))).total_seconds()
