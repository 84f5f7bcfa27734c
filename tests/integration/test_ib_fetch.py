"""The IB fetch end to end: the real ibapi client over a socket to the fake TWS, the real store.

Pacing and backoff waits run on a fake clock; sockets, threads and transactions are real.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from ntrader.core.errors import NotFoundError, ServiceUnavailableError, UserInputError
from ntrader.db.database import Database
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import RunStatus, Timeframe
from ntrader.services.backtest_service import BacktestService
from ntrader.services.ib.fetch import (
    FetchOptions,
    FetchRequest,
    IbFetchService,
    IbNoDataError,
)
from ntrader.services.ib.gateway import GatewayConfig, connect, probe_gateway
from ntrader.services.ib.pacing import FakeClock, PacingRules
from ntrader.services.ib.verify import verify
from ntrader.utils.settings import Settings
from tests.conftest import REPO_ROOT
from tests.fakes.tws import FakeTws, Fault, expected_bar, refused_port

WEEK = (date(2023, 11, 20), date(2023, 11, 28))  # holds Thanksgiving and its half day
# The four-timeframe test runs on both stores; the fault tests, about the fetch rather
# than the store, on PostgreSQL only (the seconds budget).
postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def tws() -> Iterator[FakeTws]:
    with FakeTws() as server:
        yield server


@pytest.fixture
def store(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def _service(store: Database, tws: FakeTws, clock: FakeClock, **options: object) -> IbFetchService:
    config = GatewayConfig("127.0.0.1", tws.port, 7, "paper", connect_timeout=2.0)
    values: dict[str, object] = {"request_timeout": 2.0, "retries": 3, "backoff_seconds": 1.0}
    values.update(options)
    return IbFetchService(store, config, FetchOptions(**values), clock)  # type: ignore[arg-type]


def _stored(store: Database, symbol: str, timeframe: Timeframe) -> tuple[str, np.ndarray, list]:
    with store.transaction() as repos:
        (instrument,) = repos.instruments.by_symbol(symbol)
        data = repos.bars.load(instrument, timeframe, 0, 2**62)
    rows = [
        (data.open[i], data.high[i], data.low[i], data.close[i], data.volume[i])
        for i in range(len(data))
    ]
    return instrument.spec.instrument_id, data.ts, rows


def _expected(ib_symbol: str, ts: np.ndarray, timeframe: Timeframe) -> list:
    return [
        tuple(float(v) for v in expected_bar(ib_symbol, int(t) // 10**9, timeframe.seconds))
        for t in ts
    ]


@pytest.mark.parametrize("timeframe", list(Timeframe))
def test_fetch_stores_every_bar_of_every_timeframe(
    store: Database, tws: FakeTws, timeframe: Timeframe
) -> None:
    clock = FakeClock()
    report = _service(store, tws, clock).fetch(FetchRequest(("AAPL", "EURUSD"), *WEEK, timeframe))
    per_day = {Timeframe.MINUTE_1: 390, Timeframe.MINUTE_5: 78, Timeframe.HOUR_1: 7}
    # Six NYSE sessions, one of them the 13:00 half day; seven FX weekdays.
    half_day = {Timeframe.MINUTE_1: 210, Timeframe.MINUTE_5: 42, Timeframe.HOUR_1: 4}
    aapl_bars = 6 if timeframe is Timeframe.DAILY else 5 * per_day[timeframe] + half_day[timeframe]
    fx_bars = 7 if timeframe is Timeframe.DAILY else 7 * 86_400 // timeframe.seconds
    assert [r.bars_stored for r in report.results] == [aapl_bars, fx_bars]
    instrument_id, ts, rows = _stored(store, "AAPL", timeframe)
    assert instrument_id == "AAPL.NASDAQ"
    assert rows == _expected("AAPL", ts, timeframe)
    fx_id, fx_ts, fx_rows = _stored(store, "EURUSD", timeframe)
    assert fx_id == "EURUSD.IDEALPRO"
    assert fx_rows == _expected("EUR", fx_ts, timeframe)
    assert {r.what_to_show for r in tws.history_requests} == {"TRADES", "MIDPOINT"}
    assert {r.format_date for r in tws.history_requests} == {2}  # epoch seconds, UTC
    assert verify(store, "AAPL", timeframe).ok
    assert verify(store, "EURUSD", timeframe).ok

    again = _service(store, tws, clock).fetch(FetchRequest(("AAPL",), *WEEK, timeframe))
    (result,) = again.results
    assert (result.chunks_fetched, result.bars_stored) == (0, 0)
    assert result.chunks_already_stored == result.chunks - result.chunks_without_sessions


@postgres_only
def test_pacing_waits_before_sending_on_the_fake_clock(store: Database, tws: FakeTws) -> None:
    clock = FakeClock()
    service = _service(store, tws, clock, pacing=PacingRules())
    report = service.fetch(FetchRequest(("AAPL",), *WEEK, Timeframe.MINUTE_1))
    # Six requests for one contract: the sixth waits for the 2 s window; nobody slept.
    assert report.results[0].chunks_fetched == 6
    assert report.pacing_wait_seconds == pytest.approx(2.0, abs=0.5)
    assert clock.slept == pytest.approx(report.pacing_wait_seconds)
    assert report.seconds < 10


@postgres_only
def test_dropped_connection_reconnects_and_continues(store: Database, tws: FakeTws) -> None:
    tws.script.extend([None, None, Fault(drop_after=25)])
    clock = FakeClock()
    report = _service(store, tws, clock).fetch(FetchRequest(("AAPL",), *WEEK, Timeframe.MINUTE_1))
    (result,) = report.results
    assert (result.reconnects, result.chunks_fetched, result.bars_stored) == (1, 6, 2160)
    assert tws.sessions == 2
    _, ts, rows = _stored(store, "AAPL", Timeframe.MINUTE_1)
    assert rows == _expected("AAPL", ts, Timeframe.MINUTE_1)


@postgres_only
def test_lost_gateway_stops_with_whole_chunks_and_a_rerun_resumes(
    store: Database, tws: FakeTws
) -> None:
    tws.script.extend([None, None, Fault(drop_after=25)])
    clock = FakeClock()
    with pytest.raises(ServiceUnavailableError, match="dropped") as caught:
        _service(store, tws, clock, retries=0).fetch(
            FetchRequest(("AAPL",), *WEEK, Timeframe.MINUTE_1)
        )
    assert "run the same command again" in (caught.value.hint or "")
    _, ts, _ = _stored(store, "AAPL", Timeframe.MINUTE_1)
    assert len(ts) == 2 * 390  # two whole days, nothing of the third
    report = _service(store, tws, clock).fetch(FetchRequest(("AAPL",), *WEEK, Timeframe.MINUTE_1))
    (result,) = report.results
    assert (result.chunks_already_stored, result.chunks_fetched) == (2, 4)
    _, ts, rows = _stored(store, "AAPL", Timeframe.MINUTE_1)
    assert len(ts) == len(np.unique(ts)) == 2160
    assert rows == _expected("AAPL", ts, Timeframe.MINUTE_1)


@postgres_only
def test_a_storm_of_pacing_violations_backs_off_and_retries(store: Database, tws: FakeTws) -> None:
    tws.script.extend([Fault(error=162)] * 4)
    clock = FakeClock()
    report = _service(store, tws, clock, retries=5).fetch(
        FetchRequest(("AAPL",), *WEEK, Timeframe.HOUR_1)
    )
    assert report.results[0].retries == 4
    assert report.results[0].bars_stored == 5 * 7 + 4
    # Doubling backoff (1+2+4+8 s), and each retry, identical to the request before, also
    # waits out IB's 15 s rule: all on the fake clock.
    assert report.pacing_wait_seconds == pytest.approx(45)
    assert clock.slept == pytest.approx(1 + 2 + 4 + 8 + 45)


@postgres_only
def test_endless_pacing_violations_end_in_a_clear_error(store: Database, tws: FakeTws) -> None:
    tws.script.extend([Fault(error=162)] * 10)
    with pytest.raises(ServiceUnavailableError, match=r"pacing \(error 162\) 3 times"):
        _service(store, tws, FakeClock(), retries=2).fetch(
            FetchRequest(("AAPL",), *WEEK, Timeframe.DAILY)
        )


@postgres_only
@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (Fault(error=200), NotFoundError, "no security definition for AAPL .error 200"),
        (Fault(error=354), ServiceUnavailableError, "no market data subscription .* 354"),
        (Fault(empty=True), IbNoDataError, "no DAILY bars of AAPL .* market was open"),
    ],
)
def test_errors_are_clear_and_nothing_claims_success(
    store: Database, tws: FakeTws, fault: Fault, error: type[Exception], message: str
) -> None:
    tws.script.append(fault)
    started = time.perf_counter()
    with pytest.raises(error, match=message):
        _service(store, tws, FakeClock()).fetch(FetchRequest(("AAPL",), *WEEK, Timeframe.DAILY))
    assert time.perf_counter() - started < 3


@postgres_only
def test_a_silent_request_times_out_and_is_retried(store: Database, tws: FakeTws) -> None:
    tws.script.append(Fault(silent=True))
    report = _service(store, tws, FakeClock(), request_timeout=0.3).fetch(
        FetchRequest(("EURUSD",), *WEEK, Timeframe.DAILY)
    )
    assert (report.results[0].retries, report.results[0].bars_stored) == (1, 7)


@postgres_only
def test_unknown_and_ambiguous_symbols(store: Database, tws: FakeTws) -> None:
    service = _service(store, tws, FakeClock())
    with pytest.raises(NotFoundError, match="no security definition for NOPE"):
        service.fetch(FetchRequest(("NOPE",), *WEEK, Timeframe.DAILY))
    with pytest.raises(UserInputError, match=r"DUAL.NYSE \(conId 1001\), DUAL.NASDAQ"):
        service.fetch(FetchRequest(("DUAL",), *WEEK, Timeframe.DAILY))
    report = service.fetch(FetchRequest(("DUAL.NASDAQ",), *WEEK, Timeframe.DAILY))
    assert report.results[0].instrument_id == "DUAL.NASDAQ"


@postgres_only
def test_fetched_bars_backtest(store: Database, tws: FakeTws) -> None:
    _service(store, tws, FakeClock()).fetch(
        FetchRequest(("AAPL",), date(2023, 1, 1), date(2023, 12, 31), Timeframe.DAILY)
    )
    outcome = BacktestService(store).run(
        BacktestConfig(
            strategy_type="sma",
            instruments=("AAPL",),
            start=date(2023, 1, 1),
            end=date(2023, 12, 31),
        )
    )
    assert outcome.run.status is RunStatus.COMPLETED
    assert outcome.result.bars_used == 250


def test_connect_and_probe(tws: FakeTws) -> None:
    report = connect(GatewayConfig("127.0.0.1", tws.port, 3, "paper", 2.0))
    assert report.server_version == 200
    assert [(a.account_id, a.kind) for a in report.accounts] == [("DU1234567", "paper")]
    assert report.seconds < 1
    assert datetime.strptime(report.connection_time, "%Y%m%d %H:%M:%S UTC").replace(
        tzinfo=UTC
    ) <= datetime.now(UTC)
    status = probe_gateway(Settings(ib_port=tws.port))
    assert status.reachable and status.server_version == 200 and status.error is None


@pytest.mark.parametrize(
    ("mode", "accounts", "message"),
    [
        ("silent", ("DU1",), "did not answer the API handshake"),
        ("api_disabled", ("DU1",), "closed the connection during the API handshake"),
        ("client_id_in_use", ("DU1",), "refused client id 3"),
        ("ok", ("U7654321",), "is a live session, but paper was asked for"),
    ],
)
def test_connect_failures_exit_3_quickly(
    mode: str, accounts: tuple[str, ...], message: str
) -> None:
    with FakeTws(mode=mode, accounts=accounts) as server:
        started = time.perf_counter()
        with pytest.raises(ServiceUnavailableError, match=message) as caught:
            connect(GatewayConfig("127.0.0.1", server.port, 3, "paper", 1.0))
        assert time.perf_counter() - started < 5
        assert caught.value.exit_code == 3
        assert "7654321" not in caught.value.message + (caught.value.hint or "")


def test_refused_port_and_probe_of_a_down_gateway() -> None:
    with refused_port() as port:
        with pytest.raises(ServiceUnavailableError, match="Nothing accepts connections"):
            connect(GatewayConfig("127.0.0.1", port, 3, "paper", 1.0))
        status = probe_gateway(Settings(ib_port=port, ib_connect_timeout=1.0))
    assert not status.reachable and "Nothing accepts" in (status.error or "")


@postgres_only
def test_all_hours_and_a_range_ending_in_the_future(store: Database, tws: FakeTws) -> None:
    service = _service(store, tws, FakeClock())
    day = (date(2023, 11, 21), date(2023, 11, 21))
    report = service.fetch(FetchRequest(("AAPL",), *day, Timeframe.HOUR_1, regular_hours=False))
    assert report.results[0].bars_stored == 16  # 04:00 to 20:00 New York
    assert tws.history_requests[-1].use_rth is False
    assert verify(store, "AAPL", Timeframe.HOUR_1).ok  # pre- and post-market: not off-hours

    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    report = service.fetch(
        FetchRequest(
            ("EURUSD",),
            yesterday - timedelta(days=3),
            yesterday + timedelta(days=9),
            Timeframe.DAILY,
        )
    )
    assert report.end == yesterday
    with pytest.raises(UserInputError, match="not in the past"):
        service.fetch(FetchRequest(("AAPL",), yesterday + timedelta(days=1),
                                   yesterday + timedelta(days=1), Timeframe.DAILY))  # fmt: skip
    with pytest.raises(UserInputError, match="before the start date"):
        service.fetch(FetchRequest(("AAPL",), date(2023, 2, 1), date(2023, 1, 1), Timeframe.DAILY))


def test_nautilus_adapter_talks_to_the_fake() -> None:
    """The fake speaks the protocol nautilus' own IB adapter expects, not just our client's."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.fakes.nautilus_probe"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["server_version"] == 200 and result["accounts"] == ["DU1234567"]
    assert result["seconds"] < 1
    days = [(d, int(datetime(2023, 11, d, tzinfo=UTC).timestamp())) for d in (24, 27, 28)]
    assert [bar[2:] for bar in result["bars"]] == [
        [f"{float(v):.2f}" for v in expected_bar("AAPL", stamp, 86_400)[:4]] for _, stamp in days
    ]
