"""Strategy types by name: their nautilus classes and validated parameters.

A strategy type declares its parameters once, as the fields of its nautilus config class (a
``SignalStrategyConfig`` subclass, beside the strategy): types, defaults, bounds and
descriptions as ``Annotated[int, msgspec.Meta(...)]``, rules between parameters in its
``__post_init__``. Validation, ``parameter_specs``, the JSON schema and the help derive
from it here.

Built-in types are declared here. Custom types come from two places, looked at the first
time a name is not a built-in (or the whole list is asked for):

- modules in the directories (or files) of ``NTRADER_STRATEGY_PATH`` (``os.pathsep``
  separated), or given to ``load_path``;
- the ``ntrader.strategies`` entry-point group of installed packages; an entry point names
  a module (``pkg.strategies``) or one decorated class (``pkg.strategies:Breakout``).

A custom module declares its strategy by decorating a ``SignalStrategy`` subclass with
``register_strategy``; see docs/strategies.md.

Importing this module does not import nautilus; a type's config class (and nautilus) loads
when its parameters are first needed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import operator
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, UnionType
from typing import Annotated, Any, ClassVar, Self, Union, get_args, get_origin

import msgspec
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    model_validator,
)

from ntrader.core.errors import UserInputError
from ntrader.models.enums import Timeframe
from ntrader.models.validation import describe_validation_error

ENTRY_POINT_GROUP = "ntrader.strategies"
PATH_VARIABLE = "NTRADER_STRATEGY_PATH"

# The one field of SignalStrategyConfig that users set; the runner sets all the others.
_SHARED_PARAMETERS = ("allow_short",)
# msgspec.Meta constraints and the pydantic Field arguments of the same name and meaning.
_CONSTRAINTS = ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern")


class StrategyParams(BaseModel):
    """A strategy type's parameters, validated and immutable (``StrategyType.validate``).

    Each type's model is derived from its config class: a field per parameter, and the
    config's own checks run on the result (``config_view``: the config with the runner's
    fields left unset).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_view: ClassVar[type]
    _config: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _config_checks(self) -> Self:
        # A ValueError from the config's __post_init__ becomes a validation error.
        self._config = self.config_view(**dict(self))
        return self

    def higher_timeframe(self) -> Timeframe | None:
        """The second timeframe these parameters need (its bars go to the strategy's
        ``on_higher_bar``), or None: the config's ``higher_timeframe``."""
        timeframe: Timeframe | None = self._config.higher_timeframe()
        return timeframe


def _pydantic_type(annotation: Any) -> tuple[Any, str | None]:
    """A config field's type with its msgspec constraints as pydantic's, and the
    description found in it (the outermost one)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *metadata = get_args(annotation)
        inner, description = _pydantic_type(base)
        constraints: dict[str, Any] = {}
        for meta in (m for m in metadata if isinstance(m, msgspec.Meta)):
            constraints |= {
                name: getattr(meta, name)
                for name in _CONSTRAINTS
                if getattr(meta, name) is not None
            }
            description = meta.description or description
        return (Annotated[inner, Field(**constraints)] if constraints else inner), description
    if origin is Union or origin is UnionType:
        members = [_pydantic_type(arg) for arg in get_args(annotation)]
        description = next((found for _, found in members if found), None)
        return functools.reduce(operator.or_, [kind for kind, _ in members]), description
    return annotation, None


def _parameter_names(config: type) -> tuple[str, ...]:
    """The fields of a ``SignalStrategyConfig`` subclass that users set: ``allow_short``
    and the subclass' own fields, in declaration order."""
    from ntrader.core.strategies.base import SignalStrategyConfig

    own = [f for f in config.__struct_fields__ if f not in SignalStrategyConfig.__struct_fields__]
    return (*_SHARED_PARAMETERS, *own)


def _check_config(config: type) -> None:
    """Refuse a config class that is not a ``SignalStrategyConfig`` subclass, or that
    redeclares one of its fields (the runner's, or ``allow_short``)."""
    from ntrader.core.strategies.base import SignalStrategyConfig

    if not (isinstance(config, type) and issubclass(config, SignalStrategyConfig)):
        raise TypeError(f"{config!r} is not a SignalStrategyConfig subclass")
    base_fields = set(SignalStrategyConfig.__struct_fields__)
    redeclared = {
        name
        for cls in config.__mro__[: config.__mro__.index(SignalStrategyConfig)]
        for name in vars(cls).get("__annotations__", {})
        if name in base_fields
    }
    if redeclared:
        raise ValueError(
            f"{config.__name__} redeclares {', '.join(sorted(redeclared))}, set by the runner "
            "(allow_short: declared once for every strategy); give the parameter another name"
        )


@functools.cache
def _derived_model(config: type) -> type[StrategyParams]:
    """The parameter model of a strategy's config class."""
    _check_config(config)
    fields = {field.name: field for field in msgspec.structs.fields(config)}
    definitions: dict[str, Any] = {}
    for name in _parameter_names(config):
        field = fields[name]
        kind, description = _pydantic_type(field.type)
        if field.default is not msgspec.NODEFAULT:
            info = Field(default=field.default, description=description)
        elif field.default_factory is not msgspec.NODEFAULT:
            info = Field(default_factory=field.default_factory, description=description)
        else:
            info = Field(description=description)
        definitions[name] = (kind, info)
    model = create_model(  # type: ignore[call-overload]
        f"{config.__name__}Parameters",
        __base__=StrategyParams,
        __module__=config.__module__,
        **definitions,
    )
    # The runner's required fields (instrument_id, bar_type) unset: the config on the
    # parameters alone, for its __post_init__ checks and higher_timeframe.
    unset = [
        (f.name, Any, None)
        for f in fields.values()
        if f.required and f.name not in model.model_fields
    ]
    model.config_view = msgspec.defstruct(
        f"{config.__name__}View",
        unset,
        bases=(config,),
        module=config.__module__,
        frozen=True,
        kw_only=True,
    )
    return model


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
    """One kind of strategy: canonical name, aliases, nautilus classes.

    ``strategy_class`` and ``config_class`` are import paths (``module:QualName``) so a
    built-in's classes (and nautilus) load only when its parameters or a backtest need
    them. ``source`` says where the type was declared: ``built-in``, a file, or an entry
    point.
    """

    name: str
    aliases: tuple[str, ...]
    description: str
    strategy_class: str
    config_class: str
    source: str = "built-in"

    def load(self) -> tuple[type, type]:
        return _import(self.strategy_class), _import(self.config_class)

    @property
    def params(self) -> type[StrategyParams]:
        """The parameter model derived from the config class (validation, JSON schema)."""
        return _derived_model(_import(self.config_class))

    def parameter_specs(self) -> tuple[ParameterSpec, ...]:
        """Every parameter a user may set, in declaration order."""
        model = self.params
        properties = model.model_json_schema()["properties"]
        return tuple(
            _spec_of(name, properties[name], field.default)
            for name, field in model.model_fields.items()
        )

    def validate(self, parameters: dict[str, Any]) -> StrategyParams:
        model = self.params
        try:
            return model.model_validate(parameters)
        except ValidationError as exc:
            raise UserInputError(
                f"Invalid parameters for {self.name}: {describe_validation_error(exc)}.",
                hint=f"Parameters of {self.name}: {', '.join(model.model_fields)} "
                f"(`ntrader strategy types {self.name}` shows their ranges).",
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
        strategy_class="ntrader.core.strategies.mean_reversion:MeanReversion",
        config_class="ntrader.core.strategies.mean_reversion:MeanReversionConfig",
    ),
    StrategyType(
        name="momentum",
        aliases=("rsi", "rsi_momentum"),
        description="Long when the RSI falls below entry_rsi_low; out when it rises above "
        "exit_rsi_high.",
        strategy_class="ntrader.core.strategies.momentum:Momentum",
        config_class="ntrader.core.strategies.momentum:MomentumConfig",
    ),
)


@dataclass(frozen=True, slots=True)
class _Declaration:
    name: str
    aliases: tuple[str, ...]
    description: str
    config: type


_DECLARATION_ATTRIBUTE = "__ntrader_strategy__"


def register_strategy(
    *,
    name: str,
    config: type,
    aliases: Iterable[str] = (),
    description: str | None = None,
) -> Callable[[type], type]:
    """Declare a ``SignalStrategy`` subclass as a strategy type (a class decorator).

    ``config`` (a ``SignalStrategyConfig`` subclass) is what the strategy receives; its own
    fields, with ``allow_short``, are the parameters users set. ``description`` defaults to
    the first line of the docstring. The class is registered when its module is loaded from
    a strategy path or an entry point; decorating it has no other effect.
    """

    def declare(cls: type) -> type:
        from ntrader.core.strategies.base import SignalStrategy

        if not (isinstance(cls, type) and issubclass(cls, SignalStrategy)):
            raise TypeError(f"{cls!r} is not a SignalStrategy subclass")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", _key(name)):
            raise ValueError(
                f"strategy name {name!r} must be letters, digits and underscores, "
                "starting with a letter"
            )
        try:
            _derived_model(config)  # a bad declaration fails here, as its module loads
        except TypeError as exc:
            raise TypeError(f"config of {name!r}: {exc}") from exc
        doc_line = (cls.__doc__ or "").strip().splitlines()[:1]
        declaration = _Declaration(
            name=_key(name),
            aliases=tuple(aliases),
            description=description or (doc_line[0] if doc_line else ""),
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
