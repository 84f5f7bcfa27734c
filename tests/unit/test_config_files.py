"""YAML backtest configuration files: shapes accepted, and errors that name file and key."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ntrader.core import strategy_registry
from ntrader.core.errors import UserInputError
from ntrader.models.defaults import DEFAULT_END, DEFAULT_START
from ntrader.models.enums import Timeframe
from ntrader.models.execution import CommissionType, FillAt, SizingMode
from ntrader.utils.config_loader import (
    ConfigSources,
    check_output_directory,
    explain_parameter_error,
    load_backtest_file,
    validate_config,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "configs" / "examples"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "name", ["sma_config.yaml", "mean_reversion_config.yaml", "momentum_config.yaml"]
)
def test_examples_parse(name: str) -> None:
    config = load_backtest_file(EXAMPLES / name).to_config()
    assert config.instruments
    assert config.start < config.end


def test_the_issue_example_maps_onto_the_run_configuration() -> None:
    config = load_backtest_file(EXAMPLES / "sma_config.yaml").to_config()
    assert config.strategy_type == "SMA_CROSSOVER"
    assert config.strategy_name == "my_sma"
    assert config.parameters == {"fast_period": 12, "slow_period": 26}
    assert config.instruments == ("AAPL.NASDAQ", "SPY.NYSE")
    assert (config.start, config.end) == (date(2020, 1, 1), date(2020, 12, 31))
    assert config.timeframe is Timeframe.DAILY
    assert config.commission.type is CommissionType.FIXED
    assert config.benchmark == "SPY"


def test_minimal_file_takes_defaults(tmp_path: Path) -> None:
    config = load_backtest_file(
        _write(tmp_path, "strategy: {type: sma}\ninstruments: AAPL,SPY\ntimeframe: 1m\n")
    ).to_config()
    assert config.instruments == ("AAPL", "SPY")
    assert config.timeframe is Timeframe.MINUTE_1
    assert config.initial_capital == 100_000


def test_execution_and_sizing_keys(tmp_path: Path) -> None:
    config = load_backtest_file(
        _write(
            tmp_path,
            "strategy: {type: sma}\ninstruments: [AAPL]\n"
            "portfolio: {sizing: percent, position_pct: 100, max_position_pct: 150}\n"
            "execution: {fill_at: close, stop_loss: 'atr:1.5', take_profit: 'r:3', "
            "trailing_stop: 'atr:3'}\n",
        )
    ).to_config()
    assert (config.sizing, config.position_pct, config.max_position_pct) == (
        SizingMode.PERCENT,
        100.0,
        150.0,
    )
    assert config.fill_at is FillAt.CLOSE
    assert (config.stop_loss_atr, config.take_profit_r, config.trailing_stop_atr) == (1.5, 3, 3)
    defaults = load_backtest_file(
        _write(tmp_path, "strategy: {type: sma}\ninstruments: [AAPL]\n")
    ).to_config()
    assert defaults.fill_at is FillAt.NEXT_OPEN
    assert (defaults.sizing, defaults.max_position_pct) == (SizingMode.RISK, 10.0)
    assert defaults.initial_stop_atr == 2.0  # risk sizing always has its stop


@pytest.mark.parametrize(
    ("portfolio", "field", "value"),
    [
        ("{position_size_pct: 2.5}", "risk_per_trade_pct", 2.5),
        ("{sizing: percent, position_size_pct: 5}", "position_pct", 5.0),
        ("{sizing: fixed, position_size_pct: 30}", "position_units", 30),
        ("{risk_per_trade_pct: 2.5}", "risk_per_trade_pct", 2.5),
    ],
)
def test_the_old_size_key_is_an_alias_of_the_modes_size(
    tmp_path: Path, portfolio: str, field: str, value: float
) -> None:
    """``portfolio.position_size_pct`` (deprecated) sets the sizing mode's own size field."""
    config = load_backtest_file(
        _write(tmp_path, f"strategy: {{type: sma}}\ninstruments: [AAPL]\nportfolio: {portfolio}\n")
    ).to_config()
    assert getattr(config, field) == value
    assert config.position_size == value


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "strategy: {type: sma}\ninstruments: [AAPL]\n"
            "period: {start: 2021-01-01, end: 2020-01-01}\n",
            "must be after the start date",
        ),
        (
            "strategy: {type: sma}\ninstruments: [AAPL]\nportfolio: {initial_capital: 10}\n",
            "portfolio.initial_capital: Input should be greater than or equal to 1000",
        ),
        (
            "strategy: {type: sma}\ninstruments: [AAPL]\nexecution: {slipage_bps: 3}\n",
            "execution.slipage_bps: unknown key",
        ),
        (
            "strategy: {type: sma}\ninstruments: []\n",
            "instruments: List should have at least 1 item",
        ),
        (
            "strategy: {}\ninstruments: [AAPL]\n",
            "give a strategy type, or the name of a stored strategy",
        ),
        ("instruments: [AAPL]\n", "strategy: Field required"),
        ("strategy: {type: sma}\ninstruments: [AAPL]\ndata: {source: ftp}\n", "data.source"),
        (
            "strategy: {type: sma}\ninstruments: [AAPL]\n"
            "portfolio: {sizing: percent, position_pct: 50}\n",
            "portfolio: position_pct 50% of equity is above the position cap of 10%",
        ),
        (
            "strategy: {type: sma}\ninstruments: [AAPL]\nportfolio: {risk_per_trade_pct: 20}\n",
            "portfolio.risk_per_trade_pct: Input should be less than or equal to 10",
        ),
        (
            "strategy: {type: sma}\ninstruments: [AAPL]\n"
            "portfolio: {sizing: percent, risk_per_trade_pct: 2}\n",
            "risk_per_trade_pct sizes risk sizing, but the sizing is percent",
        ),
        (
            "strategy: {type: sma}\ninstruments: [AAPL]\n"
            "portfolio: {position_size_pct: 2, risk_per_trade_pct: 2}\n",
            "position_size_pct is the old name of risk_per_trade_pct: give only",
        ),
        (
            "strategy: {type: sma}\ninstruments: [AAPL]\nportfolio: {initial_capital: .inf}\n",
            "portfolio.initial_capital: Input should be a finite number",
        ),
        (
            "strategy: {type: sma}\ninstruments: [AAPL]\nexecution: {stop_loss: 'atr:x'}\n",
            "execution.stop_loss: 'atr:x' must read atr:N with N a number",
        ),
        (
            "strategy: {type: sma}\ninstruments: [AAPL]\nexecution: {fill_at: open}\n",
            "execution.fill_at: Input should be 'next-open' or 'close'",
        ),
        (
            "strategy: {type: sma}\ninstruments: [AAPL]\nportfolio: {sizing: fixed, "
            "position_units: 10}\nexecution: {take_profit: 'r:2'}\n",
            "a take-profit r:N is a multiple of the initial risk, so it needs a stop",
        ),
        ("strategy: {type: sma\n", "not valid YAML at line"),
        ("- just\n- a list\n", "expected a mapping"),
        ("strategy: !!python/object/apply:os.system ['echo pwned']\n", "not valid YAML"),
    ],
)
def test_errors_name_the_file_the_key_and_the_problem(
    tmp_path: Path, text: str, words: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(UserInputError) as caught:
        load_backtest_file(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert words in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="file not found"):
        load_backtest_file(tmp_path / "nope.yaml")


def test_key_paths_are_the_keys_the_file_sets(tmp_path: Path) -> None:
    file = load_backtest_file(
        _write(
            tmp_path,
            "strategy: {type: sma, parameters: {fast_period: 5}}\ninstruments: [AAPL]\n"
            "period: {end: 2021-06-30}\nportfolio: {initial_capital: 5000}\n",
        )
    )
    assert file.key_paths() == {
        "strategy_type": "strategy.type",
        "parameters.fast_period": "strategy.parameters.fast_period",
        "instruments": "instruments",
        "end": "period.end",
        "initial_capital": "portfolio.initial_capital",
    }


def test_the_readme_example_says_where_each_date_came_from() -> None:
    path = Path("configs/examples/sma_config.yaml")
    file = load_backtest_file(EXAMPLES / "sma_config.yaml")
    sources = ConfigSources(file=path, file_keys=file.key_paths(), flags={"start": "--start"})
    values = {**file.to_config().model_dump(), "start": date(2021, 1, 1)}
    with pytest.raises(UserInputError) as caught:
        validate_config(values, sources)
    assert caught.value.message == (
        "The end date 2020-12-31 (from configs/examples/sma_config.yaml, period.end) must be "
        "after the start date 2021-01-01 (from --start)."
    )
    assert "--end" in (caught.value.hint or "")


def test_a_defaulted_date_is_called_the_default() -> None:
    sources = ConfigSources(flags={"start": "--start", "instruments": "--instruments"})
    with pytest.raises(UserInputError, match=r"end date 2024-12-31 \(the default\)"):
        validate_config(
            {"strategy_type": "sma", "instruments": "AAPL", "start": date(2025, 3, 1)}, sources
        )


def test_a_bad_flag_value_is_named_by_its_flag(tmp_path: Path) -> None:
    sources = ConfigSources(file=tmp_path / "f.yaml", flags={"initial_capital": "--capital"})
    with pytest.raises(UserInputError, match="--capital: Input should be greater than or equal"):
        validate_config(
            {"strategy_type": "sma", "instruments": "AAPL", "initial_capital": 5}, sources
        )


def _parameter_error(parameters: dict[str, object]) -> UserInputError:
    with pytest.raises(UserInputError) as caught:
        strategy_registry.resolve("sma").validate(parameters)
    return caught.value


@pytest.mark.parametrize(
    ("parameters", "flags", "expected"),
    [
        (
            {"fast_period": 0},
            {},
            "Invalid parameters for sma_crossover: cfg.yaml: strategy.parameters.fast_period: "
            "Input should be greater than or equal to 1.",
        ),
        (
            {"fast_period": 5, "speed": 2},
            {},
            "Invalid parameters for sma_crossover: cfg.yaml: strategy.parameters.speed: "
            "unknown parameter.",
        ),
        (
            {"fast_period": 50, "slow_period": 20},
            {"parameters.slow_period": "--slow-period"},
            "Invalid parameters for sma_crossover: fast_period (50) must be less than "
            "slow_period (20) (fast_period from cfg.yaml, strategy.parameters.fast_period; "
            "slow_period from --slow-period).",
        ),
    ],
)
def test_a_bad_parameter_names_the_file_key_or_the_flag(
    parameters: dict[str, object], flags: dict[str, str], expected: str
) -> None:
    file_keys = {f"parameters.{name}": f"strategy.parameters.{name}" for name in parameters}
    for key in flags:
        file_keys.pop(key, None)
    sources = ConfigSources(file=Path("cfg.yaml"), file_keys=file_keys, flags=flags)
    explained = explain_parameter_error(_parameter_error(parameters), sources)
    assert explained.message == expected
    assert explained.hint and "fast_period" in explained.hint


def test_other_errors_are_passed_through_unchanged() -> None:
    error = UserInputError("Unknown strategy 'turtle'.")
    assert explain_parameter_error(error, ConfigSources()) is error


def test_a_writable_output_directory_passes_and_nothing_is_created(tmp_path: Path) -> None:
    check_output_directory(tmp_path / "results" / "deep", tmp_path / "run.yaml")
    check_output_directory(tmp_path, tmp_path / "run.yaml")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("relative", "words"),
    [
        ("taken", "output.directory {target} is not a directory"),
        (
            "taken/results",
            "output.directory {target} cannot be created: {taken} is not a directory",
        ),
    ],
)
def test_an_output_directory_blocked_by_a_file_is_refused(
    tmp_path: Path, relative: str, words: str
) -> None:
    (tmp_path / "taken").write_text("not a directory")
    target = tmp_path / relative
    with pytest.raises(UserInputError) as caught:
        check_output_directory(target, Path("run.yaml"))
    assert caught.value.message.startswith("run.yaml: ")
    assert words.format(target=target, taken=tmp_path / "taken") in caught.value.message


def test_an_output_directory_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    # /sys refuses new entries even to root, so this holds wherever the tests run.
    with pytest.raises(UserInputError, match=r"run.yaml: output.directory /sys/ntrader/out is not"):
        check_output_directory(Path("/sys/ntrader/out"), Path("run.yaml"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_a_read_only_output_directory_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(UserInputError, match="is not writable"):
        check_output_directory(locked / "results", Path("run.yaml"))


def test_output_directory_expands_the_home_directory(tmp_path: Path) -> None:
    file = load_backtest_file(
        _write(tmp_path, "strategy: {type: sma}\ninstruments: [AAPL]\noutput: {directory: ~/r}\n")
    )
    assert file.output.directory == Path.home() / "r"


def test_a_dangling_link_as_output_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    with pytest.raises(UserInputError, match="link is not a directory"):
        check_output_directory(tmp_path / "link", Path("run.yaml"))


_ORIGINS = {
    "flag": lambda name: ({name: f"--{name}"}, {}, f"from --{name}"),
    "file": lambda name: ({}, {name: f"period.{name}"}, f"from cfg.yaml, period.{name}"),
}


@given(
    start=st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)),
    end=st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)),
    start_from=st.sampled_from(["flag", "file", "default"]),
    end_from=st.sampled_from(["flag", "file", "default"]),
)
def test_a_period_error_names_where_each_date_came_from(
    start: date, end: date, start_from: str, end_from: str
) -> None:
    values: dict[str, object] = {"strategy_type": "sma", "instruments": "AAPL"}
    flags: dict[str, str] = {}
    file_keys: dict[str, str] = {}
    origins: dict[str, tuple[date, str]] = {}
    for name, value, source, default in (
        ("start", start, start_from, DEFAULT_START),
        ("end", end, end_from, DEFAULT_END),
    ):
        if source == "default":
            origins[name] = (default, "the default")
            continue
        values[name] = value
        flag, key, origin = _ORIGINS[source](name)
        flags.update(flag)
        file_keys.update(key)
        origins[name] = (value, origin)
    sources = ConfigSources(file=Path("cfg.yaml"), file_keys=file_keys, flags=flags)
    (first, first_origin), (last, last_origin) = origins["start"], origins["end"]
    if last > first:
        config = validate_config(values, sources)
        assert (config.start, config.end) == (first, last)
        return
    with pytest.raises(UserInputError) as caught:
        validate_config(values, sources)
    assert caught.value.message == (
        f"The end date {last} ({last_origin}) must be after the start date "
        f"{first} ({first_origin})."
    )
