"""The strategy registry: built-in types, parameters, and custom strategies from files,
directories (NTRADER_STRATEGY_PATH) and entry points."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId

from ntrader.core import strategy_registry
from ntrader.core.errors import UserInputError
from ntrader.core.strategies.base import SignalStrategyConfig
from ntrader.core.strategy_registry import BUILTIN_TYPES, ParameterSpec, StrategyRegistry
from ntrader.models.enums import Timeframe

INSTRUMENT = InstrumentId.from_str("TEST.NASDAQ")
BAR_TYPE = BarType.from_str("TEST.NASDAQ-1-DAY-LAST-EXTERNAL")

STRATEGY_MODULE = '''
from typing import Annotated

from msgspec import Meta
from nautilus_trader.model.data import Bar

from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.core.strategy_registry import register_strategy


class {name}Config(SignalStrategyConfig, frozen=True):
    threshold: Annotated[float, Meta(gt=0, description="Price to beat.")] = 1.0


@register_strategy(name="{key}", aliases=({aliases}), config={name}Config)
class {name}(SignalStrategy):
    """Buys when the close exceeds the threshold."""

    def update_signal(self, bar: Bar) -> None:
        if bar.close.as_double() > self.config.threshold:
            self.go_long(bar)
'''


def _write_strategy(directory: Path, key: str, *, aliases: tuple[str, ...] = ()) -> Path:
    name = "".join(part.title() for part in key.split("_"))
    alias_text = "".join(f"{alias!r}, " for alias in aliases)
    path = directory / f"{key}.py"
    path.write_text(STRATEGY_MODULE.format(name=name, key=key, aliases=alias_text))
    return path


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("sma", "sma_crossover"),
        ("SMA_CROSSOVER", "sma_crossover"),
        ("mean_reversion", "mean_reversion"),
        ("MEAN_REVERSION", "mean_reversion"),
        ("meanrev", "mean_reversion"),
        ("Mean-Reversion", "mean_reversion"),
        ("momentum", "momentum"),
        ("MOMENTUM", "momentum"),
        ("rsi", "momentum"),
    ],
)
def test_builtin_aliases(alias: str, name: str) -> None:
    assert StrategyRegistry().resolve(alias).name == name


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(UserInputError, match="sma_crossover, mean_reversion, momentum"):
        StrategyRegistry().resolve("rsi_magic")


@pytest.mark.parametrize("kind", BUILTIN_TYPES, ids=lambda kind: kind.name)
def test_builtin_parameters_are_their_configs_fields(kind: strategy_registry.StrategyType) -> None:
    """The parameters are allow_short and the config's own fields, with the config's
    defaults; the runner's fields are not parameters."""
    _, config_class = kind.load()
    own = set(config_class.__struct_fields__) - set(SignalStrategyConfig.__struct_fields__)
    params = kind.validate({}).model_dump()
    assert next(iter(params)) == "allow_short" and set(params) == {"allow_short", *own}
    config_defaults = {field.name: field.default for field in msgspec.structs.fields(config_class)}
    assert params == {name: config_defaults[name] for name in params}
    assert all(spec.description for spec in kind.parameter_specs())


def test_a_directory_of_custom_strategies(tmp_path: Path) -> None:
    _write_strategy(tmp_path, "first_custom", aliases=("fc",))
    _write_strategy(tmp_path, "second_custom")
    (tmp_path / "_helpers.py").write_text("raise RuntimeError('helpers are not loaded')\n")
    (tmp_path / "notes.txt").write_text("not a module\n")
    registry = StrategyRegistry()

    loaded = registry.load_path(tmp_path)

    assert [kind.name for kind in loaded] == ["first_custom", "second_custom"]
    assert registry.resolve("FC") is loaded[0]
    assert registry.known_names()[-2:] == ["first_custom", "second_custom"]
    kind = loaded[0]
    assert kind.description == "Buys when the close exceeds the threshold."
    assert kind.source == str(tmp_path / "first_custom.py")
    assert kind.validate({"threshold": 2}).model_dump() == {"allow_short": False, "threshold": 2}
    with pytest.raises(UserInputError, match="threshold: Input should be greater than 0"):
        kind.validate({"threshold": -1})
    (threshold,) = (spec for spec in kind.parameter_specs() if spec.name == "threshold")
    assert (threshold.exclusive_minimum, threshold.description) == (0, "Price to beat.")
    strategy_class, config_class = kind.load()
    assert strategy_class.__name__ == "FirstCustom"
    assert config_class.__name__ == "FirstCustomConfig"
    # Loading the same files again registers nothing twice.
    assert registry.load_path(tmp_path) == loaded


def test_the_strategy_path_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    _write_strategy(first, "from_a")
    single = _write_strategy(second, "from_b")
    monkeypatch.setenv("NTRADER_STRATEGY_PATH", os.pathsep.join([str(first), str(single)]))
    registry = StrategyRegistry()
    assert registry.resolve("sma").name == "sma_crossover"  # built-ins need no discovery
    assert registry.resolve("from_b").source == str(single)
    assert "from_a" in registry.known_names()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def broken(:\n", "SyntaxError"),
        ("import not_a_module_anywhere\n", "ModuleNotFoundError"),
        ("x = 1\n", "declares no strategy"),
    ],
)
def test_a_bad_module_is_named_in_the_error(tmp_path: Path, source: str, message: str) -> None:
    path = tmp_path / "bad_one.py"
    path.write_text(source)
    with pytest.raises(UserInputError, match=message) as caught:
        StrategyRegistry().load_path(path)
    assert str(path) in caught.value.message


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("config={name}Config", "config=dict", "not a SignalStrategyConfig subclass"),
        ("    threshold:", "    stop_atr: float = 1.0\n    threshold:", "redeclares stop_atr"),
        ("    threshold:", "    allow_short: bool = True\n    threshold:", "allow_short, set"),
        ('name="{key}"', 'name="9 lives"', "letters, digits and underscores"),
    ],
)
def test_a_bad_declaration_is_refused(tmp_path: Path, replace: str, by: str, message: str) -> None:
    path = tmp_path / "declared.py"
    template = STRATEGY_MODULE.replace(replace, by)
    path.write_text(template.format(name="Declared", key="declared", aliases=""))
    with pytest.raises(UserInputError, match=message):
        StrategyRegistry().load_path(path)


def test_a_custom_name_may_not_take_a_builtin_one(tmp_path: Path) -> None:
    path = _write_strategy(tmp_path, "clash", aliases=("rsi",))
    registry = StrategyRegistry()
    with pytest.raises(UserInputError, match="reuses the name 'rsi' of 'momentum'"):
        registry.load_path(path)
    # Nothing of the refused file was registered.
    with pytest.raises(UserInputError, match="Unknown strategy"):
        registry.resolve("clash")


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"neither a directory nor a \.py file"):
        StrategyRegistry().load_path(tmp_path / "nowhere")


def _install_distribution(site: Path, entry_points: dict[str, str]) -> None:
    """A minimal installed distribution (a dist-info directory) declaring entry points."""
    dist_info = site / f"ntrader_plugin_{uuid.uuid4().hex[:8]}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ntrader-plugin\n")
    lines = [f"{name} = {value}" for name, value in entry_points.items()]
    (dist_info / "entry_points.txt").write_text("[ntrader.strategies]\n" + "\n".join(lines) + "\n")


def test_entry_points_naming_a_class_or_a_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = uuid.uuid4().hex[:8]
    class_module, whole_module = f"plugin_class_{suffix}", f"plugin_module_{suffix}"
    _write_strategy(tmp_path, "ep_by_class").rename(tmp_path / f"{class_module}.py")
    _write_strategy(tmp_path, "ep_by_module").rename(tmp_path / f"{whole_module}.py")
    _install_distribution(tmp_path, {"one": f"{class_module}:EpByClass", "two": whole_module})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = StrategyRegistry()

    by_class = registry.resolve("ep_by_class")
    by_module = registry.resolve("ep_by_module")

    assert by_class.strategy_class == f"{class_module}:EpByClass"
    assert "entry point one" in by_class.source
    assert "ntrader-plugin" in by_class.source
    assert by_module.load()[0].__name__ == "EpByModule"


def test_a_broken_entry_point_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_distribution(tmp_path, {"gone": f"no_such_module_{uuid.uuid4().hex[:8]}"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UserInputError, match="entry point gone = no_such_module"):
        StrategyRegistry().known_names()


def test_names_resolve_without_nautilus() -> None:
    """Only a type's parameters (fields of its nautilus config) need nautilus."""
    code = (
        "import sys; from ntrader.core import strategy_registry as r; "
        "r.resolve('momentum'); r.known_names(); print('nautilus_trader' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_parameter_specs_carry_the_declared_types_defaults_and_bounds() -> None:
    specs = {
        spec.name: spec for spec in strategy_registry.resolve("sma_crossover").parameter_specs()
    }
    fast = specs["fast_period"]
    assert (fast.kind, fast.default, fast.minimum, fast.maximum) == (int, 12, 1, 10_000)
    threshold = specs["entry_threshold"]
    assert (threshold.kind, threshold.minimum, threshold.exclusive_maximum) == (float, 0.0, 1.0)
    assert threshold.admits(0.0) and not threshold.admits(1.0)
    assert specs["trend_filter_period"].optional and not fast.optional
    assert specs["allow_short"].kind is bool


@pytest.mark.parametrize(
    ("name", "parameters", "message"),
    [
        ("sma", {"fast_period": 30, "slow_period": 20}, "fast_period (30) must be less than"),
        ("meanrev", {"entry_zscore": 1, "exit_zscore": 0.5}, "entry_zscore (1) must be less"),
        ("meanrev", {"allow_short": True, "entry_zscore": 0.5, "exit_zscore": 1}, "negative"),
        ("rsi", {"entry_rsi_low": 60, "exit_rsi_high": 55}, "entry_rsi_low (60) must be less"),
        ("rsi", {"allow_short": True, "entry_rsi_low": 55, "exit_rsi_high": 80}, "below 50"),
        ("sma", {"fast": 5, "slow": 9}, "fast: unknown parameter; slow: unknown parameter"),
    ],
)
def test_the_configs_own_checks_refuse_with_the_values(
    name: str, parameters: dict[str, object], message: str
) -> None:
    """The cross-field rules are the config's __post_init__: the same refusal from the
    registry (a UserInputError naming the values) and from nautilus' own construction."""
    kind = strategy_registry.resolve(name)
    with pytest.raises(UserInputError, match=re.escape(message)) as caught:
        kind.validate(parameters)
    assert caught.value.hint.startswith(f"Parameters of {kind.name}: allow_short, ")
    if "unknown" not in message:
        _, config_class = kind.load()
        with pytest.raises(ValueError, match=re.escape(message)):
            config_class(instrument_id=INSTRUMENT, bar_type=BAR_TYPE, **parameters)


def test_higher_timeframe_comes_from_the_config() -> None:
    sma = strategy_registry.resolve("sma")
    assert sma.validate({}).higher_timeframe() is None
    assert sma.validate({"trend_filter_period": 5}).higher_timeframe() is Timeframe.DAILY


def _numbers(spec: ParameterSpec) -> st.SearchStrategy[float]:
    """Values around and between a parameter's bounds, and far outside them."""
    edges = [
        bound
        for bound in (spec.minimum, spec.maximum, spec.exclusive_minimum, spec.exclusive_maximum)
        if bound is not None
    ]
    near = st.sampled_from(edges).flatmap(
        lambda edge: st.sampled_from([edge - 1, edge - 0.5, edge, edge + 0.5, edge + 1])
    )
    if spec.kind is int:
        return st.one_of(st.integers(-20_000, 20_000), near.map(int))
    return st.one_of(
        st.floats(-20_000, 20_000), near, st.sampled_from([math.nan, math.inf, -math.inf])
    )


NUMERIC_SPECS = [
    (kind, spec)
    for kind in BUILTIN_TYPES
    for spec in kind.parameter_specs()
    if spec.kind in (int, float)
]


@pytest.mark.parametrize(
    ("kind", "spec"), NUMERIC_SPECS, ids=[f"{k.name}.{s.name}" for k, s in NUMERIC_SPECS]
)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_validation_and_the_declared_bounds_agree(
    kind: strategy_registry.StrategyType, spec: ParameterSpec, data: st.DataObject
) -> None:
    """A value outside the declared bounds is refused naming the parameter; the derived
    validation accepts exactly what msgspec (nautilus' decoder) accepts for the config."""
    value = data.draw(_numbers(spec))
    view = kind.params.config_view
    try:
        msgspec.convert({spec.name: value}, view, strict=False)
        msgspec_accepts = True
    except msgspec.ValidationError:
        msgspec_accepts = False
    try:
        validated, refusal = kind.validate({spec.name: value}), ""
    except UserInputError as exc:
        validated, refusal = None, exc.message
    assert (validated is not None) == msgspec_accepts, refusal
    if validated is not None:
        assert spec.admits(value) and getattr(validated, spec.name) == value
    elif not spec.admits(value):
        assert f"{spec.name}: " in refusal
