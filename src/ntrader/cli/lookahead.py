"""``ntrader backtest lookahead``: does a strategy use bars it should not yet have seen?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ntrader.cli.context import app_context, common_options
from ntrader.cli.run_options import config_from_options, run_options

if TYPE_CHECKING:
    from ntrader.services.lookahead import LookaheadResult

DEFAULT_SHOWN = 20


@click.command("lookahead")
@run_options
@click.option(
    "--cuts",
    type=int,
    default=20,
    show_default=True,
    help="How many shortened runs to compare with the full one, cut at points spread "
    "evenly over the range.",
)
@click.option(
    "--show",
    "shown",
    type=click.IntRange(min=0),
    default=DEFAULT_SHOWN,
    show_default=True,
    help="How many flagged values to list (--json lists them all).",
)
@common_options
@click.pass_context
def lookahead(ctx: click.Context, cuts: int, shown: int, **options: Any) -> None:
    """Check a strategy for look-ahead bias: run it on the whole range, then on the range
    cut short at several points, and flag every bar whose decision, indicator values or
    fills change when the bars after it are removed. Exit status 1 when any bar is flagged,
    0 when the strategy is clean.

    The runs happen in memory and are not stored in the run history. A strategy shows its
    indicators to the check through signal_snapshot() (docs/lookahead.md).

    \b
    Examples:
      ntrader backtest lookahead --strategy sma_crossover --instruments AAPL \\
          --start 2020-01-01 --end 2021-12-31
      ntrader backtest lookahead --strategy momentum --instruments AAPL,SPY --cuts 40 --json
      ntrader backtest lookahead --strategy-path examples/strategies/peeking.py \\
          --strategy peeking --instruments AAPL --start 2020-01-01 --end 2020-12-31
    """
    from ntrader.cli.progress import run_progress
    from ntrader.services.lookahead import check_lookahead

    config, _sources, _output = config_from_options(ctx, options)
    app = app_context()
    with run_progress(enabled=not app.json_output) as progress:
        result = check_lookahead(
            app.database, config, cuts, on_stage=progress.stage, on_progress=progress.bars
        )
    if app.json_output:
        from ntrader.cli.output import print_json

        print_json(_payload(result))
    else:
        _render(result, shown)
    if result.biased:
        ctx.exit(1)


def _payload(result: LookaheadResult) -> dict[str, Any]:
    return {
        "strategy": result.strategy_type,
        "instruments": list(result.instruments),
        "bars": result.bars,
        "cuts": [cut.isoformat() for cut in result.cut_times],
        "bars_compared": result.bars_compared,
        "lookahead_bias": result.biased,
        "findings": [
            {
                "instrument_id": finding.instrument_id,
                "bar_time": finding.bar_time.isoformat(),
                "cut_time": finding.cut_time.isoformat(),
                "value": finding.value,
                "full": finding.full,
                "truncated": finding.truncated,
            }
            for finding in result.findings
        ],
    }


def _render(result: LookaheadResult, shown: int) -> None:
    from rich import box
    from rich.table import Table

    from ntrader.cli.output import print_line, stdout, styled

    summary = (
        f"{result.strategy_type} on {', '.join(result.instruments)}: {result.bars:,} bars, "
        f"{len(result.cut_times)} cuts, {result.bars_compared:,} bar records compared."
    )
    print_line(styled(summary))
    if not result.biased:
        print_line(styled("No look-ahead bias found.", "bold green"))
        return
    if shown:
        table = Table(
            title="Values that changed when later bars were removed",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            padding=(0, 1, 0, 0),
            show_edge=False,
        )
        for column in ("Instrument", "Bar", "Cut before", "Value", "Full run", "Cut run"):
            table.add_column(column, overflow="fold", no_wrap=column in {"Bar", "Cut before"})
        for finding in result.findings[:shown]:
            table.add_row(
                styled(finding.instrument_id),
                styled(f"{finding.bar_time:%Y-%m-%d %H:%M}"),
                styled(f"{finding.cut_time:%Y-%m-%d %H:%M}"),
                styled(finding.value),
                styled(finding.full),
                styled(finding.truncated),
            )
        stdout().print(table)
    more = len(result.findings) - min(shown, len(result.findings))
    print_line(
        styled(
            f"Look-ahead bias: {len(result.findings):,} values changed"
            + (f" ({more:,} more not listed; --show or --json lists them)" if more else "")
            + ". The strategy uses bars after the one it decides on.",
            "bold red",
        )
    )
