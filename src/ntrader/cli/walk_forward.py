"""``ntrader backtest walk-forward``: optimise on rolling (or anchored) training windows and
judge each winner on the window after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ntrader.cli.context import app_context, common_options, take_over_option
from ntrader.cli.output import (
    print_json,
    print_line,
    print_success,
    print_warning,
    status_label,
    stderr,
    stdout,
    styled,
)
from ntrader.cli.run_options import config_from_options, run_options
from ntrader.cli.sweep import (
    SWEEP_OPTIONS,
    add_parameter_column,
    executor_options,
    parameter_values,
    space_options,
    sweep_executor,
    sweep_spec,
)
from ntrader.models.enums import RunStatus
from ntrader.services.reports.catalog import Kind, format_value, objective_metric

if TYPE_CHECKING:
    from ntrader.models.walk_forward import WalkForwardRecord, WalkForwardResult

_WINDOW_OPTIONS = ("train", "test", "step", "anchored", "fmt", "output")


@click.group("walk-forward", invoke_without_command=True)
@click.option("--train", help="Training window: 12M, 90D, 2W, 1Y.  [required]")
@click.option("--test", help="Test window that follows each training one: 3M.  [required]")
@click.option("--step", default=None, help="How far each window moves on [default: --test].")
@click.option(
    "--anchored",
    is_flag=True,
    help="Every training window starts at --start (it grows) instead of rolling.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "html"], case_sensitive=False),
    default="table",
    show_default=True,
    help="html also writes the report: stitched out-of-sample equity against buy-and-hold.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --format html: the file [default: ./reports/<id-prefix>_walk_forward.html].",
)
@space_options
@executor_options
@run_options
@common_options
@click.pass_context
def walk_forward(ctx: click.Context, **options: Any) -> None:
    """Optimise a strategy on each training window with a sweep, run the best parameters
    on the test window after it, and chain the test runs into one out-of-sample curve.

    --start/--end bound the whole analysis. Each window's sweep and test run are stored
    like any other; the walk-forward efficiency is the out-of-sample objective over the
    in-sample one, both annualised (docs/research.md, "Walk-forward").

    \b
    Examples:
      ntrader backtest walk-forward --strategy sma_crossover --instruments AAPL \\
          --start 2019-01-01 --end 2024-12-31 --grid fast_period=5,10,20 \\
          --grid slow_period=40,80 --train 12M --test 3M
      ntrader backtest walk-forward --instruments AAPL --grid fast_period=5,10 \\
          --train 2Y --test 6M --step 6M --anchored --format html --output wf.html
      ntrader backtest walk-forward --instruments AAPL --grid fast_period=5,10 \\
          --train 12M --test 3M --objective total_return --workers 1 --json
      ntrader backtest walk-forward show latest
    """
    if ctx.invoked_subcommand is not None:
        return
    from ntrader.core.errors import UserInputError
    from ntrader.services.walk_forward import WalkForwardService, parse_duration
    from ntrader.utils.config_loader import load_backtest_file

    # Required only without a subcommand (a group's options come before `list`, `show`).
    for name in ("train", "test"):
        if options[name] is None:
            param = next(p for p in ctx.command.params if p.name == name)
            raise click.MissingParameter(ctx=ctx, param=param)
    window = {name: options.pop(name) for name in _WINDOW_OPTIONS}
    sweep_options = {name: options.pop(name) for name in SWEEP_OPTIONS}
    html = window["fmt"].lower() == "html"
    if window["output"] is not None and not html:
        raise UserInputError(
            "--output names the HTML report's file.", hint="Add --format html, or drop --output."
        )
    train = parse_duration(window["train"], "--train")
    test = parse_duration(window["test"], "--test")
    step = parse_duration(window["step"], "--step") if window["step"] is not None else None
    config_file: Path | None = options.get("config_file")
    file = load_backtest_file(config_file) if config_file is not None else None
    base, _sources, _output = config_from_options(ctx, options)
    spec = sweep_spec(file.sweep if file is not None else None, sweep_options)
    executor = sweep_executor(sweep_options)
    app = app_context()
    with _progress(enabled=not app.json_output) as progress:
        result = WalkForwardService(app.database).run(
            base,
            spec,
            executor,
            train=train,
            test=test,
            step=step,
            anchored=window["anchored"],
            on_window=progress,
        )
    written = None
    if html:
        from ntrader.services.reports import walk_forward_report
        from ntrader.services.reports.files import default_path

        target = window["output"] or default_path(result.id[:8], "walk_forward", "html")
        written = walk_forward_report.write(result, target)
    if app.json_output:
        print_json({**result.as_dict(), "report": str(written) if written else None})
        return
    _render(result, spec.parameter_names())
    if written is not None:
        print_success(f"Report written to {written}")


@walk_forward.command("resume")
@click.argument("walk_forward_id")
@executor_options
@take_over_option
@common_options
def resume(
    walk_forward_id: str,
    workers: int | None,
    executor: str,
    ray_address: str | None,
    force: bool,
) -> None:
    """Run the windows an INTERRUPTED or FAILED analysis did not finish, with its stored
    configuration and space; the finished windows are kept, and a training sweep cut short
    is continued. WALK_FORWARD_ID: id, unique prefix, or `latest`.

    \b
    Examples:
      ntrader backtest walk-forward resume 3f2a9c1e
      ntrader backtest walk-forward resume latest --workers 2 --json
      ntrader backtest walk-forward resume 3f2a9c1e --force   # its machine was lost
    """
    from ntrader.services.walk_forward import WalkForwardService
    from ntrader.services.walk_forward_history import WalkForwardHistory

    chosen = sweep_executor({"workers": workers, "executor": executor, "ray_address": ray_address})
    app = app_context()
    record = WalkForwardHistory(app.database).get(walk_forward_id)
    with _progress(enabled=not app.json_output) as progress:
        result = WalkForwardService(app.database).resume(record.id, chosen, progress, force=force)
    _show(result, _swept(record))


@walk_forward.command("show")
@click.argument("walk_forward_id")
@common_options
def show(walk_forward_id: str) -> None:
    """A stored analysis as its run printed it: each window's dates, chosen parameters,
    objective in and out of sample and test run, and the efficiency; an unfinished one
    shows the windows it finished. WALK_FORWARD_ID: id, unique prefix, or `latest`.

    \b
    Examples:
      ntrader backtest walk-forward show latest
      ntrader backtest walk-forward show 3f2a9c1e --json
    """
    from ntrader.services.walk_forward_history import WalkForwardHistory

    history = WalkForwardHistory(app_context().database)
    record = history.get(walk_forward_id)
    _show(history.result(record), _swept(record))


@walk_forward.command("list")
@click.option("--last", type=click.IntRange(min=1), default=20, show_default=True)
@common_options
def list_(last: int) -> None:
    """List stored walk-forward analyses, newest first.

    \b
    Example:
      ntrader backtest walk-forward list --last 5
    """
    from ntrader.models.walk_forward import WalkForwardListItem
    from ntrader.services.liveness import is_stale
    from ntrader.services.walk_forward_history import WalkForwardHistory

    app = app_context()
    records = WalkForwardHistory(app.database).list(last)
    items = [WalkForwardListItem.of(r, stale=is_stale(r)) for r in records]
    if app.json_output:
        print_json([item.model_dump(mode="json") for item in items])
        return
    if not items:
        print_warning(
            "No walk-forward analyses yet. Start one with `ntrader backtest walk-forward "
            "--train ... --test ...`."
        )
        return
    table = Table(
        box=box.SIMPLE_HEAD, show_edge=False, title="Walk-forward analyses (newest first)"
    )
    # Names, dates and windows fold on a narrow terminal; ids and statuses stay whole.
    for column, whole in (
        ("ID", True),
        ("Created", False),
        ("Strategy", False),
        ("Symbols", False),
        ("Windows done", False),
        ("WFE", True),
        ("Status", True),
    ):
        table.add_column(column, no_wrap=whole, overflow="fold")
    for item in items:
        table.add_row(
            styled(item.walk_forward_id[:8], "cyan"),
            item.created_at.strftime("%Y-%m-%d %H:%M"),
            styled(item.strategy),
            styled(",".join(item.instruments)),
            f"{item.windows_done} · {item.train}/{item.test}"
            + (" anchored" if item.anchored else ""),
            format_value(Kind.RATIO, item.efficiency),
            status_label(item.status.value, stale=item.stale),
        )
    stdout().print(table)


def _swept(record: WalkForwardRecord) -> list[str]:
    """The parameters the training sweeps searched, whose chosen values matter (an analysis
    stored before 0009 kept no space: every parameter it chose)."""
    if record.spec is not None:
        return record.spec.parameter_names()
    return sorted({name for w in record.windows for name in w.parameters})


def _show(result: WalkForwardResult, swept: list[str]) -> None:
    """The analysis as ``--json`` or as the table its run ends with; an unfinished one says
    why it stopped and how to run the rest."""
    if app_context().json_output:
        print_json(result.as_dict())
        return
    _render(result, swept)
    if result.stale:
        print_warning(
            f"Its process is gone after {len(result.windows)} window(s). Run the rest with "
            f"`ntrader backtest walk-forward resume {result.id[:8]}`."
        )
    if result.status in (RunStatus.INTERRUPTED, RunStatus.FAILED):
        print_warning(
            f"It stopped after {len(result.windows)} window(s): {result.error_message}. Run "
            f"the rest with `ntrader backtest walk-forward resume {result.id[:8]}`."
        )


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Callable[[int, int, int, int], None]]:
    """Windows done, and the current window's sweep runs, on stderr."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]Walk-forward"),
        BarColumn(),
        TextColumn("{task.fields[where]}", markup=False),
        TimeElapsedColumn(),
        console=stderr(),
        transient=True,
        disable=not (enabled and stderr().is_terminal),
    )
    task = progress.add_task("walk-forward", total=None, where="")

    def update(windows_done: int, windows: int, runs_done: int, runs: int) -> None:
        where = f"window {min(windows_done + 1, windows)}/{windows}"
        if runs:
            where += f" · training run {runs_done}/{runs}"
        progress.update(task, completed=windows_done, total=windows, where=where)

    with progress:
        yield update


def _render(result: WalkForwardResult, swept: list[str]) -> None:
    """``swept``: the parameters the training sweeps search, whose chosen values matter."""
    for warning in result.warnings:
        print_warning(warning)
    config = result.config
    settings = result.settings
    mode = "anchored" if settings["anchored"] else "rolling"
    table = Table(
        title=f"Walk-forward {result.id[:8]} · {config.strategy_type} on "
        f"{', '.join(config.instruments)} · train {settings['train']}, test "
        f"{settings['test']}, step {settings['step']}, {mode}"
        + (
            ""
            if result.status is RunStatus.COMPLETED
            else f" · {status_label(result.status.value, stale=result.stale)}"
        ),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    table.add_column("#", justify="right")
    for column in ("Train", "Test"):
        # "START → END" wraps after the arrow on a narrow terminal, never inside a date.
        table.add_column(column, min_width=len("2000-01-01 →"))
    add_parameter_column(table, swept)
    objective = objective_metric(result.objective)
    for column in ("IS", "OOS"):  # the objective in and out of sample: see the line below
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("Test run", no_wrap=True)
    for number, w in enumerate(result.windows, start=1):
        table.add_row(
            str(number),
            f"{w.window.train_start} → {w.window.train_end}",
            f"{w.window.test_start} → {w.window.test_end}",
            parameter_values(swept, w.parameters),
            objective.format(w.in_sample),
            objective.format(w.out_of_sample),
            styled(w.test_run_id[:8], "cyan"),
        )
    stdout().print(table)
    summary = result.as_dict()
    print_line(
        styled(
            f"IS / OOS: the {objective.label.lower()} on each training window (its best point) "
            f"and on the test window that follows. Out-of-sample return "
            f"{format_value(Kind.PERCENT, summary['out_of_sample_return'])} "
            f"(final equity {format_value(Kind.MONEY, summary['final_equity'])}); walk-forward "
            f"efficiency {format_value(Kind.RATIO, result.efficiency)}."
        )
    )
