"""``ntrader run-simple``: the quickest look at a strategy, on generated data."""

from __future__ import annotations

import click

from ntrader.cli.context import app_context, common_options
from ntrader.cli.params import parse_params


@click.command("run-simple")
@click.option("--strategy", default="sma", show_default=True, help="Strategy type.")
@click.option(
    "--data",
    type=click.Choice(["mock"]),
    default="mock",
    show_default=True,
    help="Data source: a deterministic sine wave with an upward drift.",
)
@click.option("--bars", type=click.IntRange(min=60), default=750, show_default=True)
@click.option(
    "--fast-period", type=int, default=None, help="SMA crossover: fast period (default 10)."
)
@click.option(
    "--slow-period", type=int, default=None, help="SMA crossover: slow period (default 30)."
)
@click.option("--param", "params", multiple=True, help="Strategy parameter as key=value.")
@common_options
def run_simple(
    strategy: str,
    data: str,
    bars: int,
    fast_period: int | None,
    slow_period: int | None,
    params: tuple[str, ...],
) -> None:
    """Backtest a strategy on generated data; no database needed.

    \b
    Example:
      ntrader run-simple --strategy sma --fast-period 5 --slow-period 20
      ntrader run-simple --strategy momentum --param rsi_period=7
    """
    from ntrader.cli.output import print_json
    from ntrader.cli.render import render_summary_table, simulation_payload
    from ntrader.services.simple_service import run_on_mock_data

    ctx = app_context()
    parameters = parse_params(params)
    for name, value in (("fast_period", fast_period), ("slow_period", slow_period)):
        if value is not None:
            parameters[name] = value
    config, result = run_on_mock_data(strategy, parameters, bars)
    if ctx.json_output:
        print_json(
            {
                "config": config.model_dump(mode="json"),
                **simulation_payload(result, config.initial_capital),
            }
        )
        return
    render_summary_table(
        f"{config.strategy_type} on {data} data ({bars} daily bars)",
        result.metrics,
        result.final_equity,
        config.initial_capital,
    )
