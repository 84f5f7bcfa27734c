"""``ntrader backtest``: run strategies on stored bars and browse the run history."""

from __future__ import annotations

from datetime import date

import click

from ntrader.cli.context import app_context, common_options
from ntrader.cli.params import DATE, TIMEFRAME
from ntrader.models.backtest import DEFAULT_END, DEFAULT_START
from ntrader.models.enums import RunStatus, Timeframe


@click.group()
def backtest() -> None:
    """Run backtests and look at stored runs."""


def parse_params(pairs: tuple[str, ...]) -> dict[str, object]:
    """``k=v`` pairs (repeatable, or comma-separated) with numbers and booleans typed."""
    import yaml

    parsed: dict[str, object] = {}
    for item in (part for pair in pairs for part in pair.split(",") if part.strip()):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--param")
        parsed[key.strip()] = yaml.safe_load(value.strip())
    return parsed


@backtest.command("run")
@click.option(
    "--strategy",
    default="sma_crossover",
    show_default=True,
    help="Strategy type (sma_crossover; alias sma).",
)
@click.option(
    "--instruments", required=True, help="Comma-separated symbols, e.g. AAPL or AAPL,SPY."
)
@click.option("--start", type=DATE, default=str(DEFAULT_START), show_default=True)
@click.option("--end", type=DATE, default=str(DEFAULT_END), show_default=True)
@click.option("--timeframe", type=TIMEFRAME, default="DAILY", show_default=True)
@click.option(
    "--capital", type=float, default=100_000.0, show_default=True, help="Initial capital (USD)."
)
@click.option(
    "--position-size",
    type=float,
    default=1.0,
    show_default=True,
    help="% of equity at risk per trade (0.1-10); positions are capped at 10% of equity.",
)
@click.option(
    "--commission",
    default="1.0",
    show_default=True,
    help="Commission: AMOUNT per order, per_share:0.005, ibkr, or percentage:0.1.",
)
@click.option(
    "--slippage-bps",
    type=click.FloatRange(0, 500),
    default=0.0,
    show_default=True,
    help="Slippage against you, in basis points of the price.",
)
@click.option("--fast-period", type=int, default=None, help="SMA crossover: fast period.")
@click.option("--slow-period", type=int, default=None, help="SMA crossover: slow period.")
@click.option(
    "--param",
    "params",
    multiple=True,
    help="Strategy parameter as key=value (repeatable or comma-separated).",
)
@click.option("--benchmark", default="SPY", show_default=True, help="Benchmark symbol.")
@common_options
def run(
    strategy: str,
    instruments: str,
    start: date,
    end: date,
    timeframe: Timeframe,
    capital: float,
    position_size: float,
    commission: str,
    slippage_bps: float,
    fast_period: int | None,
    slow_period: int | None,
    params: tuple[str, ...],
    benchmark: str,
) -> None:
    """Run a backtest on stored bars and keep it in the run history.

    \b
    Examples:
      ntrader backtest run --strategy sma_crossover --instruments AAPL \\
          --start 2020-01-01 --end 2020-12-31
      ntrader backtest run --strategy sma --instruments AAPL --fast-period 10 \\
          --slow-period 50 --json
    """
    from pydantic import ValidationError

    from ntrader.cli.progress import stage_status
    from ntrader.cli.render import render_backtest_outcome
    from ntrader.core.errors import UserInputError
    from ntrader.models.backtest import BacktestConfig
    from ntrader.models.execution import CommissionModel
    from ntrader.models.validation import describe_validation_error
    from ntrader.services.backtest_service import BacktestService

    ctx = app_context()
    parameters = parse_params(params)
    if fast_period is not None:
        parameters["fast_period"] = fast_period
    if slow_period is not None:
        parameters["slow_period"] = slow_period
    try:
        config = BacktestConfig(
            strategy_type=strategy,
            parameters=parameters,
            instruments=instruments,
            start=start,
            end=end,
            timeframe=timeframe,
            initial_capital=capital,
            position_size_pct=position_size,
            commission=CommissionModel.parse(commission),
            slippage_bps=slippage_bps,
            benchmark=benchmark.upper(),
        )
    except ValidationError as exc:
        raise UserInputError(
            f"Invalid backtest settings: {describe_validation_error(exc)}."
        ) from exc
    except ValueError as exc:
        raise UserInputError(
            f"Invalid commission {commission!r}: {exc}.",
            hint="Use an amount per order (1.0), per_share:0.005, ibkr, or percentage:0.1.",
        ) from exc
    service = BacktestService(ctx.database)
    with stage_status(enabled=not ctx.json_output) as on_stage:
        outcome = service.run(config, on_stage)
    render_backtest_outcome(outcome, json_output=ctx.json_output)


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
    """List stored backtests, newest first."""
    from ntrader.cli.render import render_run_list
    from ntrader.services.backtest_service import BacktestService

    ctx = app_context()
    runs = BacktestService(ctx.database).list(
        status=RunStatus(status.upper()) if status else None, strategy=strategy, last=last
    )
    render_run_list(runs, json_output=ctx.json_output, ids_only=output_format == "ids")


@backtest.command("show")
@click.argument("run_id")
@common_options
def show(run_id: str) -> None:
    """Show one run: configuration, metrics, trade count. RUN_ID: id, prefix, or `latest`."""
    from ntrader.cli.render import render_run_detail
    from ntrader.services.backtest_service import BacktestService

    ctx = app_context()
    render_run_detail(BacktestService(ctx.database).get(run_id), json_output=ctx.json_output)
