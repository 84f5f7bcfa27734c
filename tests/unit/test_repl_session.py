"""The interactive session's model: how lines parse and what command line a run becomes."""

from __future__ import annotations

import contextlib
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ntrader.cli.repl_session import (
    Exit,
    Help,
    LoadStrategy,
    NtraderCommand,
    RunBacktest,
    SaveReport,
    Session,
    SetInstruments,
    SetPeriod,
    SetValue,
    Show,
    parse_line,
)
from ntrader.core.errors import UserInputError

SMA = ("fast_period", "slow_period", "allow_short")


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("load strategy sma_crossover", LoadStrategy("sma_crossover")),
        ("LOAD Strategy fast_sma", LoadStrategy("fast_sma")),
        ("set instruments aapl,spy", SetInstruments(("AAPL", "SPY"))),
        ("set instruments AAPL, SPY aapl", SetInstruments(("AAPL", "SPY"))),
        ("set period 2020-01-01 2020-12-31", SetPeriod(date(2020, 1, 1), date(2020, 12, 31))),
        ("set fast_period 10", SetValue("fast_period", "10")),
        ("set commission 'per_share:0.005'", SetValue("commission", "per_share:0.005")),
        ("run backtest", RunBacktest()),
        ("show trades", Show("trades")),
        ("show RESULTS", Show("results")),
        ("save report html", SaveReport("html", None)),
        ("save report csv 'out dir/run'", SaveReport("csv", "out dir/run")),
        ("help", Help()),
        ("exit", Exit()),
        ("quit", Exit()),
        ("data list --json", NtraderCommand(("data", "list", "--json"))),
        ("ntrader backtest list", NtraderCommand(("backtest", "list"))),
        ("   ", None),
    ],
)
def test_lines_parse_to_commands(line: str, command: object) -> None:
    assert parse_line(line) == command


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("load sma", "Usage: load strategy NAME."),
        ("run", "Usage: run backtest."),
        ("show everything", "Usage: show results|trades|settings."),
        ("save report pdf", "Usage: save report html|csv|json [PATH]."),
        ("set period 2020-01-01", "Usage: set period START END."),
        ("set period 2020-12-31 2020-01-01", "The end date 2020-01-01 must be after"),
        ("set period 2020-02-30 2020-12-31", "'2020-02-30' is not a date like 2020-01-31."),
        ("set instruments ,", "Usage: set instruments A,B."),
        ("set capital", "Usage: set KEY VALUE"),
        ("exit now", "Usage: exit."),
        ("set fast_period '10", "Cannot read that line: No closing quotation."),
    ],
)
def test_malformed_lines_are_refused_with_the_usage(line: str, message: str) -> None:
    with pytest.raises(UserInputError) as caught:
        parse_line(line)
    assert caught.value.message.startswith(message)


@given(st.text(max_size=60))
def test_any_text_parses_or_is_refused_cleanly(line: str) -> None:
    with contextlib.suppress(UserInputError):
        parse_line(line)


def test_a_session_becomes_the_backtest_run_command_line() -> None:
    session = (
        Session()
        .load_strategy("sma")
        .set_value("fast-period", "5", SMA)
        .set_value("capital", "50000", SMA)
        .set_value("FILL_AT", "close", SMA)
    )
    session = Session(
        strategy=session.strategy,
        instruments=("AAPL", "SPY"),
        period=(date(2020, 1, 1), date(2020, 6, 30)),
        options=session.options,
        parameters=session.parameters,
    )
    assert session.run_argv() == (
        "backtest", "run", "--strategy", "sma", "--instruments", "AAPL,SPY",
        "--start", "2020-01-01", "--end", "2020-06-30",
        "--capital", "50000", "--fill-at", "close", "--param", "fast_period=5",
    )  # fmt: skip


def test_loading_another_strategy_drops_the_old_parameters() -> None:
    session = Session().load_strategy("sma").set_value("fast_period", "5", SMA)
    assert session.load_strategy("momentum").parameters == {}


@pytest.mark.parametrize(
    ("key", "value", "names", "message"),
    [
        ("bogus", "1", SMA, "Unknown setting 'bogus'."),
        ("fast_period", "1", (), "Unknown setting 'fast_period'."),
        ("fast_period", "5,6", SMA, "A parameter value cannot contain a comma"),
    ],
)
def test_unknown_settings_and_bad_parameter_values_are_refused(
    key: str, value: str, names: tuple[str, ...], message: str
) -> None:
    with pytest.raises(UserInputError) as caught:
        Session().set_value(key, value, names)
    assert caught.value.message.startswith(message)


def test_a_run_needs_a_strategy_and_instruments_and_show_needs_a_run() -> None:
    with pytest.raises(UserInputError, match="No strategy loaded"):
        Session(instruments=("AAPL",)).run_argv()
    with pytest.raises(UserInputError, match="No instruments set"):
        Session(strategy="sma").run_argv()
    with pytest.raises(UserInputError, match="No backtest has run"):
        Session().require_run()
