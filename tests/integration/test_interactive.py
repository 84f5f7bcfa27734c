"""``ntrader interactive`` driven through prompt_toolkit's pipe input: the session's commands,
real backtests through the CLI's code, errors that keep the session, Tab, Ctrl-C and Ctrl-D."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from sqlalchemy import create_engine, text

from ntrader.cli.completion import Catalog, SessionCompleter
from ntrader.cli.context import AppContext
from ntrader.cli.interactive import run_session
from ntrader.cli.repl_session import Session
from ntrader.db.database import Database
from ntrader.services.data_service import DataService, ImportRequest


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> str:
    """A SQLite store with the AAPL and SPY sample bars, shared by this module's tests."""
    url = f"sqlite:///{tmp_path_factory.mktemp('interactive') / 'ntrader.db'}"
    database = Database(url)
    for name, symbol in (("AAPL_daily.csv", "AAPL"), ("SPY_daily.csv", "SPY")):
        DataService(database).import_csv(ImportRequest(file=sample_dir / name, instrument=symbol))
    database.dispose()
    return url


@pytest.fixture(scope="module")
def sample_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "data"


def _session(url: str, typed: str, history: Path) -> Session:
    """Run a session on ``typed`` (keystrokes; end of input leaves it)."""
    app = AppContext(database_url=url)
    try:
        with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
            pipe.send_text(typed)
            pipe.close()
            return run_session(
                app, prompt_input=pipe, prompt_output=DummyOutput(), history_path=history
            )
    finally:
        app.close()


def _runs(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, status FROM backtest_results ORDER BY created_at")
        ).all()
    engine.dispose()
    return [(row[0], row[1]) for row in rows]


def test_a_session_runs_a_backtest_and_shows_and_saves_its_results(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "run.json"
    history = tmp_path / "state" / "history"
    typed = "\n".join(
        [
            "load strategy sma",
            "set fast_period 5",
            "set instruments aapl",
            "set period 2020-01-01 2020-12-31",
            "set capital 50000",
            "run backtest",
            "show trades",
            "show results",
            f"save report json {report}",
            "backtest list --format ids",
            "exit",
            "help",  # never read: the session ended
        ]
    )
    session = _session(store, typed + "\n", history)
    out, err = capsys.readouterr()
    assert session.last_run_id is not None
    assert (session.last_run_id, "COMPLETED") in _runs(store)
    saved = json.loads(report.read_text())
    assert saved["run"]["id"] == session.last_run_id
    assert saved["configuration"]["parameters"]["fast_period"] == 5
    assert saved["configuration"]["initial_capital"] == 50000
    assert "Trades (" in out and "AAPL.NASDAQ" in out
    assert "Total return" in out
    assert session.last_run_id in out.splitlines()  # `backtest list --format ids`
    assert "Session commands:" not in out
    assert "Error" not in err
    assert history.read_text().count("\n+run backtest") == 1


def test_errors_are_printed_and_the_session_goes_on(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typed = "\n".join(
        [
            "run backtest",
            "load strategy nonexistent",
            "load strategy sma",
            "set fast_period 5,6",
            "set instruments NOPE",
            "run backtest",
            "show trades",
            "backtest show zzzz",
            "data import --nonsense",
            "interactive",
            "set period 2020-01-01",
            "help",
        ]
    )
    session = _session(store, typed + "\n", tmp_path / "history")  # ends at end of input
    _, err = capsys.readouterr()
    for message in (
        "Error: No strategy loaded.",
        "Error: Unknown strategy 'nonexistent': neither a strategy type nor a stored",
        "Error: A parameter value cannot contain a comma",
        "Error: No data is stored for instrument 'NOPE'.",
        "Error: No backtest has run in this session yet.",
        "Error: No backtest matches 'zzzz'.",
        "No such option '--nonsense'.",
        "Error: This is the interactive session already.",
        "Error: Usage: set period START END.",
    ):
        assert message in err, message
    assert session.strategy == "sma"
    assert session.last_run_id is None


def test_ctrl_c_and_ctrl_d_at_the_prompt(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Ctrl-C drops the half-typed line; Ctrl-D leaves. (Tab: tests/e2e/test_interactive_pty.py)
    typed = "set instruments SPY\nload strat\x03load strategy momentum\n\x04show settings\n"
    session = _session(store, typed, tmp_path / "history")
    assert session.instruments == ("SPY",)
    assert session.strategy == "momentum"
    assert "settings" not in capsys.readouterr().out


def _completions(completer: SessionCompleter, line: str) -> list[str]:
    found = completer.get_completions(Document(line), CompleteEvent(completion_requested=True))
    return [completion.text for completion in found]


def test_completion_offers_commands_strategies_parameters_and_stored_instruments(
    store: str,
) -> None:
    app = AppContext(database_url=store)
    session = Session(strategy="sma_crossover")
    completer = SessionCompleter(Catalog(app), lambda: session)
    try:
        assert set(_completions(completer, "")) >= {"load", "set", "run", "backtest", "data"}
        assert _completions(completer, "load strategy mom") == ["momentum"]
        assert _completions(completer, "set f") == ["fill-at", "fast_period"]
        assert _completions(completer, "set instruments AAPL.NASDAQ,S") == ["SPY.NYSE"]
        assert _completions(completer, "set sizing ") == ["risk", "percent", "fixed"]
        assert _completions(completer, "save report ") == ["html", "csv", "json"]
        assert _completions(completer, "backtest re") == ["rerun", "resume"]
        assert "--format" in _completions(completer, "backtest list --f")
        assert _completions(completer, "nosuchcommand ") == []
    finally:
        app.close()
