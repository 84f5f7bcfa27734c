"""``ntrader strategy``: named strategies stored in the database."""

from __future__ import annotations

from pathlib import Path

import click

from ntrader.cli.context import app_context, common_options
from ntrader.cli.params import TIMEFRAME, parse_params
from ntrader.models.enums import Timeframe


@click.group()
def strategy() -> None:
    """Create, edit, validate, export and archive named strategies.

    A strategy is a type (sma_crossover, mean_reversion, momentum, or your own) with
    parameters. New strategies are drafts; `validate` runs one on stored data and
    activates it if it trades. Only active strategies can be backtested; archived ones
    are read-only.
    """


@strategy.command("list")
@click.option("--type", "strategy_type", default=None, help="Only this strategy type.")
@click.option("--active", "active_only", is_flag=True, help="Only active strategies.")
@common_options
def list_(strategy_type: str | None, active_only: bool) -> None:
    """List stored strategies."""
    from ntrader.cli.render_strategy import render_strategy_list
    from ntrader.services.strategy_service import StrategyService

    ctx = app_context()
    records = StrategyService(ctx.database).list(
        strategy_type=strategy_type, active_only=active_only
    )
    render_strategy_list(records, json_output=ctx.json_output)


@strategy.command("types")
@common_options
def types() -> None:
    """List the strategy types you can create strategies from, with their parameters."""
    from ntrader.cli.render_strategy import render_strategy_types

    render_strategy_types(json_output=app_context().json_output)


@strategy.command("show")
@click.argument("name")
@common_options
def show(name: str) -> None:
    """Show one strategy: type, status, parameters."""
    from ntrader.cli.render_strategy import render_strategy
    from ntrader.services.strategy_service import StrategyService

    ctx = app_context()
    render_strategy(StrategyService(ctx.database).get(name), json_output=ctx.json_output)


@strategy.command("create")
@click.option("--name", required=True, help="Unique name, 1-100 characters.")
@click.option("--type", "strategy_type", required=True, help="Strategy type, e.g. sma_crossover.")
@click.option(
    "--params",
    "params",
    multiple=True,
    help="Parameters as k=v,k=v (repeatable). Unset ones take the type's defaults.",
)
@click.option(
    "--params-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="YAML/JSON file of parameters (or an exported strategy file).",
)
@click.option("--description", default=None, help="A note for yourself.")
@common_options
def create(
    name: str,
    strategy_type: str,
    params: tuple[str, ...],
    params_file: Path | None,
    description: str | None,
) -> None:
    """Store a new strategy (as a draft).

    \b
    Examples:
      ntrader strategy create --name fast_sma --type sma_crossover \\
          --params fast_period=5,slow_period=20
      ntrader strategy create --name mr --type mean_reversion --params-file mr.yaml
    """
    from ntrader.cli.render_strategy import render_strategy
    from ntrader.services.strategy_service import StrategyService, read_params_file

    ctx = app_context()
    parameters = read_params_file(params_file) if params_file else {}
    parameters.update(parse_params(params, option="--params"))
    record = StrategyService(ctx.database).create(name, strategy_type, parameters, description)
    render_strategy(record, json_output=ctx.json_output, note="Created (draft).")


@strategy.command("edit")
@click.argument("name")
@click.option("--params", "params", multiple=True, required=True, help="k=v,k=v to change.")
@common_options
def edit(name: str, params: tuple[str, ...]) -> None:
    """Change some parameters of a strategy (not an archived one)."""
    from ntrader.cli.render_strategy import render_strategy
    from ntrader.services.strategy_service import StrategyService

    ctx = app_context()
    record = StrategyService(ctx.database).edit(name, parse_params(params, option="--params"))
    render_strategy(record, json_output=ctx.json_output, note="Updated.")


@strategy.command("validate")
@click.argument("name")
@click.option("--instrument", required=True, help="Stored instrument to try it on.")
@click.option("--timeframe", type=TIMEFRAME, default="DAILY", show_default=True)
@common_options
def validate(name: str, instrument: str, timeframe: Timeframe) -> None:
    """Run the strategy on the last year of stored bars and report whether it trades.

    A draft that produces at least one signal becomes active.
    """
    from ntrader.cli.progress import stage_status
    from ntrader.cli.render_strategy import render_validation
    from ntrader.services.strategy_service import StrategyService

    ctx = app_context()
    with stage_status(enabled=not ctx.json_output) as on_stage:
        on_stage(f"Validating {name} on {instrument}")
        report = StrategyService(ctx.database).validate(name, instrument, timeframe)
    render_validation(report, json_output=ctx.json_output)


@strategy.command("activate")
@click.argument("name")
@common_options
def activate(name: str) -> None:
    """Mark a draft strategy active without validating it."""
    from ntrader.cli.render_strategy import render_strategy
    from ntrader.services.strategy_service import StrategyService

    ctx = app_context()
    record = StrategyService(ctx.database).activate(name)
    render_strategy(record, json_output=ctx.json_output, note="Active.")


@strategy.command("export")
@click.argument("name")
@click.option("--output", required=True, type=click.Path(path_type=Path, dir_okay=False))
@common_options
def export(name: str, output: Path) -> None:
    """Write a strategy to a YAML file (usable as --params-file or a config's strategy block)."""
    from ntrader.cli.output import print_json, print_success
    from ntrader.services.strategy_service import StrategyService

    ctx = app_context()
    record = StrategyService(ctx.database).export(name, output)
    if ctx.json_output:
        print_json({"name": record.name, "output": str(output)})
    else:
        print_success(f"Wrote {record.name} to {output}")


@strategy.command("archive")
@click.argument("name")
@common_options
def archive(name: str) -> None:
    """Archive a strategy: it stays for the record, read-only, and cannot be backtested."""
    from ntrader.cli.render_strategy import render_strategy
    from ntrader.services.strategy_service import StrategyService

    ctx = app_context()
    record = StrategyService(ctx.database).archive(name)
    render_strategy(record, json_output=ctx.json_output, note="Archived.")
