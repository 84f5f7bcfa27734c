"""The ``ntrader`` command: global options, command groups, and error handling."""

from __future__ import annotations

import importlib
import sys

import click

from ntrader import __version__
from ntrader.cli.context import (
    AppContext,
    database_option,
    debug_option,
    json_option,
    strategy_path_option,
)

# Command modules load on first use, so `ntrader --help` stays fast.
_COMMANDS = {
    "demo": "ntrader.cli.demo:demo",
    "run-simple": "ntrader.cli.simple:run_simple",
    "data": "ntrader.cli.data:data",
    "backtest": "ntrader.cli.backtest:backtest",
    "strategy": "ntrader.cli.strategy:strategy",
    "db": "ntrader.cli.db:db",
    "report": "ntrader.cli.report:report",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ntrader")
@json_option
@debug_option
@database_option
@strategy_path_option
@click.pass_context
def cli(ctx: click.Context) -> None:
    """ntrader: backtest trading strategies on stored bars with NautilusTrader.

    \b
    Start here:
      ntrader demo                       import sample data, run a backtest
      ntrader data import --file F.csv --instrument AAPL
      ntrader backtest run --strategy sma_crossover --instruments AAPL \\
          --start 2020-01-01 --end 2020-12-31
    """
    ctx.ensure_object(AppContext)
    ctx.call_on_close(ctx.obj.close)


def main() -> None:
    from ntrader.core.errors import NtraderError

    app = AppContext()
    try:
        cli.main(obj=app, standalone_mode=False)
    except click.exceptions.Abort:
        from ntrader.cli.output import print_error

        print_error("Aborted.")
        sys.exit(130)
    except KeyboardInterrupt:
        from ntrader.cli.output import print_error

        print_error("Interrupted.")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except NtraderError as exc:
        if app.debug:
            raise
        from ntrader.cli.output import print_error

        print_error(exc.message, exc.hint)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if app.debug:
            raise
        from ntrader.cli.output import print_error

        print_error(
            f"Unexpected error: {type(exc).__name__}: {exc}",
            "Re-run with --debug to see the traceback, and please report it.",
        )
        sys.exit(1)
