"""``ntrader backtest``: run strategies on stored bars and browse the run history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ntrader.cli.context import app_context, common_options, take_over_option
from ntrader.cli.lookahead import lookahead
from ntrader.cli.report import risk_free_option
from ntrader.cli.run_options import config_from_options, run_options
from ntrader.models.enums import RunStatus

if TYPE_CHECKING:
    from ntrader.models.backtest import BacktestConfig
    from ntrader.models.config_file import OutputSection
    from ntrader.services.run_history import DeletionPlan, RunHistory


class _BacktestGroup(click.Group):
    """Loads `backtest sweep` (cli/sweep.py, which reuses `run`'s options) and `backtest
    walk-forward` (cli/walk_forward.py, which reuses the sweep's) on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "sweep", "walk-forward"])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "sweep":
            from ntrader.cli.sweep import sweep

            return sweep
        if cmd_name == "walk-forward":
            from ntrader.cli.walk_forward import walk_forward

            return walk_forward
        return super().get_command(ctx, cmd_name)


@click.group(cls=_BacktestGroup)
def backtest() -> None:
    """Run backtests and look at stored runs.

    \b
    Examples:
      ntrader backtest run --strategy sma --instruments AAPL --start 2020-01-01 --end 2020-12-31
      ntrader backtest list --last 5
      ntrader backtest show latest
    """


@backtest.command("run")
@run_options
@common_options
@click.pass_context
def run(ctx: click.Context, **options: Any) -> None:
    """Run a backtest on stored bars and keep it in the run history.

    \b
    Examples:
      ntrader backtest run --strategy sma_crossover --instruments AAPL \\
          --start 2020-01-01 --end 2020-12-31
      ntrader backtest run --strategy sma --instruments AAPL,SPY --fast-period 10 \\
          --slow-period 50 --commission ibkr --slippage-bps 2 --json
      ntrader backtest run --strategy sma --instruments AAPL --stop-loss atr:2 \\
          --take-profit r:3 --trailing-stop atr:3
      ntrader backtest run --strategy sma --instruments AAPL --sizing percent \\
          --position-pct 100 --max-position-pct 100 --fill-at close
      ntrader backtest run --strategy sma --instruments AAPL --risk-per-trade-pct 0.5
      ntrader backtest run --config configs/examples/sma_config.yaml --start 2021-01-01
    """
    _run_and_render(*_prepared(ctx, options))


@backtest.command("run-config")
@click.argument("config_file", type=click.Path(path_type=Path, dir_okay=False))
@common_options
def run_config(config_file: Path) -> None:
    """Run the backtest a YAML configuration file describes.

    \b
    Example:
      ntrader backtest run-config configs/examples/momentum_config.yaml
    """
    _run_and_render(*_prepared(click.get_current_context(), {"config_file": config_file}))


def _prepared(
    ctx: click.Context, options: dict[str, Any]
) -> tuple[BacktestConfig, OutputSection | None]:
    """The configuration to run and a file's output section, checked as far as they can be
    before the run starts (no run is stored for a refused configuration): merged values,
    strategy parameters, and that the output directory can be written to."""
    from ntrader.core.errors import UserInputError
    from ntrader.services.backtest_service import BacktestService
    from ntrader.utils.config_loader import check_output_directory, explain_parameter_error

    config, sources, output = config_from_options(ctx, options)
    try:
        BacktestService(app_context().database).prepare(config)
    except UserInputError as exc:
        explained = explain_parameter_error(exc, sources)
        if explained is exc:
            raise
        raise explained from exc
    config_file = options.get("config_file")
    if config_file is not None and output is not None and output.directory is not None:
        check_output_directory(output.directory, config_file)
    return config, output


def _run_and_render(config: BacktestConfig, output: OutputSection | None = None) -> None:
    """Run, print the summary, and write the result files a config file's ``output`` asks for."""
    from ntrader.cli.output import print_success
    from ntrader.cli.progress import run_progress
    from ntrader.cli.render import render_backtest_outcome
    from ntrader.services.backtest_service import BacktestService, RunSavedError

    ctx = app_context()
    with run_progress(enabled=not ctx.json_output) as progress:
        outcome = BacktestService(ctx.database).run(
            config, progress.stage, on_progress=progress.bars
        )
        ctx.last_run_id = outcome.run.id
        written = []
        # From here on the run is stored: a failure must say so and name it.
        try:
            if output is not None and output.directory is not None:
                # Imported only here: the report writers are needed by no other run.
                from ntrader.services.reports.service import ReportService

                progress.stage("Writing result files")
                target = output.directory / outcome.run.id[:8]
                reports = ReportService(ctx.database)
                written = [
                    reports.generate(
                        outcome.run.id,
                        "csv",
                        target / "csv",
                        csv_trades=output.save_trades,
                        csv_snapshots=output.save_portfolio_snapshots,
                    ),
                    reports.generate(outcome.run.id, "json", target / "report.json"),
                ]
        except Exception as exc:
            raise RunSavedError(outcome.run.id, "writing the result files", exc) from exc
    try:
        render_backtest_outcome(outcome, json_output=ctx.json_output)
        if written and not ctx.json_output:
            print_success(f"Results written to {written[0].file_path} and {written[1].file_path}")
    except Exception as exc:
        raise RunSavedError(outcome.run.id, "printing its summary", exc) from exc


@backtest.command("list")
@click.option("--strategy", default=None, help="Only runs of this strategy type.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in RunStatus], case_sensitive=False),
    default=None,
)
@click.option("--last", type=click.IntRange(min=1), default=20, show_default=True)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "ids"]),
    default="table",
    show_default=True,
)
@common_options
def list_(strategy: str | None, status: str | None, last: int, output_format: str) -> None:
    """List stored backtests, newest first.

    \b
    Examples:
      ntrader backtest list
      ntrader backtest list --status COMPLETED --strategy sma_crossover --last 5
      ntrader backtest list --format ids
    """
    from ntrader.cli.render import render_run_list
    from ntrader.services.run_history import RunHistory

    ctx = app_context()
    runs = RunHistory(ctx.database).list(
        status=RunStatus(status.upper()) if status else None, strategy=strategy, last=last
    )
    render_run_list(runs, json_output=ctx.json_output, ids_only=output_format == "ids")


@backtest.command("show")
@click.argument("run_id")
@common_options
def show(run_id: str) -> None:
    """Show one run: configuration, metrics, trade count. RUN_ID: id, prefix, or `latest`.

    \b
    Examples:
      ntrader backtest show latest
      ntrader backtest show 1a2b3c4d --json
    """
    from ntrader.cli.render import render_run_detail
    from ntrader.services.run_history import RunHistory

    ctx = app_context()
    render_run_detail(RunHistory(ctx.database).get(run_id), json_output=ctx.json_output)


@backtest.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@risk_free_option
@common_options
def compare(run_ids: tuple[str, ...], risk_free_rate: float | None) -> None:
    """Compare runs side by side: metrics (best highlighted) and whether their daily returns
    differ significantly (paired t-test, Wilcoxon) with a probabilistic Sharpe ratio each.

    \b
    Example:
      ntrader backtest compare 3f2a 9c1e latest
    """
    from ntrader.cli.report import show_comparison

    if len(run_ids) < 2:
        raise click.UsageError("Give at least two runs to compare.")
    show_comparison(app_context(), run_ids, risk_free_rate)


@backtest.command("rerun")
@click.argument("run_id")
@common_options
def rerun(run_id: str) -> None:
    """Run a stored backtest again from its configuration and say if the result is identical.

    The new run reads the same bars when the data has not changed (same fingerprint), and a
    deterministic engine must then give the same metrics.

    \b
    Examples:
      ntrader backtest rerun latest
      ntrader backtest rerun 1a2b3c4d --json
    """
    from ntrader.cli.progress import run_progress
    from ntrader.cli.render import render_rerun
    from ntrader.services.backtest_service import BacktestService

    ctx = app_context()
    with run_progress(enabled=not ctx.json_output) as progress:
        comparison = BacktestService(ctx.database).rerun(run_id, progress.stage, progress.bars)
    ctx.last_run_id = comparison.outcome.run.id
    render_rerun(comparison, json_output=ctx.json_output)


@backtest.command("resume")
@click.argument("run_id")
@take_over_option
@common_options
def resume(run_id: str, force: bool) -> None:
    """Re-run an interrupted backtest (or a stale RUNNING one) into the same record.

    \b
    Examples:
      ntrader backtest resume 1a2b3c4d
      ntrader backtest resume 1a2b3c4d --force   # its machine was lost
    """
    from ntrader.cli.progress import run_progress
    from ntrader.cli.render import render_backtest_outcome
    from ntrader.services.backtest_service import BacktestService

    ctx = app_context()
    with run_progress(enabled=not ctx.json_output) as progress:
        outcome = BacktestService(ctx.database).resume(
            run_id, progress.stage, progress.bars, force=force
        )
    ctx.last_run_id = outcome.run.id
    render_backtest_outcome(outcome, json_output=ctx.json_output)


def _deletion_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--yes``, ``--force`` and ``--delete-files``, shared by ``delete`` and ``prune``."""
    for option in (
        click.option(
            "--yes", "-y", is_flag=True, help="Delete without asking (needed with --json)."
        ),
        click.option(
            "--force",
            is_flag=True,
            help="Also delete RUNNING runs whose process is alive or on another machine.",
        ),
        click.option(
            "--delete-files",
            is_flag=True,
            help="Also delete the runs' report files (kept and listed otherwise); a file another "
            "run's report refers to, or whose content changed, is kept.",
        ),
    ):
        command = option(command)
    return command


@backtest.command("delete")
@click.argument("run_ids", nargs=-1, required=True)
@_deletion_options
@common_options
def delete(run_ids: tuple[str, ...], yes: bool, force: bool, delete_files: bool) -> None:
    """Delete backtests with their trades, portfolio snapshots and report records.

    RUN_IDS: ids, unique prefixes, or `latest`. Shows what will go and asks first. The
    configuration goes too unless another run (a rerun) uses it. Report files stay on disk
    and are listed, unless --delete-files.

    \b
    Example:
      ntrader backtest delete 3f2a 9c1e --delete-files
    """
    from ntrader.services.run_history import RunHistory

    _refuse_json_without_yes(yes)
    history = RunHistory(app_context().database)
    plan = history.plan_delete(run_ids, force=force)
    _confirm_and_delete(history, plan, yes=yes, delete_files=delete_files, none="No backtests")


@backtest.command("prune")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    required=True,
    type=click.Choice([s.value for s in RunStatus], case_sensitive=False),
    help="Delete the runs with this status (repeatable).",
)
@click.option(
    "--older-than",
    metavar="AGE",
    default=None,
    help="Only runs created more than AGE ago: whole hours, days or weeks, e.g. 12h, 7d, 2w.",
)
@_deletion_options
@common_options
def prune(
    statuses: tuple[str, ...],
    older_than: str | None,
    yes: bool,
    force: bool,
    delete_files: bool,
) -> None:
    """Delete every run with a status (e.g. FAILED, INTERRUPTED), optionally only old ones.

    Shows what will go and asks first; deletes like `backtest delete`.

    \b
    Example:
      ntrader backtest prune --status FAILED --status INTERRUPTED --older-than 30d
    """
    from ntrader.core.errors import UserInputError
    from ntrader.services.run_history import RunHistory, parse_age

    _refuse_json_without_yes(yes)
    try:
        age = parse_age(older_than) if older_than is not None else None
    except UserInputError as exc:
        raise click.BadParameter(exc.message, param_hint="'--older-than'") from exc
    chosen = [RunStatus(status) for status in dict.fromkeys(s.upper() for s in statuses)]
    history = RunHistory(app_context().database)
    plan = history.plan_prune(chosen, age, force=force)
    none = f"No {' or '.join(s.value for s in chosen)} backtests" + (
        f" created more than {older_than} ago" if age else ""
    )
    _confirm_and_delete(history, plan, yes=yes, delete_files=delete_files, none=none)


def _refuse_json_without_yes(yes: bool) -> None:
    if app_context().json_output and not yes:
        raise click.UsageError("--json needs --yes: there is no one to answer the confirmation.")


def _confirm_and_delete(
    history: RunHistory, plan: DeletionPlan, *, yes: bool, delete_files: bool, none: str
) -> None:
    """Show the plan, ask (unless ``yes``), delete, and say what became of the files."""
    from ntrader.cli.output import print_warning
    from ntrader.cli.render import render_deletion_plan, render_deletion_result

    json_output = app_context().json_output
    if not plan.items and not json_output:
        print_warning(f"{none}; nothing to delete.")
        return
    if not json_output:
        render_deletion_plan(plan)
    if not yes:
        try:
            count = len(plan.items)
            confirmed = click.confirm(
                f"Delete {count} backtest{'' if count == 1 else 's'}?", default=False
            )
        except click.Abort:
            print_warning("Nothing deleted.")
            raise
        if not confirmed:
            print_warning("Nothing deleted.")
            return
    render_deletion_result(history.delete(plan, delete_files=delete_files), json_output=json_output)


backtest.add_command(lookahead)
