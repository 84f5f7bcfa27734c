"""How stored strategies look in the terminal and in JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from ntrader.cli.output import (
    print_json,
    print_line,
    print_success,
    print_warning,
    stdout,
    styled,
)
from ntrader.models.enums import StrategyStatus

if TYPE_CHECKING:
    from ntrader.core.strategy_registry import ParameterSpec, StrategyType
    from ntrader.models.strategy import StrategyRecord
    from ntrader.services.strategy_service import ValidationReport

_STATUS_STYLE = {
    StrategyStatus.DRAFT: "yellow",
    StrategyStatus.ACTIVE: "green",
    StrategyStatus.ARCHIVED: "dim",
}


def _params_text(parameters: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in parameters.items())


def render_strategy_list(records: Sequence[StrategyRecord], *, json_output: bool) -> None:
    if json_output:
        print_json([r.model_dump(mode="json") for r in records])
        return
    if not records:
        print_warning(
            "No strategies stored yet. Create one with "
            "`ntrader strategy create --name NAME --type sma_crossover`."
        )
        return
    table = Table(title="Strategies", title_justify="left")
    for column in ("Name", "Type", "Status", "Parameters", "Updated"):
        table.add_column(column)
    for r in records:
        table.add_row(
            styled(r.name, "bold"),
            styled(r.strategy_type),
            styled(r.status.value, _STATUS_STYLE[r.status]),
            styled(_params_text(r.parameters)),
            r.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
    stdout().print(table)


def render_strategy(record: StrategyRecord, *, json_output: bool, note: str = "") -> None:
    if json_output:
        print_json(record.model_dump(mode="json"))
        return
    if note:
        print_success(f"{record.name}: {note}")
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_row("name", styled(record.name, "bold"))
    table.add_row("type", styled(record.strategy_type))
    table.add_row("status", styled(record.status.value, _STATUS_STYLE[record.status]))
    for key, value in record.parameters.items():
        table.add_row(styled(f"  {key}"), styled(value))
    if record.description:
        table.add_row("description", styled(record.description))
    table.add_row("id", styled(record.id, "dim"))
    stdout().print(table)


def _value_text(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:,g}" if isinstance(value, int | float) else str(value)


def range_text(spec: ParameterSpec) -> str:
    """The bounds as an interval: ``[1, 10,000]``, ``(0, 100)``, ``[0, 1)``, ``[2, ∞)``;
    empty when unbounded."""
    if spec.minimum is not None:
        low = f"[{_value_text(spec.minimum)}"
    elif spec.exclusive_minimum is not None:
        low = f"({_value_text(spec.exclusive_minimum)}"
    else:
        low = "(-∞"
    if spec.maximum is not None:
        high = f"{_value_text(spec.maximum)}]"
    elif spec.exclusive_maximum is not None:
        high = f"{_value_text(spec.exclusive_maximum)})"
    else:
        high = "∞)"
    return "" if (low, high) == ("(-∞", "∞)") else f"{low}, {high}"


def _type_payload(kind: StrategyType) -> dict[str, Any]:
    return {
        "name": kind.name,
        "aliases": list(kind.aliases),
        "description": kind.description,
        "source": kind.source,
        "parameters": kind.params.model_json_schema()["properties"],
    }


def render_strategy_types(kinds: Sequence[StrategyType], *, json_output: bool) -> None:
    if json_output:
        print_json([_type_payload(kind) for kind in kinds])
        return
    table = Table(title="Strategy types", title_justify="left")
    table.add_column("Type", no_wrap=True)
    table.add_column("Aliases")
    table.add_column("Parameters: default, range", no_wrap=True)
    table.add_column("What it does")
    for kind in kinds:
        parameters = "\n".join(
            f"{spec.name}={_value_text(spec.default)} {range_text(spec)}".rstrip()
            for spec in kind.parameter_specs()
        )
        table.add_row(
            styled(kind.name, "bold"),
            styled(", ".join(kind.aliases)),
            styled(parameters),
            styled(kind.description),
        )
    stdout().print(table)
    print_line(styled("Each parameter described: `ntrader strategy types NAME`.", "dim"))


def render_strategy_type(kind: StrategyType, *, json_output: bool) -> None:
    """One type: what it does, and each parameter with its default, range and meaning."""
    if json_output:
        print_json(_type_payload(kind))
        return
    print_line(Text.assemble(styled(kind.name, "bold"), ": ", kind.description))
    if kind.aliases:
        print_line(styled(f"Aliases: {', '.join(kind.aliases)}", "dim"))
    if kind.source != "built-in":
        print_line(styled(f"From {kind.source}", "dim"))
    table = Table(title_justify="left")
    for column in ("Parameter", "Type", "Default", "Range"):
        table.add_column(column, no_wrap=True)
    table.add_column("What it sets")
    for spec in kind.parameter_specs():
        kind_name = spec.kind.__name__ + (" or unset" if spec.optional else "")
        table.add_row(
            styled(spec.name, "bold"),
            styled(kind_name),
            styled(_value_text(spec.default)),
            styled(range_text(spec)),
            styled(spec.description or ""),
        )
    stdout().print(table)


def render_validation(report: ValidationReport, *, json_output: bool) -> None:
    if json_output:
        print_json(
            {
                "name": report.strategy.name,
                "instrument": report.instrument,
                "start": report.start,
                "end": report.end,
                "orders": report.orders,
                "produced_signal": report.produced_signal,
                "status": report.strategy.status.value,
                "run_id": report.run_id,
            }
        )
        return
    period = f"{report.instrument} {report.start} → {report.end}"
    if report.produced_signal:
        print_success(
            f"{report.strategy.name} produced {report.orders} orders on {period}; "
            f"status: {report.strategy.status.value}."
        )
    else:
        print_warning(
            f"{report.strategy.name} produced no signal on {period}; it stays "
            f"{report.strategy.status.value}. Try other parameters or another instrument."
        )
    print_line(styled(f"Run {report.run_id} · `ntrader backtest show {report.run_id[:8]}`", "dim"))
