"""The options of ``backtest run`` (and of every command that runs backtests), derived from
BacktestConfig's fields, and the run configuration they make.

A setting's limits, default and description live once, on its BacktestConfig field; the
option takes its type, default and help from there, and the configuration enforces the
limits, so a refused flag value is named by its flag with the same words as a file key.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

import annotated_types
import click
from pydantic import BeforeValidator, ValidationError
from pydantic.fields import FieldInfo

from ntrader.cli.params import DATE, TIMEFRAME, parse_params
from ntrader.models.backtest import SIZE_FIELDS, BacktestConfig
from ntrader.models.enums import SizingMode, Timeframe

if TYPE_CHECKING:
    from ntrader.models.config_file import BacktestFile, OutputSection
    from ntrader.utils.config_loader import ConfigSources

# Option parameter -> the BacktestConfig field it sets; the flag is --NAME with dashes.
FIELD_OPTIONS = {
    "start": "start",
    "end": "end",
    "timeframe": "timeframe",
    "capital": "initial_capital",
    "sizing": "sizing",
    "risk_per_trade_pct": "risk_per_trade_pct",
    "position_pct": "position_pct",
    "position_units": "position_units",
    "max_position_pct": "max_position_pct",
    "allocation": "allocation",
    "fill_at": "fill_at",
    "stop_loss": "stop_loss_atr",
    "take_profit": "take_profit_r",
    "trailing_stop": "trailing_stop_atr",
    "slippage_bps": "slippage_bps",
    "benchmark": "benchmark",
    "risk_free_rate": "risk_free_rate",
}
_SPECIAL_TYPES: dict[type, click.ParamType] = {date: DATE, Timeframe: TIMEFRAME}
_DEFAULT_STRATEGY = "sma_crossover"
_DEFAULT_COMMISSION = "1.0"


def flag_of(parameter: str) -> str:
    return "--" + parameter.replace("_", "-")


def field_bounds(info: FieldInfo) -> dict[str, float]:
    """The field's numeric limits: any of ``ge``, ``gt``, ``le``, ``lt``."""
    bounds: dict[str, float] = {}
    for constraint in info.metadata:
        for name in ("ge", "gt", "le", "lt"):
            if isinstance(constraint, getattr(annotated_types, name.title())):
                bounds[name] = getattr(constraint, name)
    return bounds


def describe_bounds(bounds: dict[str, float]) -> str:
    """``1000 <= x <= 1.7e+13`` (or ``x >= 1``) for help texts; '' without limits."""
    low = next((f"{bounds[op]:g} {sign} " for op, sign in _LOW if op in bounds), "")
    high = next((f" {sign} {bounds[op]:g}" for op, sign in _HIGH if op in bounds), "")
    if low and not high:  # x >= 1 reads better than 1 <= x
        value, sign = low.split()
        return f"x {'>=' if sign == '<=' else '>'} {value}"
    return f"{low}x{high}" if low or high else ""


_LOW = (("ge", "<="), ("gt", "<"))
_HIGH = (("le", "<="), ("lt", "<"))


def _value_type(info: FieldInfo) -> type:
    """The field's type without ``| None``."""
    annotation = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
    assert isinstance(annotation, type)
    return annotation


def _click_type(info: FieldInfo) -> click.ParamType | type:
    kind = _value_type(info)
    if kind in _SPECIAL_TYPES:
        return _SPECIAL_TYPES[kind]
    if issubclass(kind, enum.Enum):
        return click.Choice([member.value for member in kind], case_sensitive=False)
    if any(isinstance(item, BeforeValidator) for item in info.metadata):
        return str  # written like atr:2; the field parses it
    return kind


def _click_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    return value


def field_option(parameter: str, field: str) -> Callable[[Any], Any]:
    """A click option for BacktestConfig's ``field``: its type, default and description,
    with its limits shown in the help (the configuration enforces them)."""
    info = BacktestConfig.model_fields[field]
    default = _click_default(info.get_default(call_default_factory=True))
    limits = describe_bounds(field_bounds(info))
    help_text = (info.description or "") + (f" [{limits}]" if limits else "")
    return click.option(
        flag_of(parameter),
        parameter,
        type=_click_type(info),
        default=default,
        show_default=default is not None,
        help=help_text,
    )


_LEADING_OPTIONS = (
    click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="YAML configuration file (see configs/examples/); flags given too override it.",
    ),
    click.option(
        "--strategy",
        default=_DEFAULT_STRATEGY,
        show_default=True,
        help="A stored strategy's name, or a strategy type (sma_crossover; alias sma).",
    ),
    click.option(
        "--instruments", default=None, help="Comma-separated symbols, e.g. AAPL or AAPL,SPY."
    ),
)
_TRAILING_OPTIONS = (
    click.option(
        "--position-size",
        type=float,
        default=None,
        help="Old name of the sizing mode's size: --risk-per-trade-pct (risk), "
        "--position-pct (percent) or --position-units (fixed).",
    ),
    click.option(
        "--commission",
        default=_DEFAULT_COMMISSION,
        show_default=True,
        help="Commission: AMOUNT per order, per_share:0.005, ibkr, or percentage:0.1.",
    ),
    click.option("--fast-period", type=int, default=None, help="SMA crossover: fast period."),
    click.option("--slow-period", type=int, default=None, help="SMA crossover: slow period."),
    click.option(
        "--param",
        "params",
        multiple=True,
        help="Strategy parameter as key=value (repeatable or comma-separated).",
    ),
)


def run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Every option of ``backtest run``; the command receives them as keyword arguments
    (``config_file`` and the rest) to hand to ``config_from_options``."""
    derived = [field_option(parameter, field) for parameter, field in FIELD_OPTIONS.items()]
    for option in reversed([*_LEADING_OPTIONS, *derived, *_TRAILING_OPTIONS]):
        command = option(command)
    return command


def _given(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source is not click.core.ParameterSource.DEFAULT


def config_from_options(
    ctx: click.Context, options: dict[str, Any]
) -> tuple[BacktestConfig, ConfigSources, OutputSection | None]:
    """The run configuration ``run_options`` describe: a ``--config`` file's with the flags
    given on top, or the flags alone; where each value came from; the file's output section."""
    from ntrader.utils.config_loader import load_backtest_file

    config_file: Path | None = options.get("config_file")
    file = load_backtest_file(config_file) if config_file is not None else None
    config, sources = _build_config(ctx, config_file, file, options)
    return config, sources, file.output if file is not None else None


def _build_config(
    ctx: click.Context,
    config_file: Path | None,
    file: BacktestFile | None,
    options: dict[str, Any],
) -> tuple[BacktestConfig, ConfigSources]:
    from ntrader.core.errors import UserInputError
    from ntrader.models.execution import CommissionModel
    from ntrader.models.validation import describe_validation_error
    from ntrader.utils.config_loader import ConfigSources, validate_config

    given = [name for name in options if _given(ctx, name)]
    overrides: dict[str, Any] = {
        field: options[name] for name, field in FIELD_OPTIONS.items() if name in given
    }
    flags = {field: flag_of(name) for name, field in FIELD_OPTIONS.items() if name in given}
    if "strategy" in given:
        overrides["strategy_type"] = options["strategy"]
        flags["strategy_type"] = "--strategy"
    if "instruments" in given:
        overrides["instruments"] = options["instruments"]
        flags["instruments"] = "--instruments"
    parameters = parse_params(options.get("params", ()))
    flags.update({f"parameters.{name}": "--param" for name in parameters})
    for name in ("fast_period", "slow_period"):
        if options.get(name) is not None:
            parameters[name] = options[name]
            flags[f"parameters.{name}"] = flag_of(name)
    if "commission" in given or file is None:
        try:
            overrides["commission"] = CommissionModel.parse(options["commission"])
        except ValueError as exc:
            reason = (
                describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
            )
            raise UserInputError(
                f"Invalid commission {options['commission']!r}: {reason}.",
                hint="Use an amount per order (1.0), per_share:0.005, ibkr, or percentage:0.1.",
            ) from exc
        flags["commission"] = "--commission"
    file_keys: dict[str, str] = {}
    if file is not None:
        base = file.to_config().model_dump()
        file_keys = file.key_paths()
        if "strategy_type" in overrides:  # another strategy: the file's one is not used
            base["parameters"], base["strategy_name"] = {}, None
            file_keys = {k: v for k, v in file_keys.items() if not k.startswith("parameters.")}
    elif options.get("instruments") is None:
        raise click.UsageError("Give --instruments (or a --config file).")
    else:
        base = {"strategy_type": options["strategy"]}
    base["parameters"] = {**base.get("parameters", {}), **parameters}
    if "benchmark" in overrides:
        overrides["benchmark"] = overrides["benchmark"].upper()
    merged = {**base, **overrides}
    mode = _sizing_mode(merged.get("sizing", SizingMode.RISK))
    if mode is not None:
        if options.get("position_size") is not None:
            _apply_position_size(options["position_size"], SIZE_FIELDS[mode], merged, flags)
        if file is not None:
            # A file's size for another mode than the one in use (a --sizing flag chose
            # another) does not apply.
            for field in SIZE_FIELDS.values():
                if field != SIZE_FIELDS[mode] and field not in flags:
                    merged[field] = None
                    file_keys.pop(field, None)
    sources = ConfigSources(file=config_file, file_keys=file_keys, flags=flags)
    return validate_config(merged, sources), sources


def _sizing_mode(value: Any) -> SizingMode | None:
    """The sizing mode ``value`` names; None leaves the refusal to the configuration."""
    try:
        return SizingMode(str(getattr(value, "value", value)).lower())
    except ValueError:
        return None


def _apply_position_size(
    size: float, field: str, values: dict[str, Any], flags: dict[str, str]
) -> None:
    """``--position-size``: the old flag, setting the size of the sizing mode in use."""
    if field in flags:
        raise click.UsageError(
            f"--position-size is the old name of {flags[field]}: give only {flags[field]}."
        )
    values[field] = size
    flags[field] = "--position-size"
