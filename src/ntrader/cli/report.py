"""``ntrader report``: summaries of stored runs and report files (text, CSV, JSON, HTML)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ntrader.cli.context import AppContext, app_context, common_options
from ntrader.cli.params import risk_free_rate_option

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

    from ntrader.models.backtest import ReportRecord
    from ntrader.services.reports.analytics import TradeStats
    from ntrader.services.reports.comparison import Comparison
    from ntrader.services.reports.data import RunData

risk_free_option = risk_free_rate_option(
    "Annual risk-free rate as a fraction (0.04 = 4%) for Sharpe, Sortino and alpha. "
    "Default: the metrics stored with the run (at the run's own rate)."
)
output_option = click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write (default: ./reports/<id-prefix>_<format>.<ext>).",
)


@click.group()
def report() -> None:
    """Summaries and report files of stored backtests.

    \b
    RUN ids: the full id, a unique prefix (like git), or `latest`.

    \b
    Examples:
      ntrader report summary latest --detailed
      ntrader report generate --backtest latest --format html
      ntrader report compare --backtests 1a2b3c4d,5e6f7a8b
    """


def _plain(text: str, style: str = "") -> Text:
    from ntrader.cli.output import styled

    return styled(text, style)


def _styled(text: str, tone: str) -> Text:
    from ntrader.cli.output import TONE_STYLE

    return _plain(text, TONE_STYLE[tone])


def _group_tables(data: RunData) -> list[RenderableType]:
    from rich.table import Table

    from ntrader.services.reports.catalog import GROUPS, format_metric, metric_tone, metrics_of

    tables: list[RenderableType] = []
    for group, label in GROUPS:
        table = Table(
            title=label, title_justify="left", title_style="bold", box=None, show_header=False
        )
        table.add_column(no_wrap=True, style="dim")
        table.add_column(justify="right", no_wrap=True)
        for metric in metrics_of(group):
            text = format_metric(data.metrics, metric)
            table.add_row(metric.label, _styled(text, metric_tone(data.metrics, metric).value))
        if group == "benchmark" and data.benchmark is None:
            table.add_row("", _plain(f"no {data.run.config.benchmark} data", "yellow"))
        tables.append(table)
    return tables


def _detail_tables(data: RunData, stats: TradeStats) -> list[RenderableType]:
    from rich import box
    from rich.table import Table

    from ntrader.services.reports.analytics import worst_drawdowns
    from ntrader.services.reports.text import DRAWDOWN_HEADER, drawdown_rows, stats_rows

    facts = Table(
        title="Trades", title_justify="left", title_style="bold", box=None, show_header=False
    )
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column(justify="right")
    for label, value in stats_rows(stats):
        facts.add_row(_plain(label), _plain(value))
    drawdowns = Table(
        title="Worst drawdowns", title_justify="left", title_style="bold", box=box.SIMPLE_HEAD
    )
    for name in DRAWDOWN_HEADER:
        drawdowns.add_column(name, justify="left" if name == "#" else "right")
    for row in drawdown_rows(worst_drawdowns(data.curve.series())):
        drawdowns.add_row(*map(_plain, row))
    return [facts, drawdowns]


def render_summary(data: RunData, stats: TradeStats | None) -> None:
    from rich.columns import Columns
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    from ntrader.cli.output import stdout
    from ntrader.services.reports.catalog import Kind, format_value, sign_tone
    from ntrader.services.reports.sparkline import sparkline

    curve = data.curve
    final = float(curve.values[-1])
    tone = sign_tone(final - curve.initial)
    line = Text.assemble(
        ("Equity", "dim"),
        f" {format_value(Kind.MONEY, curve.initial)} ",
        _styled(sparkline(curve.equity), tone),
        " ",
        _styled(format_value(Kind.MONEY, final), tone),
    )
    parts: list[RenderableType] = [line, "", Columns(_group_tables(data), padding=(0, 4))]
    if stats is not None:
        parts += ["", Columns(_detail_tables(data, stats), padding=(0, 4))]
    rate = format_value(Kind.RATE, data.risk_free_rate)
    stdout().print(
        Panel(
            Group(*parts),
            title=Text.assemble((f"Backtest {data.short_id}", "bold"), f" · {data.title}"),
            title_align="left",
            subtitle=_plain(
                f"risk-free rate {rate} · `ntrader report generate --backtest "
                f"{data.short_id} --format html`"
            ),
            subtitle_align="left",
        )
    )


def _summary_payload(data: RunData, stats: TradeStats | None) -> dict[str, object]:
    from ntrader.services.reports.analytics import worst_drawdowns
    from ntrader.services.reports.json_report import (
        drawdown_document,
        metrics_document,
        run_document,
        stats_document,
    )
    from ntrader.services.reports.sparkline import sparkline

    payload: dict[str, object] = {
        "run": run_document(data),
        "configuration": data.run.config.model_dump(mode="json"),
        "risk_free_rate": data.risk_free_rate,
        "metrics": metrics_document(data.metrics),
        "final_equity": float(data.curve.values[-1]),
        "sparkline": sparkline(data.curve.equity),
    }
    if stats is not None:
        payload["statistics"] = stats_document(stats)
        payload["worst_drawdowns"] = [
            drawdown_document(p) for p in worst_drawdowns(data.curve.series())
        ]
    return payload


@report.command("summary")
@click.argument("run_id")
@click.option(
    "--detailed",
    is_flag=True,
    help="Add trade statistics (largest win/loss, holding time, exposure) and drawdowns.",
)
@risk_free_option
@common_options
def summary(run_id: str, detailed: bool, risk_free_rate: float | None) -> None:
    """Show a run's metrics grouped as returns, risk, trading and benchmark.

    \b
    Examples:
      ntrader report summary latest
      ntrader report summary 1a2b3c4d --detailed
      ntrader report summary latest --risk-free-rate 0.04 --json
    """
    from ntrader.cli.output import print_json
    from ntrader.services.reports.service import ReportService

    ctx = app_context()
    data, stats = ReportService(ctx.database).summary(run_id, risk_free_rate=risk_free_rate)
    shown = stats if detailed else None
    if ctx.json_output:
        print_json(_summary_payload(data, shown))
    else:
        render_summary(data, shown)


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024**2:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024**2:.1f} MB"


def print_written(record: ReportRecord, what: str, *, json_output: bool) -> None:
    """A report record as JSON, or a success line (stderr) and the path (stdout)."""
    from ntrader.cli.output import print_json, print_success, stdout

    if json_output:
        print_json(record.model_dump(mode="json"))
        return
    metadata = record.metadata or {}
    print_success(
        f"Wrote {what} ({_size(int(metadata.get('bytes', 0)))}, "
        f"{float(metadata.get('generation_seconds', 0)):.2f} s)"
    )
    stdout().print(record.file_path, soft_wrap=True, markup=False, highlight=False)


@report.command("generate")
@click.option("--backtest", "run_id", default=None, help="Run id, unique prefix, or `latest`.")
@click.option(
    "--sweep",
    "sweep_id",
    default=None,
    help="A sweep (id, prefix or `latest`) instead of a run: HTML only, with a heatmap of "
    "the objective and the parameter-stability view.",
)
@click.option("--x", "x_parameter", default=None, help="--sweep: the heatmap's x parameter.")
@click.option("--y", "y_parameter", default=None, help="--sweep: the heatmap's y parameter.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "csv", "json", "html"], case_sensitive=False),
    default="html",
    show_default=True,
    help="html: one self-contained page with charts; csv: a directory of "
    "trades.csv, metrics.csv and snapshots.csv.",
)
@output_option
@risk_free_option
@common_options
def generate(
    run_id: str | None,
    sweep_id: str | None,
    x_parameter: str | None,
    y_parameter: str | None,
    fmt: str,
    output: Path | None,
    risk_free_rate: float | None,
) -> None:
    """Write a report file of a run and record it (path and sha256) with the run; or, with
    --sweep, an HTML page of a sweep (x and y default to its two most varied parameters).

    \b
    Examples:
      ntrader report generate --backtest latest
      ntrader report generate --backtest 1a2b3c4d --format json --output run.json
      ntrader report generate --backtest latest --format csv --output exports/run1
      ntrader report generate --sweep latest --x fast_period --y slow_period
    """
    from ntrader.core.errors import UserInputError

    if (run_id is None) == (sweep_id is None):
        raise UserInputError(
            "Give either --backtest or --sweep.",
            hint="`ntrader backtest list` and `ntrader backtest sweep list` show the ids.",
        )
    ctx = app_context()
    if sweep_id is not None:
        if fmt.lower() != "html" or risk_free_rate is not None:
            raise UserInputError(
                "A sweep report is HTML only and uses the rate its runs were computed at.",
                hint="Drop --format (or use html) and --risk-free-rate.",
            )
        _write_sweep_report(ctx, sweep_id, output, x_parameter, y_parameter)
        return
    if x_parameter is not None or y_parameter is not None:
        raise UserInputError("--x and --y apply to --sweep only.", hint="Drop them.")
    from ntrader.services.reports.service import ReportService

    record = ReportService(ctx.database).generate(
        str(run_id), fmt, output, risk_free_rate=risk_free_rate
    )
    print_written(record, f"{fmt.upper()} report", json_output=ctx.json_output)


def _write_sweep_report(
    ctx: AppContext, sweep_id: str, output: Path | None, x: str | None, y: str | None
) -> None:
    from ntrader.cli.output import print_json, print_success, stdout
    from ntrader.services.reports import sweep_report
    from ntrader.services.reports.files import default_path
    from ntrader.services.sweep_history import SweepHistory

    summary = SweepHistory(ctx.database).show(sweep_id)
    target = output or default_path(summary.sweep.id[:8], "sweep", "html")
    path = sweep_report.write(summary, target, x, y)
    if ctx.json_output:
        print_json({"sweep_id": summary.sweep.id, "path": str(path)})
        return
    print_success("Wrote the sweep's HTML report")
    stdout().print(str(path), soft_wrap=True, markup=False, highlight=False)


@report.command("trades")
@click.argument("run_id")
@output_option
@common_options
def trades(run_id: str, output: Path | None) -> None:
    """Export a run's trades to a CSV file (full precision, times in UTC).

    \b
    Example:
      ntrader report trades latest --output trades.csv
    """
    from ntrader.services.reports.service import ReportService

    ctx = app_context()
    record = ReportService(ctx.database).export_trades(run_id, output)
    print_written(record, "trades CSV", json_output=ctx.json_output)


def _split_ids(text: str) -> list[str]:
    from ntrader.core.errors import UserInputError

    refs = [part.strip() for part in text.split(",") if part.strip()]
    if not refs:
        raise UserInputError("No backtest ids given.", hint="Use --backtests ID1,ID2[,ID3...].")
    return refs


def render_comparison(comparison: Comparison) -> None:
    """Side-by-side metrics (best of each row in bold green) and the significance tests."""
    from rich.table import Table
    from rich.text import Text

    from ntrader.cli.output import print_line, stdout
    from ntrader.services.reports.catalog import GROUPS
    from ntrader.services.reports.comparison_report import (
        METHOD_NOTE,
        PSR_NOTE,
        SIGNIFICANCE_HEADER,
        describe_run,
        significance_rows,
    )

    console = stdout()
    for position, label in enumerate(comparison.labels):
        print_line(Text.assemble((label, "bold"), " ", describe_run(comparison, position)))
    metrics = Table(title="Metrics (best in green)", title_justify="left")
    metrics.add_column("Metric", no_wrap=True)
    for label in comparison.labels:
        metrics.add_column(_plain(label), justify="right", no_wrap=True)
    for group, title in GROUPS:
        metrics.add_row(f"[bold]{title}[/]", *([""] * len(comparison.labels)))
        for row in comparison.rows:
            if row.metric.group == group:
                cells = [
                    _plain(text, "bold green" if i in row.best else "")
                    for i, text in enumerate(row.texts)
                ]
                metrics.add_row(f"  {row.metric.label}", *cells)
    console.print(metrics)
    print_line(_plain(PSR_NOTE, "dim"))
    tests = Table(title="Are the differences significant?", title_justify="left")
    for name in SIGNIFICANCE_HEADER:
        tests.add_column(name, justify="left" if name == "Pair" else "right")
    for row in significance_rows(comparison):
        tests.add_row(*map(_plain, row))
    console.print(tests)
    print_line(_plain(METHOD_NOTE, "dim"))


def show_comparison(
    ctx: AppContext, run_refs: Sequence[str], risk_free_rate: float | None = None
) -> Comparison:
    """Compare stored runs on the terminal (or as JSON); ``backtest compare`` uses it too."""
    from ntrader.cli.output import print_json
    from ntrader.services.reports.comparison_report import comparison_document
    from ntrader.services.reports.service import ReportService

    comparison = ReportService(ctx.database).compare(run_refs, risk_free_rate=risk_free_rate)
    if ctx.json_output:
        print_json(comparison_document(comparison))
    else:
        render_comparison(comparison)
    return comparison


@report.command("compare")
@click.option("--backtests", required=True, help="Comma-separated run ids, prefixes or `latest`.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "html"], case_sensitive=False),
    default="text",
    show_default=True,
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write (default: ./reports/compare_<id-prefixes>_<format>.<ext>).",
)
@risk_free_option
@common_options
def compare(backtests: str, fmt: str, output: Path | None, risk_free_rate: float | None) -> None:
    """Compare runs side by side, test whether their daily returns differ significantly,
    and write the comparison as a text or HTML file.

    \b
    Examples:
      ntrader report compare --backtests 1a2b3c4d,5e6f7a8b
      ntrader report compare --backtests 1a2b,5e6f,9c0d --format html --output cmp.html
    """
    from ntrader.cli.output import print_json
    from ntrader.services.reports.comparison_report import comparison_document
    from ntrader.services.reports.service import ReportService

    ctx = app_context()
    service = ReportService(ctx.database)
    comparison = service.compare(_split_ids(backtests), risk_free_rate=risk_free_rate)
    record = service.write_comparison(comparison, fmt, output)
    if ctx.json_output:
        print_json({**comparison_document(comparison), "report": record.model_dump(mode="json")})
        return
    render_comparison(comparison)
    print_written(record, f"{fmt.upper()} comparison", json_output=False)
