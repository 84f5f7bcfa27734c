"""Interactive Brokers benchmarks, against the fake TWS of the test suite on loopback.

- ``data connect``: the handshake, startApi and the account list, to a fake that answers at
  once (seed target < 3 s; ours < 0.5 s).
- A year of 1-minute bars of one instrument from a fake that answers instantly, pacing off:
  bars stored per second, per store (each chunk validated and stored in its own transaction).
- The same fetch with IB's pacing on: pacing waits run on a clock that moves with real time
  and jumps over the waits, so a run takes seconds but yields the time a real fetch would
  take (work plus waits); its floor is the time the pacing rules alone impose on that many
  requests (the same pacer, no work, on a pure fake clock).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from harness import Backend, Row, fmt_seconds, fresh_database, interleave, median, spread

from ntrader.models.enums import AssetClass, Timeframe
from ntrader.services.ib.chunks import session_days, split_days
from ntrader.services.ib.fetch import FetchOptions, FetchRequest, IbFetchService
from ntrader.services.ib.gateway import GatewayConfig, connect
from ntrader.services.ib.pacing import Clock, FakeClock, HistoricalPacer, PacingRules

if TYPE_CHECKING:
    from cases import BenchContext

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the fake lives in tests/
from tests.fakes.tws import FakeTws

CONNECT_TARGET_S = 0.5  # the seed asked for < 3 s
PACED_TARGET_RATIO = 1.1


class RealTimeSkippingClock:
    """Real time, plus every wait asked for, without waiting: a paced fetch in seconds."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.skipped += max(seconds, 0.0)


def bench_ib(ctx: BenchContext) -> list[Row]:
    from cases import QUICK  # cases imports this module: by now it is loaded

    last = date(2023, 3, 31) if ctx.sizes is QUICK else date(2023, 12, 31)
    request = FetchRequest(("AAPL",), date(2023, 1, 1), last, Timeframe.MINUTE_1)
    rows = [_connect_row(ctx.repeat)]
    with FakeTws() as tws:
        config = GatewayConfig("127.0.0.1", tws.port, 9, "paper", connect_timeout=3.0)
        rows += _fetch_rows(ctx, config, request)
        rows += _paced_rows(ctx, config, request)
    return rows


def _connect_row(repeat: int) -> Row:
    samples: list[float] = []
    with FakeTws() as tws:
        config = GatewayConfig("127.0.0.1", tws.port, 9, "paper", connect_timeout=3.0)
        connect(config)  # warm-up
        for _ in range(max(repeat, 5)):
            samples.append(connect(config).seconds)
    seconds = median(samples)
    return Row(
        benchmark="data connect (fake TWS, loopback)",
        backend="-",
        median=fmt_seconds(seconds),
        value=f"{seconds * 1000:.0f} ms",
        target=f"< {CONNECT_TARGET_S} s (seed: < 3 s)",
        verdict="PASS" if seconds < CONNECT_TARGET_S else "FAIL",
        notes=f"handshake + startApi + accounts; {len(samples)} runs, {spread(samples)}",
        samples_s=samples,
    )


def _fetch_once(
    backend: Backend,
    config: GatewayConfig,
    request: FetchRequest,
    options: FetchOptions,
    clock: Clock,
) -> tuple[float, int]:
    with fresh_database(backend, "ibfetch") as database:
        service = IbFetchService(database, config, options, clock)
        started = time.perf_counter()
        report = service.fetch(request)
        seconds = time.perf_counter() - started
    return seconds, report.bars_stored


def _fetch_rows(ctx: BenchContext, config: GatewayConfig, request: FetchRequest) -> list[Row]:
    options = FetchOptions(request_timeout=10.0, pacing=PacingRules.off(), retries=0)
    bars: dict[str, int] = {}

    def action(backend: Backend) -> Callable[[], float]:
        def run() -> float:
            seconds, stored = _fetch_once(backend, config, request, options, FakeClock())
            bars[backend.name] = stored
            ctx.log(f"  ib fetch {backend.name}: {stored:,} bars in {fmt_seconds(seconds)}")
            return seconds

        return run

    backends = ctx.backends
    samples = interleave(ctx.repeat, {b.name: action(b) for b in backends})
    requests = _requests(request)
    rows = []
    for backend in backends:
        seconds = median(samples[backend.name])
        rate = bars[backend.name] / seconds
        rows.append(
            Row(
                benchmark=f"IB fetch {request.start}..{request.end} 1MIN, pacing off",
                backend=backend.name,
                median=fmt_seconds(seconds),
                value=f"{rate:,.0f} bars/s",
                target="-",
                verdict="info",
                notes=f"{bars[backend.name]:,} bars in {requests} requests: one request, one "
                f"validated import and one transaction each; the fake runs in this process; "
                f"range {spread(samples[backend.name])}",
                samples_s=samples[backend.name],
                metrics={"bars": bars[backend.name], "bars_per_s": rate, "requests": requests},
            )
        )
    return rows


def _requests(request: FetchRequest) -> int:
    """Day chunks with a session: the requests the fetch sends (weekends and holidays none)."""
    chunks = split_days(request.start, request.end, request.timeframe)
    return sum(1 for c in chunks if session_days(AssetClass.EQUITY, c.first, c.last))


def pacing_floor(rules: PacingRules, requests: int) -> float:
    """The time IB's rules alone impose on ``requests`` requests for one contract."""
    clock = FakeClock()
    pacer = HistoricalPacer(rules, clock)
    for i in range(requests):
        pacer.before_request("contract", i)
    return clock.now


def _paced_rows(ctx: BenchContext, config: GatewayConfig, request: FetchRequest) -> list[Row]:
    backend = ctx.backends[0]
    requests = _requests(request)
    rows = []
    for name, rules in (("soft", PacingRules(window_requests=0)), ("strict", PacingRules())):
        options = FetchOptions(request_timeout=10.0, pacing=rules, retries=0)
        clock = RealTimeSkippingClock()
        seconds, _ = _fetch_once(backend, config, request, options, clock)
        taken = seconds + clock.skipped
        floor = pacing_floor(rules, requests)
        ratio = taken / floor
        ctx.log(f"  ib paced {name}: {fmt_seconds(taken)} vs floor {fmt_seconds(floor)}")
        rows.append(
            Row(
                benchmark=f"IB fetch {request.start}..{request.end} 1MIN, pacing {name}",
                backend=backend.name,
                median=fmt_seconds(taken),
                value=f"{ratio:.2f}x",
                target=f"≤ {PACED_TARGET_RATIO}x the pacing floor",
                verdict="PASS" if ratio <= PACED_TARGET_RATIO else "FAIL",
                floor=fmt_seconds(floor),
                notes=f"{requests} requests; waits {fmt_seconds(clock.skipped)} (skipped on "
                f"the clock) + work {fmt_seconds(seconds)}; one run",
                samples_s=[taken],
                floor_samples_s=[floor],
                ratios=[ratio],
                metrics={"requests": requests, "waits_s": clock.skipped, "work_s": seconds},
            )
        )
    return rows
