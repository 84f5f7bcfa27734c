"""Strategy types by name: their nautilus classes and validated parameter schemas.

Built-in types are declared here. Custom types come from two places, looked at the first
time a name is not a built-in (or the whole list is asked for):

- modules in the directories (or files) of ``NTRADER_STRATEGY_PATH`` (``os.pathsep``
  separated), or given to ``load_path``;
- the ``ntrader.strategies`` entry-point group of installed packages; an entry point names
  a module (``pkg.strategies``) or one decorated class (``pkg.strategies:Breakout``).

A custom module declares its strategy by decorating a ``SignalStrategy`` subclass with
``register_strategy``; see docs/strategies.md.

Importing this module does not import nautilus; strategy classes load on first use.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ntrader.core.errors import UserInputError
from ntrader.models.enums import Timeframe
from ntrader.models.validation import describe_validation_error

ENTRY_POINT_GROUP = "ntrader.strategies"
PATH_VARIABLE = "NTRADER_STRATEGY_PATH"

# The runner fills these in itself; a strategy parameter must not take their names.
_RUNNER_FIELDS = frozenset(
    {
        "strategy_id",
        "instrument_id",
        "bar_type",
        "sizing",
        "position_size",
        "max_position_pct",
        "stop_atr",
        "take_profit_r",
        "trailing_stop_atr",
        "higher_bar_type",
    }
)


class StrategyParams(BaseModel):
    """Base of every strategy type's parameters: validated, immutable, no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_short: bool = False

    def higher_timeframe(self) -> Timeframe | None:
        """The second timeframe these parameters need (its bars go to the strategy's
        ``on_higher_bar``), or None."""
        return None


class SmaCrossoverParams(StrategyParams):
    fast_period: int = Field(default=12, ge=1, le=10_000)
    slow_period: int = Field(default=26, ge=2, le=10_000)
    entry_threshold: float = Field(default=0.0, ge=0.0, lt=1.0)
    # Entries only with the daily trend: longs above the daily SMA of this many days.
    trend_filter_period: int | None = Field(default=None, ge=1, le=10_000)

    def higher_timeframe(self) -> Timeframe | None:
        return Timeframe.DAILY if self.trend_filter_period is not None else None

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCrossoverParams:
        if self.fast_period >= self.slow_period:
            raise ValueError(
                f"fast_period ({self.fast_period}) must be less than "
                f"slow_period ({self.slow_period})"
            )
        return self


class MeanReversionParams(StrategyParams):
    lookback: int = Field(default=20, ge=2, le=10_000)
    entry_zscore: float = Field(default=-2.0, ge=-10.0, le=10.0)
    exit_zscore: float = Field(default=0.0, ge=-10.0, le=10.0)

    @model_validator(mode="after")
    def _entry_below_exit(self) -> MeanReversionParams:
        if self.entry_zscore >= self.exit_zscore:
            raise ValueError(
                f"entry_zscore ({self.entry_zscore:g}) must be less than "
                f"exit_zscore ({self.exit_zscore:g})"
            )
        if self.allow_short and self.entry_zscore >= 0:
            raise ValueError(
                f"with allow_short, entry_zscore ({self.entry_zscore:g}) must be negative, "
                "so the short entry (its mirror above zero) lies above the long entry"
            )
        return self


class MomentumParams(StrategyParams):
    rsi_period: int = Field(default=14, ge=2, le=10_000)
    entry_rsi_low: float = Field(default=30.0, gt=0.0, lt=100.0)
    exit_rsi_high: float = Field(default=70.0, gt=0.0, lt=100.0)

    @model_validator(mode="after")
    def _low_below_high(self) -> MomentumParams:
        if self.entry_rsi_low >= self.exit_rsi_high:
            raise ValueError(
                f"entry_rsi_low ({self.entry_rsi_low:g}) must be less than "
                f"exit_rsi_high ({self.exit_rsi_high:g})"
            )
        if self.allow_short and self.entry_rsi_low >= 50:
            raise ValueError(
                f"with allow_short, entry_rsi_low ({self.entry_rsi_low:g}) must be below 50, "
                "so the short entry (100 - entry_rsi_low) lies above the long entry"
            )
        return self


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    """One strategy parameter as sweeps, help texts and schemas read it: its type, its
    default and its bounds (None where unbounded)."""

    name: str
    kind: type
    default: Any
    description: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    optional: bool = False

    def admits(self, value: float) -> bool:
        """Whether a number lies inside the bounds (type and cross-field checks are the
        strategy's own ``validate``)."""
        return (
            (self.minimum is None or value >= self.minimum)
            and (self.maximum is None or value <= self.maximum)
            and (self.exclusive_minimum is None or value > self.exclusive_minimum)
            and (self.exclusive_maximum is None or value < self.exclusive_maximum)
        )


def _spec_of(name: str, schema: dict[str, Any], default: Any) -> ParameterSpec:
    options = schema.get("anyOf", [schema])
    typed = [option for option in options if option.get("type") != "null"]
    first = typed[0] if typed else schema
    kinds = {"integer": int, "number": float, "boolean": bool, "string": str}
    return ParameterSpec(
        name=name,
        kind=kinds.get(first.get("type", "string"), str),
        default=default,
        description=schema.get("description"),
        minimum=first.get("minimum"),
        maximum=first.get("maximum"),
        exclusive_minimum=first.get("exclusiveMinimum"),
        exclusive_maximum=first.get("exclusiveMaximum"),
        optional=len(typed) < len(options),
    )


@dataclass(frozen=True, slots=True)
class StrategyType:
    """One kind of strategy: canonical name, aliases, parameters, nautilus classes.

    ``strategy_class`` and ``config_class`` are import paths (``module:QualName``) so a
    built-in's classes (and nautilus) load only when a backtest needs them. ``source`` says
    where the type was declared: ``built-in``, a file, or an entry point.
    """

    name: str
    aliases: tuple[str, ...]
    description: str
    params: type[StrategyParams]
    strategy_class: str
    config_class: str
    source: str = "built-in"

    def load(self) -> tuple[type, type]:
        return _import(self.strategy_class), _import(self.config_class)

    def parameter_specs(self) -> tuple[ParameterSpec, ...]:
        """Every parameter a user may set, in declaration order."""
        properties = self.params.model_json_schema()["properties"]
        return tuple(
            _spec_of(name, properties[name], field.default)
            for name, field in self.params.model_fields.items()
        )

    def validate(self, parameters: dict[str, Any]) -> StrategyParams:
        try:
            return self.params.model_validate(parameters)
        except ValidationError as exc:
            raise UserInputError(
                f"Invalid parameters for {self.name}: {describe_validation_error(exc)}.",
                hint=f"Parameters of {self.name}: {', '.join(self.params.model_fields)}.",
            ) from exc


def _import(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def _path_of(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


BUILTIN_TYPES: tuple[StrategyType, ...] = (
    StrategyType(
        name="sma_crossover",
        aliases=("sma", "sma_cross", "smacrossover"),
        description="Long when the fast SMA crosses above the slow SMA; out when it crosses below.",
        params=SmaCrossoverParams,
        strategy_class="ntrader.core.strategies.sma_crossover:SmaCrossover",
        config_class="ntrader.core.strategies.sma_crossover:SmaCrossoverConfig",
    ),
    StrategyType(
        name="mean_reversion",
        aliases=("meanrev", "mean_rev", "meanreversion"),
        description=(
            "Long when the close's z-score against its rolling mean falls below entry_zscore; "
            "out when it rises back above exit_zscore."
        ),
        params=MeanReversionParams,
        strategy_class="ntrader.core.strategies.mean_reversion:MeanReversion",
        config_class="ntrader.core.strategies.mean_reversion:MeanReversionConfig",
    ),
    StrategyType(
        name="momentum",
        aliases=("rsi", "rsi_momentum"),
        description="Long when the RSI falls below entry_rsi_low; out when it rises above "
        "exit_rsi_high.",
        params=MomentumParams,
        strategy_class="ntrader.core.strategies.momentum:Momentum",
        config_class="ntrader.core.strategies.momentum:MomentumConfig",
    ),
)


@dataclass(frozen=True, slots=True)
class _Declaration:
    name: str
    aliases: tuple[str, ...]
    description: str
    params: type[StrategyParams]
    config: type


_DECLARATION_ATTRIBUTE = "__ntrader_strategy__"


def register_strategy(
    *,
    name: str,
    params: type[StrategyParams],
    config: type,
    aliases: Iterable[str] = (),
    description: str | None = None,
) -> Callable[[type], type]:
    """Declare a ``SignalStrategy`` subclass as a strategy type (a class decorator).

    ``params`` (a ``StrategyParams`` subclass) validates what users pass; ``config`` (a
    ``SignalStrategyConfig`` subclass) is what the strategy receives, and must have a field
    for every parameter. ``description`` defaults to the first line of the docstring.
    The class is registered when its module is loaded from a strategy path or an entry
    point; decorating it has no other effect.
    """

    def declare(cls: type) -> type:
        from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig

        if not (isinstance(cls, type) and issubclass(cls, SignalStrategy)):
            raise TypeError(f"{cls!r} is not a SignalStrategy subclass")
        if not (isinstance(params, type) and issubclass(params, StrategyParams)):
            raise TypeError(f"params of {name!r} must be a StrategyParams subclass")
        if not (isinstance(config, type) and issubclass(config, SignalStrategyConfig)):
            raise TypeError(f"config of {name!r} must be a SignalStrategyConfig subclass")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", _key(name)):
            raise ValueError(
                f"strategy name {name!r} must be letters, digits and underscores, "
                "starting with a letter"
            )
        taken = _RUNNER_FIELDS & set(params.model_fields)
        if taken:
            raise ValueError(f"parameter names reserved by the runner: {', '.join(sorted(taken))}")
        missing = set(params.model_fields) - set(config.__struct_fields__)
        if missing:
            raise ValueError(
                f"config {config.__name__} has no field for parameter(s) "
                f"{', '.join(sorted(missing))}"
            )
        doc_line = (cls.__doc__ or "").strip().splitlines()[:1]
        declaration = _Declaration(
            name=_key(name),
            aliases=tuple(aliases),
            description=description or (doc_line[0] if doc_line else ""),
            params=params,
            config=config,
        )
        setattr(cls, _DECLARATION_ATTRIBUTE, declaration)
        return cls

    return declare


def _type_of(cls: type, source: str) -> StrategyType:
    declaration: _Declaration = getattr(cls, _DECLARATION_ATTRIBUTE)
    return StrategyType(
        name=declaration.name,
        aliases=declaration.aliases,
        description=declaration.description,
        params=declaration.params,
        strategy_class=_path_of(cls),
        config_class=_path_of(declaration.config),
        source=source,
    )


def _declared_in(module: ModuleType, source: str) -> list[StrategyType]:
    """The strategy types a module declares (not those it merely imports)."""
    return [
        _type_of(value, source)
        for value in vars(module).values()
        if isinstance(value, type)
        and _DECLARATION_ATTRIBUTE in vars(value)
        and value.__module__ == module.__name__
    ]


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


class StrategyRegistry:
    """Built-in strategy types plus the custom ones found or loaded so far."""

    def __init__(self) -> None:
        self._types: dict[str, StrategyType] = {}
        self._by_key: dict[str, StrategyType] = {}
        # What each file and entry point registered, so loading one again is a no-op.
        self._files: dict[Path, list[StrategyType]] = {}
        self._entry_points: dict[str, list[StrategyType]] = {}
        self._discovered = False
        self._add(BUILTIN_TYPES)

    def known_names(self) -> list[str]:
        self._discover()
        return list(self._types)

    def resolve(self, name: str) -> StrategyType:
        found = self._by_key.get(_key(name))
        if found is None:
            self._discover()
            found = self._by_key.get(_key(name))
        if found is None:
            raise UserInputError(
                f"Unknown strategy {name!r}; known strategies: {', '.join(self._types)}.",
                hint="Run `ntrader strategy types` to see each one's parameters.",
            )
        return found

    def load_path(self, path: Path) -> list[StrategyType]:
        """Register the strategies of a module file, or of every ``*.py`` file in a
        directory (names starting with ``_`` are skipped: helpers). Loading a file again
        returns what it registered the first time."""
        path = Path(path).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
        elif path.is_file() and path.suffix == ".py":
            files = [path]
        else:
            raise UserInputError(
                f"Strategy path {path} is neither a directory nor a .py file.",
                hint=f"Check {PATH_VARIABLE} or --strategy-path.",
            )
        return [kind for file in files for kind in self._load_file(file.resolve())]

    def loaded_files(self) -> list[Path]:
        """The plug-in files loaded so far, in load order."""
        return list(self._files)

    def load_entry_points(self) -> list[StrategyType]:
        """Register the strategies of the installed ``ntrader.strategies`` entry points."""
        loaded: list[StrategyType] = []
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            seen = self._entry_points.get(f"{entry_point.name}={entry_point.value}")
            if seen is not None:
                loaded.extend(seen)
                continue
            distribution = entry_point.dist.name if entry_point.dist else "an installed package"
            source = f"entry point {entry_point.name} = {entry_point.value} ({distribution})"
            try:
                target = entry_point.load()
            except Exception as exc:
                raise UserInputError(
                    f"Could not load the strategy {source}: {type(exc).__name__}: {exc}.",
                    hint=f"Fix or uninstall {distribution}.",
                ) from exc
            if isinstance(target, ModuleType):
                kinds = _declared_in(target, source)
            elif isinstance(target, type) and _DECLARATION_ATTRIBUTE in vars(target):
                kinds = [_type_of(target, source)]
            else:
                kinds = []
            if not kinds:
                raise UserInputError(
                    f"The strategy {source} declares no strategy.",
                    hint="Point it at a module or class decorated with @register_strategy.",
                )
            self._add(kinds)
            self._entry_points[f"{entry_point.name}={entry_point.value}"] = kinds
            loaded.extend(kinds)
        return loaded

    def _discover(self) -> None:
        if self._discovered:
            return
        # A failure raises before _discovered is set, so the next lookup reports it again
        # (what did load stays registered; loading it again is a no-op).
        for entry in os.environ.get(PATH_VARIABLE, "").split(os.pathsep):
            if entry.strip():
                self.load_path(Path(entry.strip()))
        self.load_entry_points()
        self._discovered = True

    def _load_file(self, file: Path) -> list[StrategyType]:
        if file in self._files:
            return self._files[file]
        digest = hashlib.sha1(str(file).encode()).hexdigest()[:10]
        stem = re.sub(r"\W", "_", file.stem)
        module_name = f"ntrader_strategy_{stem}_{digest}"
        spec = importlib.util.spec_from_file_location(module_name, file)
        if spec is None or spec.loader is None:
            raise UserInputError(f"Could not load strategies from {file}: not a Python module.")
        module = importlib.util.module_from_spec(spec)
        # Registered before it runs, as an import would: nautilus' configs resolve their
        # annotations through sys.modules.
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise UserInputError(
                f"Could not load strategies from {file}: {type(exc).__name__}: {exc}.",
                hint="Fix the file, or take it off the strategy path.",
            ) from exc
        kinds = _declared_in(module, str(file))
        if not kinds:
            raise UserInputError(
                f"{file} declares no strategy.",
                hint="Decorate a SignalStrategy subclass with @register_strategy(...).",
            )
        self._add(kinds)
        self._files[file] = kinds
        return kinds

    def _add(self, kinds: Iterable[StrategyType]) -> None:
        """Register all of ``kinds`` or, when a name is taken, none of them."""
        claimed: dict[str, StrategyType] = {}
        for kind in kinds:
            for key in {_key(alias) for alias in (kind.name, *kind.aliases)}:
                existing = self._by_key.get(key) or claimed.get(key)
                if existing is not None:
                    raise UserInputError(
                        f"Strategy {kind.name!r} from {kind.source} reuses the name {key!r} "
                        f"of {existing.name!r} ({existing.source}).",
                        hint="Give the custom strategy another name and aliases.",
                    )
                claimed[key] = kind
        for key, kind in claimed.items():
            self._types.setdefault(kind.name, kind)
            self._by_key[key] = kind


_REGISTRY = StrategyRegistry()


def known_names() -> list[str]:
    return _REGISTRY.known_names()


def resolve(name: str) -> StrategyType:
    return _REGISTRY.resolve(name)


def load_path(path: Path) -> list[StrategyType]:
    """Register custom strategies from a file or directory (``--strategy-path``)."""
    return _REGISTRY.load_path(path)


def loaded_files() -> list[Path]:
    """The plug-in files loaded so far (``--strategy-path``, ``NTRADER_STRATEGY_PATH``), for
    a process that must see the same strategies (the API's job workers)."""
    return _REGISTRY.loaded_files()
