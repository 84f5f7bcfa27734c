"""``ntrader backtest sweep``: run a strategy over a grid of parameters and rank the runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ntrader.cli.context import app_context, common_options, take_over_option
from ntrader.cli.output import (
    print_json,
    print_line,
    print_warning,
    status_label,
    stderr,
    stdout,
    styled,
)
from ntrader.cli.run_options import config_from_options, run_options
from ntrader.models.sweep import DEFAULT_CONFIRM_TOP, DEFAULT_OBJECTIVE, OBJECTIVES
from ntrader.services.reports.catalog import Kind, format_value, objective_metric

if TYPE_CHECKING:
    from ntrader.models.sweep import SweepRunView, SweepSpec
    from ntrader.services.sweep_executors import SweepExecutor
    from ntrader.services.sweep_history import SweepSummary

_EXECUTORS = ("local", "ray")
# The options of the sweep itself; the rest are `backtest run`'s.
SWEEP_OPTIONS = (
    "grids",
    "random_ranges",
    "samples",
    "seed",
    "constraints",
    "objective",
    "workers",
    "executor",
    "ray_address",
)
# The screen's options: `backtest sweep` only.
_SCREEN_OPTIONS = ("confirm_top", "no_screen")
_TOP_DEFAULT = 20


def space_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--grid``, ``--random``, ``--samples``, ``--seed``, ``--constraint`` and
    ``--objective``: the points a sweep runs and what ranks them."""
    for option in reversed(
        (
            click.option(
                "--grid",
                "grids",
                multiple=True,
                metavar="NAME=START:STOP:STEP",
                help="A parameter's values: START:STOP:STEP (STOP included) or A,B,C. Repeatable.",
            ),
            click.option(
                "--random",
                "random_ranges",
                multiple=True,
                metavar="NAME=LOW:HIGH",
                help="A parameter drawn at random between LOW and HIGH (with --samples). "
                "Repeatable.",
            ),
            click.option(
                "--samples", type=click.IntRange(1, 10_000), default=None, help="Random draws."
            ),
            click.option(
                "--seed", type=click.IntRange(0, 2**32 - 1), default=None, help="Random seed."
            ),
            click.option(
                "--constraint",
                "constraints",
                multiple=True,
                help="Keep only points where this holds, e.g. 'fast_period < slow_period'. "
                "Repeatable.",
            ),
            click.option(
                "--objective",
                type=click.Choice(list(OBJECTIVES), case_sensitive=False),
                default=None,
                help="The metric that ranks the runs, higher is better "
                f"[default: {DEFAULT_OBJECTIVE}].",
            ),
        )
    ):
        command = option(command)
    return command


def executor_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--workers``, ``--executor`` and ``--ray-address``: where a sweep's runs go."""
    for option in (
        click.option(
            "--ray-address",
            default=None,
            help="With --executor ray: `auto` (the cluster this machine belongs to) or "
            "ray://HOST:PORT; without it a local Ray instance is started for the sweep.",
        ),
        click.option(
            "--executor",
            type=click.Choice(_EXECUTORS, case_sensitive=False),
            default="local",
            show_default=True,
            help="local: a process pool on this machine; ray: tasks on a Ray cluster.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(1, 512),
            default=None,
            help="Runs at once (default: the CPUs this process may use); 1 runs them here.",
        ),
    ):
        command = option(command)
    return command


@click.group("sweep", invoke_without_command=True)
@space_options
@click.option(
    "--confirm-top",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_CONFIRM_TOP,
    show_default=True,
    help="Screen every point with the vectorised screen, then run this many of its best "
    "through the engine (built-in strategies without stops; otherwise every point runs).",
)
@click.option(
    "--no-screen", is_flag=True, help="Run every point through the engine, without a screen."
)
@executor_options
@run_options
@common_options
@click.pass_context
def sweep(ctx: click.Context, **options: Any) -> None:
    """Run a strategy over a grid of parameters, store every run, and rank them.

    Every `backtest run` option applies to all the runs. The bars are read once; the runs
    go to a local process pool (or a Ray cluster), and each is stored like any backtest.
    The ranking comes with the deflated Sharpe ratio of the best run and the probability
    of backtest overfitting (docs/research.md). Ctrl-C keeps the finished runs; `backtest
    sweep resume ID` runs the rest. For the built-in strategies without stops (percent or
    fixed sizing) a vectorised screen ranks every point first and only the best
    --confirm-top run through the engine.

    \b
    Examples:
      ntrader backtest sweep --strategy sma_crossover --instruments AAPL \\
          --start 2019-01-01 --end 2024-12-31 --grid fast_period=5:50:5 \\
          --grid slow_period=20:200:20 --constraint "fast_period < slow_period"
      ntrader backtest sweep --instruments AAPL --grid fast_period=5,10,20 \\
          --objective calmar_ratio --workers 2 --json
      ntrader backtest sweep --config configs/examples/sma_sweep.yaml --executor ray
      ntrader backtest sweep --instruments AAPL --sizing percent --position-pct 10 \\
          --grid fast_period=5:50:5 --grid slow_period=20:200:20 --confirm-top 10
      ntrader backtest sweep --instruments AAPL --grid fast_period=5,10,20 --no-screen
      ntrader backtest sweep show latest
    """
    if ctx.invoked_subcommand is not None:
        return
    from ntrader.services.sweep_service import SweepService
    from ntrader.utils.config_loader import load_backtest_file

    sweep_options = {name: options.pop(name) for name in (*SWEEP_OPTIONS, *_SCREEN_OPTIONS)}
    config_file: Path | None = options.get("config_file")
    file = load_backtest_file(config_file) if config_file is not None else None
    base, _sources, _output = config_from_options(ctx, options)
    spec = sweep_spec(file.sweep if file is not None else None, sweep_options)
    executor = sweep_executor(sweep_options)
    ctx_app = app_context()
    with sweep_progress(enabled=not ctx_app.json_output, objective=spec.objective) as progress:
        summary = SweepService(ctx_app.database).start(
            base,
            spec,
            executor,
            progress,
            confirm_top=None if sweep_options["no_screen"] else sweep_options["confirm_top"],
        )
    render_summary(summary, json_output=ctx_app.json_output, top=_TOP_DEFAULT)


def sweep_spec(from_file: SweepSpec | None, options: dict[str, Any]) -> SweepSpec:
    """The file's ``sweep:`` section with the flags on top: a --grid replaces that
    parameter's grid, --constraint adds to the file's, --objective replaces it."""
    from pydantic import ValidationError

    from ntrader.core.errors import UserInputError
    from ntrader.models.sweep import SweepSpec
    from ntrader.models.validation import describe_validation_error

    base = from_file.model_dump() if from_file is not None else {}
    grid = {**base.get("grid", {}), **_pairs(options["grids"], "--grid")}
    ranges = _pairs(options["random_ranges"], "--random")
    random = base.get("random")
    if ranges or options["samples"] is not None or options["seed"] is not None:
        random = {
            **(random or {}),
            **({"ranges": ranges} if ranges else {}),
            **({"samples": options["samples"]} if options["samples"] is not None else {}),
            **({"seed": options["seed"]} if options["seed"] is not None else {}),
        }
    values = {
        "grid": grid,
        "random": random,
        "constraints": [*base.get("constraints", []), *options["constraints"]],
        "objective": options["objective"] or base.get("objective", DEFAULT_OBJECTIVE),
    }
    try:
        return SweepSpec.model_validate(values)
    except ValidationError as exc:
        raise UserInputError(
            f"Invalid sweep: {describe_validation_error(exc)}.",
            hint="See `ntrader backtest sweep --help`: --random needs --samples, and "
            "--samples needs a --random range.",
        ) from exc


def _pairs(items: tuple[str, ...], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUES.", param_hint=f"'{flag}'")
        pairs[name.strip()] = value.strip()
    return pairs


def sweep_executor(options: dict[str, Any]) -> SweepExecutor:
    from ntrader.services.sweep_executors import default_workers, make_executor

    workers = options["workers"] or default_workers()
    return make_executor(options["executor"].lower(), workers, options["ray_address"])


@sweep.command("resume")
@click.argument("sweep_id")
@executor_options
@take_over_option
@common_options
def resume(
    sweep_id: str, workers: int | None, executor: str, ray_address: str | None, force: bool
) -> None:
    """Run the points of a stored sweep that have no finished run (after Ctrl-C, a crash,
    or deleting some of its runs), then rank them all again. SWEEP_ID: id, prefix, `latest`.

    \b
    Examples:
      ntrader backtest sweep resume 3f2a9c1e
      ntrader backtest sweep resume latest --workers 2 --json
      ntrader backtest sweep resume 3f2a9c1e --force   # its machine was lost
    """
    from ntrader.services.sweep_history import SweepHistory
    from ntrader.services.sweep_service import SweepService

    chosen = sweep_executor({"workers": workers, "executor": executor, "ray_address": ray_address})
    ctx = app_context()
    objective = SweepHistory(ctx.database).get(sweep_id).spec.objective
    with sweep_progress(enabled=not ctx.json_output, objective=objective) as progress:
        summary = SweepService(ctx.database).resume(sweep_id, chosen, progress, force=force)
    render_summary(summary, json_output=ctx.json_output, top=_TOP_DEFAULT)


@sweep.command("show")
@click.argument("sweep_id")
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=_TOP_DEFAULT,
    show_default=True,
    help="Rows of the ranking to print (--json lists every run).",
)
@common_options
def show(sweep_id: str, top: int) -> None:
    """Rank a stored sweep's runs by its objective, with its overfitting statistics.
    SWEEP_ID: id, unique prefix, or `latest`.

    \b
    Examples:
      ntrader backtest sweep show latest
      ntrader backtest sweep show 3f2a9c1e --top 5 --json
    """
    from ntrader.services.sweep_history import SweepHistory

    ctx = app_context()
    render_summary(SweepHistory(ctx.database).show(sweep_id), json_output=ctx.json_output, top=top)


@sweep.command("list")
@click.option("--last", type=click.IntRange(min=1), default=20, show_default=True)
@common_options
def list_(last: int) -> None:
    """List stored sweeps, newest first.

    \b
    Example:
      ntrader backtest sweep list --last 5
    """
    from ntrader.models.sweep import SweepListItem
    from ntrader.services.liveness import is_stale
    from ntrader.services.sweep_history import SweepHistory

    ctx = app_context()
    items = [SweepListItem.of(s, stale=is_stale(s)) for s in SweepHistory(ctx.database).list(last)]
    if ctx.json_output:
        print_json([item.model_dump() for item in items])
        return
    if not items:
        print_warning("No sweeps yet. Start one with `ntrader backtest sweep --grid ...`.")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, title="Sweeps (newest first)")
    for column in ("ID", "Created", "Strategy", "Symbols", "Objective", "Status"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(
            styled(item.sweep_id[:8], "cyan"),
            item.created_at.strftime("%Y-%m-%d %H:%M"),
            styled(item.strategy),
            styled(",".join(item.instruments)),
            item.objective,
            status_label(item.status.value, stale=item.stale),
        )
    stdout().print(table)


@contextmanager
def sweep_progress(
    *, enabled: bool, objective: str
) -> Iterator[Callable[[int, int, SweepRunView | None], None]]:
    """A bar on stderr: runs done, the best objective so far, elapsed time and ETA."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]Sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TextColumn("{task.fields[best]}", markup=False),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr(),
        transient=True,
        disable=not (enabled and stderr().is_terminal),
    )
    task = progress.add_task("sweep", total=None, best="")

    def update(done: int, total: int, best: SweepRunView | None) -> None:
        shown = ""
        if best is not None and best.objective is not None:
            shown = f"best {objective} {best.objective:.3f}"
        progress.update(task, completed=done, total=total, best=shown)

    with progress:
        yield update


def render_summary(summary: SweepSummary, *, json_output: bool, top: int) -> None:
    from ntrader.services.reports.sweep_report import screen_column

    if json_output:
        print_json(summary.as_dict())
        return
    for warning in summary.warnings:
        print_warning(warning)
    if summary.refused:
        print_warning(
            f"{summary.refused} point(s) the strategy refuses were left out "
            f"(e.g. {(summary.refusal or '').rstrip('.')}); a --constraint can exclude them "
            "up front."
        )
    sweep = summary.sweep
    config = sweep.base_config
    view = summary.view()
    table = Table(
        title=f"Sweep {sweep.id[:8]} · {config.strategy_type} on {', '.join(config.instruments)} "
        f"· {config.start} → {config.end} · {status_label(view.status.value, stale=view.stale)}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    varied = summary.sweep.spec.parameter_names()
    screened = any(row.screen is not None for row in summary.rows)
    objective = objective_metric(summary.objective)
    screen_metric, screened_header = screen_column(summary.objective)
    # One column of values under the parameters' names: a narrow terminal folds the
    # names, never the values.
    # Return and drawdown beside the objective, unless it is one of them.
    context = [key for key in ("total_return", "max_drawdown") if key != objective.key]
    headers = {"total_return": "Return", "max_drawdown": "Max DD"}
    columns = [", ".join(varied), objective.label, *(headers[k] for k in context), "Trades", "Run"]
    if screened:
        columns.insert(2, screened_header)
    table.add_column("#", justify="right")
    add_parameter_column(table, varied)
    for column in columns[1:]:
        table.add_column(column, justify="left" if column == "Run" else "right")
    for position, row in enumerate(summary.rows[:top], start=1):
        metrics = row.metrics
        cells = [
            str(position),
            parameter_values(varied, row.parameters),
            objective.format(row.objective),
            *(format_value(Kind.PERCENT, metrics.get(key)) for key in context),
            str(metrics.get("total_trades") if metrics.get("total_trades") is not None else "—"),
            styled(row.run_id[:8] if row.run_id else (row.status or _not_run(row)), "cyan"),
        ]
        if screened:
            cells.insert(3, screen_metric.format(row.screen and row.screen["objective"]))
        table.add_row(*cells)
    stdout().print(table)
    if len(summary.rows) > top:
        print_line(
            styled(f"… {len(summary.rows) - top} more; --top N or --json shows them.", "dim")
        )
    if sweep.error_message:
        print_line(styled(f"Stopped: {sweep.error_message}", "red"))
    if view.stale:
        print_warning(
            f"Its process {sweep.host_pid} is gone; run the rest with "
            f"`ntrader backtest sweep resume {sweep.id[:8]}`."
        )
    print_line(styled(_statistics_line(sweep.statistics)))
    if sweep.statistics and "screen_agreement" in sweep.statistics:
        print_line(styled(_agreement_line(sweep.statistics["screen_agreement"])))


def add_parameter_column(table: Table, names: list[str]) -> None:
    """One column of values under the parameters' names: a narrow terminal folds the
    names, never the values."""
    widest = max((len(name) for name in names), default=0) + 1  # a name and its comma
    table.add_column(", ".join(names), min_width=widest, overflow="fold")


def parameter_values(names: list[str], parameters: dict[str, Any]) -> str:
    return styled(", ".join(str(parameters.get(name)) for name in names))


def _not_run(row: SweepRunView) -> str:
    return "screened only" if row.screen is not None else "not run"


def _agreement_line(agreement: dict[str, Any]) -> str:
    """How the screen's ranking matched the engine's on the points the engine ran."""
    return (
        f"Screen vs engine over {agreement.get('points')} confirmed point(s): Spearman rank "
        f"correlation {format_value(Kind.RATIO, agreement.get('spearman'))}, largest "
        f"objective gap {format_value(Kind.RATIO, agreement.get('max_abs_difference'))} "
        "(the screen's figures are a proxy; its trades are the engine's)."
    )


def _statistics_line(statistics: dict[str, Any] | None) -> str:
    if not statistics:
        return "Overfitting statistics: not computed (fewer than two trials)."
    dsr = statistics.get("deflated_sharpe_ratio")
    pbo = statistics.get("probability_of_overfitting")
    screened = statistics.get("screened_trials")
    trials = f"{statistics.get('trials')} trials"
    if screened:
        trials += f", {screened} of them from the screen"
    parts = [
        f"Deflated Sharpe ratio of the best run: {format_value(Kind.RATIO, dsr)} ({trials})",
        (
            f"probability of backtest overfitting (CSCV, S={statistics.get('cscv_partitions')}): "
            f"{format_value(Kind.RATE, pbo)}"
            if pbo is not None
            else "probability of backtest overfitting: needs at least 4 trials"
        ),
    ]
    return "; ".join(parts) + "."
