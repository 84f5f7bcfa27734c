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

    \b
    Examples:
      ntrader strategy types
      ntrader strategy create --name fast_sma --type sma_crossover --params fast_period=5
      ntrader strategy validate fast_sma --instrument AAPL
    """


@strategy.command("list")
@click.option("--type", "strategy_type", default=None, help="Only this strategy type.")
@click.option("--active", "active_only", is_flag=True, help="Only active strategies.")
@common_options
def list_(strategy_type: str | None, active_only: bool) -> None:
    """List stored strategies.

    \b
    Examples:
      ntrader strategy list
      ntrader strategy list --type sma_crossover --active --json
    """
    from ntrader.cli.render_strategy import render_strategy_list
    from ntrader.services.strategy_service import StrategyService

    ctx = app_context()
    service = StrategyService(ctx.database)
    records = service.list(strategy_type=strategy_type, active_only=active_only)
    filters = [
        f for f, on in ((f"--type {strategy_type}", strategy_type), ("--active", active_only)) if on
    ]
    if not records and filters and not ctx.json_output:
        total = service.count()
        if total:  # "none stored yet" would be wrong: the filter hides them
            from ntrader.cli.output import print_warning

            print_warning(
                f"No strategy matches {' '.join(filters)}; {total} "
                f"{'is' if total == 1 else 'are'} stored (`ntrader strategy list` shows all)."
            )
            return
    render_strategy_list(records, json_output=ctx.json_output)


@strategy.command("types")
@click.argument("name", required=False)
@common_options
def types(name: str | None) -> None:
    """List the strategy types you can create strategies from, with their parameters'
    defaults and ranges; with NAME, one type and what each of its parameters sets.

    \b
    Examples:
      ntrader strategy types
      ntrader strategy types sma_crossover
      ntrader strategy types --json
    """
    from ntrader.cli.render_strategy import render_strategy_type, render_strategy_types
    from ntrader.core import strategy_registry

    json_output = app_context().json_output
    if name is not None:
        render_strategy_type(strategy_registry.resolve(name), json_output=json_output)
        return
    kinds = [strategy_registry.resolve(known) for known in strategy_registry.known_names()]
    render_strategy_types(kinds, json_output=json_output)


@strategy.command("show")
@click.argument("name")
@common_options
def show(name: str) -> None:
    """Show one strategy: type, status, parameters.

    \b
    Example:
      ntrader strategy show fast_sma
    """
    from ntrader.cli.render_strategy import render_strategy
    from ntrader.services.strategy_service import StrategyService

    ctx = app_context()
    render_strategy(StrategyService(ctx.database).get(name), json_output=ctx.json_output)


@strategy.command("create")
@click.option(
    "--name",
    default=None,
    help="Unique name, 1-100 characters (default: the name in --params-file).",
)
@click.option(
    "--type",
    "strategy_type",
    default=None,
    help="Strategy type, e.g. sma_crossover (default: the type in --params-file).",
)
@click.option(
    "--params",
    "params",
    multiple=True,
    help="Parameters as k=v,k=v (repeatable). Unset ones take the type's defaults; "
    "`ntrader strategy types TYPE` lists them with their ranges.",
)
@click.option(
    "--params-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="YAML/JSON file of parameters, or an exported strategy file (its type, name and "
    "description are used unless given as flags; --params override its parameters).",
)
@click.option("--description", default=None, help="A note for yourself.")
@common_options
def create(
    name: str | None,
    strategy_type: str | None,
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
    from ntrader.services.strategy_service import StrategyFile, StrategyService, read_strategy_file

    ctx = app_context()
    file = read_strategy_file(params_file) if params_file else StrategyFile(Path(), {})
    name = name or file.name
    strategy_type = file.type_for(strategy_type)
    if name is None or strategy_type is None:
        has_none = f" ({params_file} has none)" if params_file else ""
        raise click.UsageError(f"Give {'--name' if name is None else '--type'}{has_none}.")
    parameters = {**file.parameters, **parse_params(params, option="--params")}
    record = StrategyService(ctx.database).create(
        name, strategy_type, parameters, description or file.description
    )
    render_strategy(record, json_output=ctx.json_output, note="Created (draft).")


@strategy.command("edit")
@click.argument("name")
@click.option("--params", "params", multiple=True, required=True, help="k=v,k=v to change.")
@common_options
def edit(name: str, params: tuple[str, ...]) -> None:
    """Change some parameters of a strategy (not an archived one).

    \b
    Example:
      ntrader strategy edit fast_sma --params fast_period=8,slow_period=30
    """
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

    \b
    Examples:
      ntrader strategy validate fast_sma --instrument AAPL
      ntrader strategy validate fast_sma --instrument SPY --timeframe 1MIN
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
    """Mark a draft strategy active without validating it.

    \b
    Example:
      ntrader strategy activate fast_sma
    """
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
    """Write a strategy to a YAML file (usable as --params-file or a config's strategy block).

    \b
    Example:
      ntrader strategy export fast_sma --output fast_sma.yaml
    """
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
    """Archive a strategy: it stays for the record, read-only, and cannot be backtested.

    \b
    Example:
      ntrader strategy archive fast_sma
    """
    from ntrader.cli.render_strategy import render_strategy
    from ntrader.services.strategy_service import StrategyService

    ctx = app_context()
    record = StrategyService(ctx.database).archive(name)
    render_strategy(record, json_output=ctx.json_output, note="Archived.")
