"""The ``backtest run`` options and the YAML keys are derived from BacktestConfig's fields:
each limit, default and description is read from there, and both refuse what it refuses."""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic.fields import FieldInfo

from ntrader.cli.backtest import run as backtest_run
from ntrader.cli.params import risk_free_rate_option
from ntrader.cli.run_options import (
    FIELD_OPTIONS,
    config_from_options,
    field_bounds,
    flag_of,
    run_options,
)
from ntrader.core.errors import UserInputError
from ntrader.models.backtest import BacktestConfig, RiskFreeRate
from ntrader.models.config_file import BacktestFile
from ntrader.utils.config_loader import load_backtest_file

# Where each option's field sits in a YAML file (the section models are derived too).
_FILE_KEYS = {
    "start": ("period", "start"),
    "end": ("period", "end"),
    "timeframe": ("timeframe",),
    "initial_capital": ("portfolio", "initial_capital"),
    "sizing": ("portfolio", "sizing"),
    "risk_per_trade_pct": ("portfolio", "risk_per_trade_pct"),
    "position_pct": ("portfolio", "position_pct"),
    "position_units": ("portfolio", "position_units"),
    "max_position_pct": ("portfolio", "max_position_pct"),
    "allocation": ("portfolio", "allocation"),
    "fill_at": ("execution", "fill_at"),
    "stop_loss_atr": ("execution", "stop_loss"),
    "take_profit_r": ("execution", "take_profit"),
    "trailing_stop_atr": ("execution", "trailing_stop"),
    "slippage_bps": ("execution", "slippage_bps"),
    "benchmark": ("benchmark",),
    "risk_free_rate": ("risk_free_rate",),
}
# What else a value needs to be valid: its sizing mode, and a cap for the percent size.
_CONTEXT: dict[str, dict[str, Any]] = {
    "position_pct": {"sizing": "percent", "max_position_pct": 300},
    "position_units": {"sizing": "fixed"},
}
_BOUNDED = [
    field for field in FIELD_OPTIONS.values() if field_bounds(BacktestConfig.model_fields[field])
]


@click.command()
@run_options
@click.pass_context
def _probe(ctx: click.Context, **options: Any) -> None:
    config, _, _ = config_from_options(ctx, options)
    ctx.obj["config"] = config


def _config_from_flags(*args: str) -> BacktestConfig:
    """The configuration ``backtest run`` builds from ``args`` (raises its refusal)."""
    found: dict[str, Any] = {}
    result = CliRunner().invoke(
        _probe, ["--instruments", "AAPL", *args], obj=found, standalone_mode=False
    )
    if result.exception is not None:
        raise result.exception
    return found["config"]


def _config_from_file(tmp_path: Path, values: dict[str, Any]) -> BacktestConfig:
    document: dict[str, Any] = {"strategy": {"type": "sma"}, "instruments": ["AAPL"]}
    for field, value in values.items():
        *sections, key = _FILE_KEYS[field]
        target = document
        for section in sections:
            target = target.setdefault(section, {})
        target[key] = value
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_backtest_file(path).to_config()


def _context_flags(context: dict[str, Any]) -> list[str]:
    return [part for name, value in context.items() for part in (flag_of(name), str(value))]


def _options_by_name() -> dict[str, click.Option]:
    return {param.name: param for param in backtest_run.params if isinstance(param, click.Option)}


@pytest.mark.parametrize(("parameter", "field"), list(FIELD_OPTIONS.items()))
def test_each_option_takes_default_and_description_from_its_field(
    parameter: str, field: str
) -> None:
    option = _options_by_name()[parameter]
    info = BacktestConfig.model_fields[field]
    assert info.description and info.description in (option.help or "")
    default = info.get_default(call_default_factory=True)
    expected = getattr(default, "value", default)
    if hasattr(expected, "isoformat"):
        expected = expected.isoformat()
    assert option.default == expected
    bounds = field_bounds(info)
    if bounds:
        shown = (option.help or "").rsplit("[", 1)[1]
        assert all(f"{value:g}" in shown for value in bounds.values())


@pytest.mark.parametrize("field", list(_FILE_KEYS))
def test_each_file_key_has_its_fields_limits_and_default(field: str) -> None:
    *sections, key = _FILE_KEYS[field]
    model: type[Any] = BacktestFile
    for section in sections:
        model = model.model_fields[section].annotation
    info, source = model.model_fields[key], BacktestConfig.model_fields[field]
    assert field_bounds(info) == field_bounds(source)
    assert info.get_default() == source.get_default()
    assert info.description == source.description


def _just_outside(bounds: dict[str, float]) -> list[float]:
    values = []
    if "ge" in bounds:
        values.append(math.nextafter(bounds["ge"], -math.inf))
    if "gt" in bounds:
        values.append(bounds["gt"])
    if "le" in bounds:
        values.append(bounds["le"] * 1.5 + 1)
    if "lt" in bounds:
        values.append(bounds["lt"])
    return values


@pytest.mark.parametrize("field", _BOUNDED)
def test_the_cli_and_a_file_refuse_and_accept_at_the_fields_limits(
    tmp_path: Path, field: str
) -> None:
    """The limits are read from the field here too: change one in BacktestConfig and both
    the flag and the file key follow (and this test with them)."""
    bounds = field_bounds(BacktestConfig.model_fields[field])
    parameter = next(name for name, target in FIELD_OPTIONS.items() if target == field)
    flag = flag_of(parameter)
    context = _CONTEXT.get(field, {})
    context_flags = _context_flags(context)
    file_key = re.escape(".".join(_FILE_KEYS[field]))
    for value in _just_outside(bounds):
        text = str(int(value)) if field == "position_units" else repr(value)
        with pytest.raises(UserInputError, match=f"{flag}: Input should be"):
            _config_from_flags(*context_flags, flag, text)
        with pytest.raises(UserInputError, match=f"{file_key}: Input should be"):
            _config_from_file(tmp_path, {**context, field: value})
    for value in (bounds.get("ge"), bounds.get("le")):
        if value is not None:
            assert getattr(_config_from_flags(*context_flags, flag, str(value)), field) == value
            assert getattr(_config_from_file(tmp_path, {**context, field: value}), field) == value


_FLOAT_FIELDS = [
    field
    for field in _BOUNDED
    if BacktestConfig.model_fields[field].annotation in (float, float | None)
]


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(_FLOAT_FIELDS), value=st.floats())
def test_a_flag_and_its_file_key_agree_on_any_number(field: str, value: float) -> None:
    """Whatever the number (nan, inf, huge, tiny), the flag and the key both take it or
    both refuse it, and a taken value arrives unchanged."""
    parameter = next(name for name, target in FIELD_OPTIONS.items() if target == field)
    context = _CONTEXT.get(field, {})
    outcomes: list[bool | None] = []
    with tempfile.TemporaryDirectory() as directory:
        for build in (
            lambda: _config_from_flags(*_context_flags(context), flag_of(parameter), repr(value)),
            lambda: _config_from_file(Path(directory), {**context, field: value}),
        ):
            try:
                outcomes.append(getattr(build(), field) == value)
            except UserInputError:
                outcomes.append(None)
    assert outcomes[0] is outcomes[1]
    assert outcomes[0] in (True, None)


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        (["--position-size", "2.5"], "risk_per_trade_pct", 2.5),
        (["--risk-per-trade-pct", "2.5"], "risk_per_trade_pct", 2.5),
        (["--sizing", "percent", "--position-size", "5"], "position_pct", 5.0),
        (["--sizing", "percent", "--position-pct", "5"], "position_pct", 5.0),
        (["--sizing", "fixed", "--position-size", "30"], "position_units", 30),
        (["--sizing", "fixed", "--position-units", "30"], "position_units", 30),
    ],
)
def test_position_size_is_the_old_name_of_the_modes_size(
    args: list[str], field: str, value: float
) -> None:
    config = _config_from_flags(*args)
    assert getattr(config, field) == value
    assert config.position_size == value


def test_the_old_and_the_new_size_flag_together_are_refused() -> None:
    with pytest.raises(click.UsageError, match="--position-size is the old name of"):
        _config_from_flags("--position-size", "2", "--risk-per-trade-pct", "2")


def test_another_modes_size_is_refused_naming_both_flags() -> None:
    with pytest.raises(UserInputError) as caught:
        _config_from_flags("--sizing", "percent", "--risk-per-trade-pct", "2")
    assert caught.value.message == (
        "Invalid backtest settings: risk_per_trade_pct sizes risk sizing, but the sizing is "
        "percent: give position_pct, or choose sizing risk (risk_per_trade_pct from "
        "--risk-per-trade-pct; sizing from --sizing)."
    )


def test_a_sizing_flag_drops_the_files_size_for_another_mode(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "strategy: {type: sma}\ninstruments: [AAPL]\nportfolio: {risk_per_trade_pct: 2}\n"
    )
    config = _config_from_flags("--config", str(path), "--sizing", "percent")
    assert (config.risk_per_trade_pct, config.position_size) == (None, 1.0)


def test_stored_configurations_with_the_old_size_key_still_load() -> None:
    stored = {"strategy_type": "sma", "instruments": ["AAPL"], "position_size_pct": 3.0}
    assert BacktestConfig.model_validate(stored).risk_per_trade_pct == 3.0
    dumped = BacktestConfig.model_validate(stored).model_dump(mode="json")
    assert BacktestConfig.model_validate(dumped).risk_per_trade_pct == 3.0


def test_report_risk_free_rate_option_has_the_run_settings_limits() -> None:
    @click.command()
    @risk_free_rate_option("rate")
    def command(risk_free_rate: float | None) -> None:
        del risk_free_rate

    option = command.params[0]
    assert isinstance(option.type, click.FloatRange)
    bounds = field_bounds(FieldInfo.from_annotation(RiskFreeRate))
    assert (option.type.min, option.type.max) == (bounds["ge"], bounds["le"])
