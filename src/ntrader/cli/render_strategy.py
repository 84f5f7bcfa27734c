"""How stored strategies look in the terminal and in JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table

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


def render_strategy_types(*, json_output: bool) -> None:
    from ntrader.core import strategy_registry

    kinds = [strategy_registry.resolve(name) for name in strategy_registry.known_names()]
    if json_output:
        print_json(
            [
                {
                    "name": kind.name,
                    "aliases": list(kind.aliases),
                    "description": kind.description,
                    "parameters": kind.params.model_json_schema()["properties"],
                }
                for kind in kinds
            ]
        )
        return
    table = Table(title="Strategy types", title_justify="left")
    for column in ("Type", "Aliases", "Parameters (defaults)", "What it does"):
        table.add_column(column)
    for kind in kinds:
        defaults = {name: f.default for name, f in kind.params.model_fields.items()}
        table.add_row(
            styled(kind.name, "bold"),
            styled(", ".join(kind.aliases)),
            styled(_params_text(defaults)),
            styled(kind.description),
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
