"""``ntrader interactive`` in a real pseudo-terminal: Tab completes, Ctrl-C stops the running
backtest (stored INTERRUPTED) and the session goes on, Ctrl-D leaves, the history is kept."""

from __future__ import annotations

import time
from pathlib import Path

import pexpect
import pytest

from ntrader.db.database import Database
from ntrader.models.enums import Timeframe
from ntrader.services.data_service import DataService, ImportRequest
from tests.e2e.conftest import NTRADER
from tests.e2e.signals import minute_csv, run_statuses


def _type_with_tab(child: pexpect.spawn, before: str, after: str) -> None:
    """Type ``before``, Tab, then ``after`` once the completion had time to land: a completion
    arrives after the keys typed with it, so a too-fast typist would overtake it."""
    child.send(before + "\t")
    time.sleep(0.5)
    child.send(after)


@pytest.mark.slow
def test_a_pty_session_completes_survives_ctrl_c_and_leaves_on_ctrl_d(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'ntrader.db'}"
    csv = tmp_path / "minutes.csv"
    minute_csv(csv)
    database = Database(url)  # in process: a CLI import would cost one more interpreter
    DataService(database).import_csv(
        ImportRequest(file=csv, instrument="TEST", timeframe=Timeframe.MINUTE_1)
    )
    database.dispose()
    env = {
        **cli_env,
        "NTRADER_DATABASE_URL": url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "TERM": "xterm",
        "PROMPT_TOOLKIT_NO_CPR": "1",  # pexpect answers no cursor position requests
    }
    child = pexpect.spawn(
        str(NTRADER), ["interactive"], env=env, cwd=str(tmp_path), encoding="utf-8", timeout=30
    )
    try:
        child.expect_exact("ntrader>")
        # Tab completes "strat" (the line only works if it did) and "TE" (a stored instrument).
        _type_with_tab(child, "load strat", " sma\r")
        child.expect_exact("Strategy sma loaded")
        _type_with_tab(child, "set instruments TE", "\r")
        child.expect_exact("Instruments: TEST.NASDAQ.")
        for line in (
            "set timeframe 1MIN",
            "set benchmark TEST",
            "set period 2023-01-01 2023-12-31",
        ):
            child.sendline(line)
        child.sendline("run backtest")
        deadline = time.monotonic() + 60
        while not (statuses := run_statuses(url)) or statuses[-1][1] != "RUNNING":
            assert time.monotonic() < deadline, "the run never reached RUNNING"
            time.sleep(0.05)
        child.sendintr()
        child.expect_exact("is stored as INTERRUPTED")
        child.expect_exact("ntrader>")
        child.sendline("show settings")
        child.expect_exact("TEST.NASDAQ")
        child.expect_exact("ntrader>")  # Ctrl-D while a command runs would be lost
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    assert [status for _, status, _ in run_statuses(url)] == ["INTERRUPTED"]
    history = (tmp_path / "state" / "ntrader" / "interactive_history").read_text()
    assert "+run backtest" in history
