"""The strategy registry: built-in types, parameters, and custom strategies from files,
directories (NTRADER_STRATEGY_PATH) and entry points."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import msgspec
import pytest

from ntrader.core import strategy_registry
from ntrader.core.errors import UserInputError
from ntrader.core.strategy_registry import BUILTIN_TYPES, StrategyRegistry

STRATEGY_MODULE = '''
from nautilus_trader.model.data import Bar
from pydantic import Field

from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.core.strategy_registry import StrategyParams, register_strategy


class {name}Params(StrategyParams):
    threshold: float = Field(default=1.0, gt=0)


class {name}Config(SignalStrategyConfig, frozen=True):
    threshold: float = 1.0


@register_strategy(name="{key}", aliases=({aliases}), params={name}Params, config={name}Config)
class {name}(SignalStrategy):
    """Buys when the close exceeds the threshold."""

    def update_signal(self, bar: Bar) -> None:
        if bar.close.as_double() > self._signal_config.threshold:
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
def test_builtin_params_and_configs_agree(kind: strategy_registry.StrategyType) -> None:
    """Every parameter reaches the strategy's config, with the same default."""
    params = kind.validate({})
    assert params.allow_short is False
    _, config_class = kind.load()
    config_defaults = {field.name: field.default for field in msgspec.structs.fields(config_class)}
    for name, value in params.model_dump().items():
        assert config_defaults[name] == value, name


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
    with pytest.raises(UserInputError, match="threshold"):
        kind.validate({"threshold": -1})
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
        ("params={name}Params", "params=dict", "must be a StrategyParams subclass"),
        ("config={name}Config", "config=dict", "must be a SignalStrategyConfig subclass"),
        ("    threshold: float = 1.0\n", "    other: float = 1.0\n", "no field for parameter"),
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


def test_the_registry_does_not_import_nautilus() -> None:
    code = (
        "import sys; from ntrader.core import strategy_registry as r; "
        "r.resolve('momentum').validate({}); r.known_names(); "
        "print('nautilus_trader' in sys.modules)"
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
