"""How results look: rich tables for people, JSON for scripts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ntrader.cli.output import (
    TONE_STYLE,
    print_json,
    print_line,
    print_success,
    print_warning,
    status_label,
    stdout,
    styled,
)
from ntrader.models.enums import RunStatus, Timeframe
from ntrader.services.reports import catalog
from ntrader.services.reports.catalog import Kind, Metric
from ntrader.utils.timeutil import ns_to_datetime

if TYPE_CHECKING:
    from ntrader.models.backtest import BacktestConfig, RunRecord
    from ntrader.models.bars import BarCoverage
    from ntrader.models.metrics import Metrics, TradingMetrics
    from ntrader.services.backtest_service import BacktestOutcome, RerunComparison
    from ntrader.services.data_service import ImportResult
    from ntrader.services.simulation import SimulationResult


def fmt_ts(ts_ns: int, timeframe: Timeframe) -> str:
    stamp = ns_to_datetime(ts_ns)
    if timeframe is Timeframe.DAILY:
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def render_import_result(result: ImportResult, *, json_output: bool) -> None:
    first = fmt_ts(result.first_ts, result.timeframe)
    last = fmt_ts(result.last_ts, result.timeframe)
    if json_output:
        print_json(
            {
                "file": str(result.file),
                "instrument_id": result.instrument_id,
                "timeframe": result.timeframe.value,
                "rows_in_file": result.rows_in_file,
                "rows_imported": result.rows_imported,
                "rows_replaced": result.rows_replaced,
                "rows_already_present": result.rows_already_present,
                "first_bar": first,
                "last_bar": last,
                "price_precision": result.price_precision,
                "data_version": result.data_version,
                "seconds": round(result.seconds, 3),
            }
        )
        return
    if result.rows_imported == result.rows_replaced == 0:
        print_success(
            f"{result.file.name}: all {result.rows_in_file:,} bars were already stored; "
            "nothing added."
        )
    else:
        replaced = f", replaced {result.rows_replaced:,}" if result.rows_replaced else ""
        print_success(
            f"Imported {result.rows_imported:,} {result.timeframe.value} bars of "
            f"{result.instrument_id} from {result.file.name}{replaced}"
        )
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_row("rows imported", f"{result.rows_imported:,}")
    table.add_row("rows replaced", f"{result.rows_replaced:,}")
    table.add_row("rows already present", f"{result.rows_already_present:,}")
    table.add_row("data version", str(result.data_version))
    table.add_row("date range", f"{first} → {last}")
    rate = result.rows_in_file / result.seconds if result.seconds > 0 else 0
    table.add_row("time", f"{result.seconds:.2f} s ({rate:,.0f} rows/s)")
    stdout().print(table)


def render_coverage(rows: Sequence[BarCoverage], *, json_output: bool) -> None:
    if json_output:
        print_json(
            [
                {
                    "instrument_id": row.instrument_id,
                    "timeframe": row.timeframe.value,
                    "rows": row.rows,
                    "first_bar": fmt_ts(row.first_ts, row.timeframe),
                    "last_bar": fmt_ts(row.last_ts, row.timeframe),
                }
                for row in rows
            ]
        )
        return
    if not rows:
        print_warning(
            "No bars are stored yet. Import some with "
            "`ntrader data import --file F.csv --instrument SYMBOL`."
        )
        return
    table = Table(title="Stored bars", title_justify="left")
    table.add_column("Instrument", style="bold cyan")
    table.add_column("Timeframe")
    table.add_column("Rows", justify="right")
    table.add_column("First bar")
    table.add_column("Last bar")
    for row in rows:
        table.add_row(
            styled(row.instrument_id),
            row.timeframe.value,
            f"{row.rows:,}",
            fmt_ts(row.first_ts, row.timeframe),
            fmt_ts(row.last_ts, row.timeframe),
        )
    stdout().print(table)


def _metric_row(metrics: Metrics, key: str) -> tuple[str, str, str]:
    metric = catalog.by_key(key)
    return (
        metric.label,
        catalog.format_metric(metrics, metric),
        TONE_STYLE[catalog.metric_tone(metrics, metric)],
    )


def summary_rows(
    metrics: Metrics, final_equity: float, initial: float
) -> list[tuple[str, str, str]]:
    """The headline metrics, labelled and formatted by the catalog as every report is."""
    return [
        *(
            _metric_row(metrics, key)
            for key in ("total_return", "cagr", "sharpe_ratio", "max_drawdown", "volatility")
        ),
        ("Trades", trade_count(metrics.trading), TONE_STYLE["neutral"]),
        *(_metric_row(metrics, key) for key in ("win_rate", "profit_factor", "benchmark_return")),
        ("Initial capital", catalog.format_value(Kind.MONEY, initial), TONE_STYLE["neutral"]),
        (
            "Final equity",
            catalog.format_value(Kind.MONEY, final_equity),
            TONE_STYLE[catalog.sign_tone(final_equity - initial)],
        ),
    ]


def trade_count(trading: TradingMetrics) -> str:
    """Closed round trips and positions still open at the end, apart ("3 closed, 1 open");
    runs stored before open positions were counted show the closed ones alone."""
    if trading.open_trades is None:
        return catalog.format_value(Kind.COUNT, trading.total_trades)
    return f"{trading.closed_trades:,} closed, {trading.open_trades:,} open"


def render_summary_table(title: str, metrics: Metrics, final_equity: float, initial: float) -> None:
    print_line(styled(title, "bold"))
    table = Table(show_header=False)
    table.add_column("Metric", style="bold")
    table.add_column("Value", justify="right")
    for label, value, style in summary_rows(metrics, final_equity, initial):
        table.add_row(label, styled(value, style))
    stdout().print(table)


def _figure_cell(metric: Metric, value: float | None) -> Text:
    return styled(metric.format(value), TONE_STYLE[metric.tone(value)])


def render_per_instrument(metrics: Metrics) -> None:
    """Each instrument's share, for runs on more than one (every figure in the catalog; runs
    stored before some figures were kept show a dash for them)."""
    figures = metrics.per_instrument or {}
    if len(figures) < 2:
        return
    table = Table(title="Per instrument", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("Instrument")
    for metric in catalog.INSTRUMENT_FIGURES:
        table.add_column(metric.label, justify="right")
    for instrument_id, row in figures.items():
        table.add_row(
            styled(instrument_id),
            *(_figure_cell(metric, row.value(metric.key)) for metric in catalog.INSTRUMENT_FIGURES),
        )
    stdout().print(table)


def simulation_payload(result: SimulationResult, initial: float) -> dict[str, Any]:
    return {
        "metrics": result.metrics,
        "initial_capital": initial,
        "final_equity": result.final_equity,
        "bars": result.bars_used,
        "engine_seconds": round(result.engine_seconds, 4),
    }


def execution_line(config: BacktestConfig, metrics: Metrics | None) -> str:
    """Fill timing, sizing, cap, exits and exposure: what a reader needs to judge the run."""
    from ntrader.services.reports.text import describe_exposure

    return (
        f"Fills {config.describe_fill()} · {config.describe_sizing()}, capped at "
        f"{config.max_position_pct:g}% of equity · {config.describe_allocation()}"
        f"exits: {config.describe_exits()} · "
        f"exposure {describe_exposure(metrics)}"
    )


def render_backtest_outcome(outcome: BacktestOutcome, *, json_output: bool) -> None:
    run, result = outcome.run, outcome.result
    config = run.config
    if json_output:
        print_json(
            {
                "id": run.id,
                "status": run.status.value,
                "config": config.model_dump(mode="json"),
                "trades_count": run.trades_count,
                "data_fingerprint": run.data_fingerprint,
                "warnings": list(outcome.warnings),
                **simulation_payload(result, config.initial_capital),
            }
        )
        return
    for warning in outcome.warnings:
        print_warning(warning)
    title = (
        f"{config.strategy_type} on {', '.join(config.instruments)} "
        f"{config.timeframe.value} {config.start} → {config.end}"
    )
    render_summary_table(title, result.metrics, result.final_equity, config.initial_capital)
    render_per_instrument(result.metrics)
    print_line(styled(execution_line(config, result.metrics)))
    print_line(
        styled(
            f"Run {run.id} · {result.bars_used:,} bars · "
            f"engine {result.engine_seconds:.2f} s · `ntrader backtest show {run.id[:8]}`",
            "dim",
        )
    )


_STATUS_STYLE = {
    RunStatus.COMPLETED: "green",
    RunStatus.FAILED: "red",
    RunStatus.INTERRUPTED: "yellow",
    RunStatus.RUNNING: "cyan",
    RunStatus.PENDING: "dim",
}


def run_payload(run: RunRecord) -> dict[str, Any]:
    return run.model_dump(mode="json")


def _status_text(run: RunRecord) -> str:
    from ntrader.services.liveness import is_stale

    if is_stale(run):
        return f"[yellow]{status_label(run.status.value, stale=True)}[/]"
    return f"[{_STATUS_STYLE[run.status]}]{run.status.value}[/]"


def render_run_list(runs: Sequence[RunRecord], *, json_output: bool, ids_only: bool) -> None:
    from ntrader.services.liveness import is_stale

    if json_output:
        print_json([{**run_payload(run), "stale": is_stale(run)} for run in runs])
        return
    if ids_only:
        for run in runs:
            stdout().print(run.id)
        return
    if not runs:
        print_warning("No backtests yet. Run one with `ntrader backtest run` or `ntrader demo`.")
        return
    # Every header must stay whole on an 80-column terminal: the creation time only shows
    # when there is room, and the long cells fold instead of cutting the headers.
    wide = stdout().width >= 100
    columns = ["ID", *(["Created"] if wide else []), "Strategy", "Symbols", "Period", "Status"]
    table = Table(
        title="Backtests (newest first)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        show_edge=False,
    )
    for column in (*columns, "Return", "Sharpe", "Params"):
        table.add_column(
            column,
            justify="right" if column in {"Return", "Sharpe"} else "left",
            no_wrap=column in {"ID", "Created", "Period", "Status", "Return", "Sharpe"},
            min_width=len(column),
            overflow="fold",
        )
    total, sharpe = catalog.by_key("total_return"), catalog.by_key("sharpe_ratio")
    for run in runs:
        config = run.config
        table.add_row(
            styled(run.id[:8], "cyan"),
            *([run.created_at.strftime("%m-%d %H:%M")] if wide else []),
            styled(config.strategy_name or config.strategy_type),
            styled(",".join(i.split(".")[0] for i in config.instruments)),
            f"{config.start}\n{config.end}\n{config.timeframe.value}",
            _status_text(run),
            *(_metric_cell(run.metrics, metric) for metric in (total, sharpe)),
            styled(compact_params(config.strategy_type, config.parameters)),
        )
    stdout().print(table)


def _metric_cell(metrics: Metrics | None, metric: Metric) -> Text:
    """A metric of a listed run; a dash for runs without metrics (failed, still running)."""
    if metrics is None:
        return styled(catalog.format_value(metric.kind, None))
    return styled(
        catalog.format_metric(metrics, metric), TONE_STYLE[catalog.metric_tone(metrics, metric)]
    )


def render_run_detail(run: RunRecord, *, json_output: bool) -> None:
    if json_output:
        print_json(run_payload(run))
        return
    config = run.config
    details = Table(show_header=False, box=None, padding=(0, 2))
    details.add_row("status", _status_text(run))
    if run.error_message:
        details.add_row("error", styled(run.error_message, "red"))
    label = (
        f"{config.strategy_name} ({config.strategy_type})"
        if config.strategy_name
        else (config.strategy_type)
    )
    details.add_row("strategy", styled(f"{label} {config.parameters}"))
    details.add_row("instruments", styled(", ".join(config.instruments)))
    details.add_row("period", f"{config.start} → {config.end} ({config.timeframe.value})")
    details.add_row("capital", catalog.format_value(Kind.MONEY, config.initial_capital))
    details.add_row(
        "execution",
        styled(
            f"commission {config.commission.describe()}, slippage {config.slippage_bps:g} bps, "
            f"benchmark {config.benchmark}"
        ),
    )
    details.add_row("orders", styled(execution_line(config, run.metrics)))
    details.add_row("created", run.created_at.isoformat(timespec="seconds"))
    if run.duration_seconds is not None:
        details.add_row("duration", f"{run.duration_seconds:.2f} s")
    if run.trades_count is not None:
        details.add_row(
            "trades", f"{run.trades_count} ({run.winning_trades} won, {run.losing_trades} lost)"
        )
    details.add_row("data fingerprint", styled(run.data_fingerprint or "—"))
    details.add_row(
        "versions", styled(f"ntrader {run.ntrader_version}, nautilus {run.nautilus_version}")
    )
    stdout().print(Panel(details, title=styled(f"Backtest {run.id}"), title_align="left"))
    if run.metrics:
        final = config.initial_capital * (1 + run.metrics.returns.total_return)
        render_summary_table("Metrics", run.metrics, final, config.initial_capital)


def render_rerun(comparison: RerunComparison, *, json_output: bool) -> None:
    new_run = comparison.outcome.run
    if json_output:
        print_json(
            {
                "original_id": comparison.original.id,
                "new_id": new_run.id,
                "same_data": comparison.same_data,
                "identical": comparison.identical,
                "differences": [
                    {"metric": name, "before": before, "after": after}
                    for name, before, after in comparison.differences()
                ],
            }
        )
        return
    render_backtest_outcome(comparison.outcome, json_output=False)
    if comparison.identical:
        print_success(
            f"Identical to {comparison.original.id[:8]}: same data fingerprint, same metrics."
        )
        return
    if not comparison.same_data:
        print_warning(
            f"The stored bars changed since {comparison.original.id[:8]} ran "
            "(different data fingerprint), so the results may differ."
        )
    table = Table(title="Changed metrics", title_justify="left")
    for column in ("Metric", "Before", "After"):
        table.add_column(column)
    for name, before, after in comparison.differences():
        table.add_row(styled(name), styled(before), styled(after))
    stdout().print(table)


if TYPE_CHECKING:
    from ntrader.services.run_history import DeletionPlan, DeletionResult


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def render_deletion_plan(plan: DeletionPlan) -> None:
    """The runs a delete or prune is about to remove, and what goes with each."""
    table = Table(
        title=f"To delete: {_plural(len(plan.items), 'backtest')}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for column in ("ID", "Created", "Strategy", "Status", "Trades", "Snapshots", "Reports"):
        numeric = column in {"Trades", "Snapshots", "Reports"}
        table.add_column(
            column,
            justify="right" if numeric else "left",
            overflow="fold",
            no_wrap=column != "Strategy",
        )
    for item in plan.items:
        config = item.run.config
        table.add_row(
            styled(item.run.id[:8], "cyan"),
            item.run.created_at.strftime("%Y-%m-%d"),
            styled(config.strategy_name or config.strategy_type),
            _status_text(item.run),
            f"{item.trades:,}",
            f"{item.snapshots:,}",
            f"{len(item.reports):,}",
        )
    stdout().print(table)


def render_deletion_result(result: DeletionResult, *, json_output: bool) -> None:
    if json_output:
        print_json(
            {
                "deleted": list(result.run_ids),
                "trades": result.trades,
                "snapshots": result.snapshots,
                "reports": result.reports,
                "configurations": result.configurations,
                "report_files": [
                    {"path": f.path, "outcome": f.outcome, "reason": f.reason} for f in result.files
                ],
            }
        )
        return
    print_success(
        f"Deleted {_plural(len(result.run_ids), 'backtest')} with "
        f"{_plural(result.trades, 'trade')}, {_plural(result.snapshots, 'portfolio snapshot')}, "
        f"{_plural(result.reports, 'report record')} and "
        f"{_plural(result.configurations, 'configuration')} no other run used."
    )
    for outcome, heading in (("deleted", "Report files deleted:"), ("kept", "Report files kept:")):
        files = [f for f in result.files if f.outcome == outcome]
        if files:
            stdout().print(heading)
        for f in files:
            stdout().print(styled(f"  {f.path}" + (f" ({f.reason})" if f.reason else "")))


def compact_params(strategy_type: str, parameters: dict[str, Any]) -> str:
    """``fast=10 slow=30``: each parameter with ``_period`` dropped from its name, leaving out
    switched-off extras at their default (``allow_short=False``, ``entry_threshold=0``)."""
    from ntrader.core import strategy_registry
    from ntrader.core.errors import UserInputError

    try:
        specs = strategy_registry.resolve(strategy_type).parameter_specs()
    except UserInputError:  # a user strategy whose module is not loaded: show everything
        specs = ()
    defaults = {spec.name: spec.default for spec in specs}
    parts = []
    for name, value in parameters.items():
        if name in defaults and not value and value == defaults[name]:
            continue
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        parts.append(f"{name.removesuffix('_period')}={shown}")
    return " ".join(parts)
