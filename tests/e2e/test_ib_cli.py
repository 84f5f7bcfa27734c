"""`ntrader data connect / fetch / verify` as a user runs them, against the fake TWS."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ntrader.db.database import Database
from ntrader.models.enums import Timeframe
from tests.e2e.conftest import NTRADER, RunCli
from tests.fakes.tws import FakeTws, Fault

ACCOUNT = "DU7654321"
FETCH = ("data", "fetch", "--instruments", "AAPL", "--start", "2023-11-13", "--end")


@pytest.fixture
def tws() -> Iterator[FakeTws]:
    with FakeTws(accounts=(ACCOUNT,)) as server:
        yield server


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ib.db'}"


def _env(tws: FakeTws, **extra: str) -> dict[str, str]:
    return {"NTRADER_IB_PORT": str(tws.port), "NTRADER_IB_CONNECT_TIMEOUT": "2", **extra}


def test_connect_shows_the_session(run_cli: RunCli, tws: FakeTws) -> None:
    payload = json.loads(run_cli("data", "connect", "--json", env_extra=_env(tws)).stdout)
    assert payload["server_version"] == 200
    assert payload["accounts"] == [{"account_id": ACCOUNT, "kind": "paper"}]
    assert payload["port"] == tws.port and payload["seconds"] < 3


def test_fetch_then_verify(run_cli: RunCli, tws: FakeTws, url: str) -> None:
    tws.script.append(Fault(drop_after=3))
    args = (*FETCH, "2023-11-17", "--timeframe", "1HOUR")
    env = _env(tws, NTRADER_IB_PACING="off", NTRADER_IB_BACKOFF_SECONDS="0")
    first = run_cli(*args, "--json", "--debug", database_url=url, env_extra=env)
    (result,) = json.loads(first.stdout)["instruments"]
    assert (result["instrument_id"], result["bars_stored"], result["reconnects"]) == (
        "AAPL.NASDAQ",
        35,
        1,
    )
    assert "retrying" in first.stderr  # the log says what happened...
    assert ACCOUNT not in first.stdout + first.stderr  # ...and never names the account

    # A day more in the range than stored: the missing session is a gap, and exit 1.
    gap = run_cli(
        "data", "verify", "--instrument", "AAPL", "--timeframe", "1HOUR", "--end",
        "2023-11-20", "--json", database_url=url, check_exit=1,
    )  # fmt: skip
    assert json.loads(gap.stdout)["problems"] == [
        {
            "check": "gaps (missing bars)",
            "count": 7,
            "examples": ["2023-11-20 14:30Z..2023-11-20 20:30Z"],
        }
    ]


def test_ctrl_c_mid_fetch_keeps_whole_chunks_and_rerun_resumes(
    run_cli: RunCli, cli_env: dict[str, str], tws: FakeTws, url: str, tmp_path: Path
) -> None:
    tws.script.extend([Fault(delay=0.4)] * 20)
    process = _start_fetch(cli_env, tws, url, tmp_path, "2023-11-24")
    deadline = time.monotonic() + 60
    while len(tws.history_requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "no chunk is stored in part" in stderr
    per_day = _bars_per_day(url)
    assert 2 <= len(per_day) <= 5
    assert set(per_day.values()) == {390}  # whole sessions only

    tws.script.clear()
    resumed = run_cli(
        *FETCH, "2023-11-24", "--timeframe", "1MIN", database_url=url,
        env_extra=_env(tws, NTRADER_IB_PACING="off"),
    )  # fmt: skip
    assert f"Fetched only what was missing: {len(per_day)} chunks were stored already" in (
        resumed.stderr
    )
    assert sorted(_bars_per_day(url).values()) == [210] + [390] * 8


def test_ctrl_c_stops_a_fetch_waiting_on_a_silent_gateway_at_once(
    cli_env: dict[str, str], tws: FakeTws, url: str, tmp_path: Path
) -> None:
    """The wait for IB's answer is the main thread's; Ctrl-C must not be left to the
    session thread, or the fetch would stop only when the 300 s request timed out."""
    tws.script.append(Fault(silent=True))
    process = _start_fetch(
        cli_env, tws, url, tmp_path, "2023-11-17", NTRADER_IB_REQUEST_TIMEOUT="300"
    )
    deadline = time.monotonic() + 60
    while not tws.history_requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tws.history_requests, "the fetch never asked for bars"
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert time.monotonic() - sent < 30
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert _bars_per_day(url) == Counter()


def _start_fetch(
    cli_env: dict[str, str], tws: FakeTws, url: str, cwd: Path, end: str, **extra: str
) -> subprocess.Popen[str]:
    """`data fetch` of 1-minute bars up to ``end``, started in the background."""
    env = {**cli_env, **_env(tws, NTRADER_IB_PACING="off", **extra), "NTRADER_DATABASE_URL": url}
    return subprocess.Popen(
        [str(NTRADER), *FETCH, end, "--timeframe", "1MIN"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _bars_per_day(url: str) -> Counter[str]:
    db = Database(url)
    try:
        with db.transaction() as repos:
            found = repos.instruments.by_symbol("AAPL")
            if not found:
                return Counter()
            data = repos.bars.load(found[0], Timeframe.MINUTE_1, 0, 2**62)
    finally:
        db.dispose()
    days = np.asarray(data.ts).astype("datetime64[ns]").astype("datetime64[D]")
    return Counter(str(d) for d in days)
