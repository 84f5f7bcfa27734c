"""Runs that must end FAILED (or be refused before they start), never as a wrong COMPLETED:
a strategy that raises or exits in a handler, an engine that stops early, an instrument
named twice, parameters outside what nautilus can hold. SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import func, select

from ntrader.core import strategy_registry
from ntrader.core.errors import UserInputError
from ntrader.db.database import Database
from ntrader.db.tables import backtest_results, portfolio_snapshots, trades
from ntrader.models.backtest import MONEY_MAX, BacktestConfig
from ntrader.models.enums import RunStatus
from ntrader.models.execution import CommissionModel
from ntrader.services.backtest_service import BacktestService, RunFailedError, RunSavedError
from tests.integration.faulty_strategy import FAULTY_STRATEGY, raise_line


@pytest.fixture(scope="module")
def faulty_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The faulty strategy's file, registered once for this process."""
    path = tmp_path_factory.mktemp("strategies") / "faulty.py"
    path.write_text(FAULTY_STRATEGY)
    strategy_registry.load_path(path)
    return path


def _config(**overrides: object) -> BacktestConfig:
    values: dict[str, object] = {
        "strategy_type": "sma",
        "instruments": ("AAPL",),
        "start": date(2020, 1, 1),
        "end": date(2020, 12, 31),
        # Same-close fills and percent sizing: the faulty strategy enters on its second bar,
        # before an ATR (which risk sizing needs) exists.
        "fill_at": "close",
        "sizing": "percent",
    }
    values.update(overrides)
    return BacktestConfig(**values)


def _count(database: Database, table: object) -> int:
    with database.transaction() as repos:
        return int(repos.connection.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize(
    ("fail_in", "how"),
    [
        ("on_bar", "raise"),
        ("on_start", "raise"),
        ("on_position_opened", "raise"),
        ("__init__", "raise"),
        ("on_bar", "exit"),
        ("on_start", "exit"),
    ],
)
def test_a_strategy_that_raises_or_exits_fails_the_run_with_its_own_error(
    database: Database, faulty_path: Path, fail_in: str, how: str
) -> None:
    config = _config(strategy_type="faulty", parameters={"fail_in": fail_in, "how": how})
    with pytest.raises(RunFailedError) as caught:
        BacktestService(database).run(config)
    line = raise_line("FAIL-EXIT" if how == "exit" else "FAIL-RAISE")
    cause = (
        "SystemExit (sys.exit(3) in a handler)"
        if how == "exit"
        else f"ValueError: faulty strategy gave up in {fail_in}"
    )
    location = f"{faulty_path}:{line} in _fail_if"
    error = caught.value
    assert error.message == (
        f"Backtest {error.run_id[:8]} failed and is saved as FAILED: the strategy raised "
        f"{cause} at {location}."
    )
    assert error.exit_code == 1
    assert error.hint == "Fix the strategy, then run the backtest again."
    run = BacktestService(database).get(error.run_id)
    assert run.status is RunStatus.FAILED
    assert run.error_message == f"Strategy error: {cause} at {location}"
    assert run.completed_at is not None
    assert run.metrics is None
    assert _count(database, trades) == 0
    assert _count(database, portfolio_snapshots) == 0


def test_a_strategy_that_does_not_fail_completes(database: Database, faulty_path: Path) -> None:
    """The same plug-in, told to fail nowhere: the failures above are its, not the harness'."""
    outcome = BacktestService(database).run(_config(strategy_type="faulty"))
    assert outcome.run.status is RunStatus.COMPLETED
    assert len(outcome.result.trades) == 1


def test_an_engine_that_stops_early_on_an_account_error_fails_the_run(
    database: Database, faulty_path: Path
) -> None:
    """nautilus catches an AccountError in its loop, logs it and stops: the old code stored
    the truncated run as COMPLETED with no trades."""
    config = _config(strategy_type="faulty", parameters={"all_in": True}, slippage_bps=50)
    with pytest.raises(RunFailedError) as caught:
        BacktestService(database).run(config)
    assert "nautilus stopped the run at 2020-01-03 21:00 UTC after 1 of 253 bars" in (
        caught.value.message
    )
    assert "the results would be incomplete" in caught.value.message
    run = BacktestService(database).get(caught.value.run_id)
    assert run.status is RunStatus.FAILED
    assert run.error_message is not None
    assert run.error_message.startswith("nautilus stopped the run")
    assert _count(database, trades) == 0


@pytest.mark.parametrize(
    "instruments",
    [("AAPL", "AAPL"), ("AAPL", "AAPL.NASDAQ"), ("aapl.nasdaq", "SPY", "AAPL")],
)
def test_an_instrument_named_twice_is_refused_before_a_run_exists(
    database: Database, instruments: tuple[str, ...]
) -> None:
    first, second = instruments[0].upper(), instruments[-1].upper()
    with pytest.raises(UserInputError) as caught:
        BacktestService(database).run(_config(instruments=instruments))
    assert caught.value.message == (
        f"The instruments name AAPL.NASDAQ twice ({first} and {second}); "
        "a backtest trades each instrument once."
    )
    assert caught.value.hint is not None and "Remove the duplicate" in caught.value.hint
    assert _count(database, backtest_results) == 0


def test_two_different_instruments_still_run(database: Database) -> None:
    outcome = BacktestService(database).run(_config(instruments=("AAPL", "SPY.NYSE")))
    assert {s.venue for s in outcome.result.reconciliation} == {"NASDAQ", "NYSE"}


def test_a_failure_reading_the_stored_run_back_names_the_saved_run(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ntrader.db.repositories import BacktestRepository

    def broken(*_args: object) -> None:
        raise ConnectionError("the store went away")

    service = BacktestService(database)
    monkeypatch.setattr(BacktestRepository, "get", broken)
    with pytest.raises(RunSavedError) as caught:
        service.run(_config())
    run_id = caught.value.run_id
    assert caught.value.message == (
        f"Backtest {run_id[:8]} completed and is saved, but reading it back failed: "
        "ConnectionError: the store went away."
    )
    monkeypatch.undo()
    assert service.get(run_id).status is RunStatus.COMPLETED


def test_a_result_file_failure_after_the_run_names_the_saved_run(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`backtest run --config` whose output section cannot be written once the run is stored
    (the CLI in process, so the disk can be made to fill up)."""
    from click.testing import CliRunner

    from ntrader.cli.context import AppContext
    from ntrader.cli.main import cli
    from ntrader.services.reports.service import ReportService

    def full_disk(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ReportService, "generate", full_disk)
    config = tmp_path / "run.yaml"
    config.write_text(
        "strategy: {type: SMA_CROSSOVER}\n"
        "instruments: [AAPL]\n"
        'period: {start: "2020-01-01", end: "2020-12-31"}\n'
        f"output: {{directory: {tmp_path / 'results'}}}\n"
    )
    result = CliRunner().invoke(
        cli,
        ["--database-url", database_url, "backtest", "run", "--config", str(config)],
        obj=AppContext(),
    )
    error = result.exception
    assert isinstance(error, RunSavedError)
    assert error.message == (
        f"Backtest {error.run_id[:8]} completed and is saved, but writing the result files "
        "failed: OSError: [Errno 28] No space left on device."
    )
    assert error.hint is not None and f"ntrader backtest show {error.run_id[:8]}" in error.hint
    assert BacktestService(database).get(error.run_id).status is RunStatus.COMPLETED


def test_money_max_is_nautilus_own() -> None:
    from nautilus_trader.model.objects import MONEY_MAX as NAUTILUS_MONEY_MAX

    assert MONEY_MAX == NAUTILUS_MONEY_MAX


_NON_FINITE = st.sampled_from([math.inf, -math.inf, math.nan])


@given(
    field=st.sampled_from(
        ["initial_capital", "position_pct", "max_position_pct", "slippage_bps", "risk_free_rate"]
    ),
    value=_NON_FINITE,
)
def test_non_finite_run_parameters_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValidationError) as caught:
        _config(**{field: value})
    assert caught.value.errors()[0]["loc"] == (field,)
    assert caught.value.errors()[0]["type"] == "finite_number"


@pytest.mark.parametrize("part", ["value", "minimum", "maximum_pct"])
def test_an_infinite_commission_is_refused(part: str) -> None:
    """``>= 0`` alone would let inf through; the commission model refuses it itself."""
    with pytest.raises(ValidationError) as caught:
        CommissionModel(type="per_share", **{part: math.inf})
    assert caught.value.errors()[0]["loc"] == (part,)
    assert caught.value.errors()[0]["type"] == "finite_number"


@given(capital=st.floats(min_value=MONEY_MAX, exclude_min=True, allow_infinity=False))
def test_capital_beyond_nautilus_money_is_refused(capital: float) -> None:
    with pytest.raises(ValidationError, match="less than or equal to 17014118346046"):
        _config(initial_capital=capital)


@given(capital=st.floats(min_value=1_000, max_value=MONEY_MAX))
def test_capital_within_range_is_accepted(capital: float) -> None:
    assert _config(initial_capital=capital).initial_capital == capital
