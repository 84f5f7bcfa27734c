"""YAML backtest configuration files: shapes accepted, and errors that name file and key."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ntrader.core.errors import UserInputError
from ntrader.models.enums import Timeframe
from ntrader.models.execution import CommissionType, FillAt, SizingMode
from ntrader.utils.config_loader import load_backtest_file

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
            "portfolio: {sizing: percent, position_size_pct: 100, max_position_pct: 150}\n"
            "execution: {fill_at: close, stop_loss: 'atr:1.5', take_profit: 'r:3', "
            "trailing_stop: 'atr:3'}\n",
        )
    ).to_config()
    assert (config.sizing, config.position_size_pct, config.max_position_pct) == (
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
            "portfolio: {sizing: percent, position_size_pct: 50}\n",
            "portfolio: position size 50% of equity is above the position cap of 10%",
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
            "position_size_pct: 10}\nexecution: {take_profit: 'r:2'}\n",
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
