"""``ntrader interactive``: a prompt that keeps a backtest's settings between commands.

Session commands (``load strategy``, ``set ...``, ``run backtest``, ``show``, ``save report``)
become ordinary ntrader command lines (``repl_session``), and every line runs through the
same click group as in the shell, in this process. So a run from the prompt is the run a
shell command does, and an error is printed the way the shell prints it — then the session
goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ntrader.cli.context import AppContext, app_context, common_options
from ntrader.cli.repl_session import (
    HELP,
    Command,
    Exit,
    Help,
    LoadStrategy,
    NtraderCommand,
    RunBacktest,
    SaveReport,
    Session,
    SetInstruments,
    SetPeriod,
    SetValue,
    Show,
    parse_line,
)
from ntrader.core.errors import NtraderError, UserInputError
from ntrader.core.interrupts import by_sigterm

if TYPE_CHECKING:
    from prompt_toolkit.input import Input
    from prompt_toolkit.output import Output

    from ntrader.cli.completion import Catalog
    from ntrader.models.backtest import TradeRecord

PROMPT = "ntrader> "
_SHOWN_TRADES = 50


def history_file() -> Path:
    """Where the prompt keeps its history: the XDG state dir (``$XDG_STATE_HOME/ntrader``)."""
    import platformdirs

    return platformdirs.user_state_path("ntrader") / "interactive_history"


@click.command()
@common_options
def interactive() -> None:
    """Work at a prompt: load a strategy, set instruments, period and parameters, run
    backtests and look at their results, with tab completion and a history.

    Type `help` at the prompt for its commands; any ntrader command works there too.
    Ctrl-C stops a running backtest and keeps the session; Ctrl-D or `exit` leaves.

    \b
    Examples:
      ntrader interactive
      ntrader interactive --database-url sqlite:///backtests.db
    """
    app = app_context()
    if app.json_output:
        raise click.UsageError("`interactive` has no --json output; run the commands directly.")
    run_session(app)


def run_session(
    app: AppContext,
    *,
    prompt_input: Input | None = None,
    prompt_output: Output | None = None,
    history_path: Path | None = None,
) -> Session:
    """Read and run lines until ``exit`` or end of input; returns the final session."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    from ntrader.cli.completion import Catalog, SessionCompleter
    from ntrader.cli.output import print_error

    path = history_path or history_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(app)
    state = _State(app, catalog)
    prompt: PromptSession[str] = PromptSession(
        history=FileHistory(str(path)),
        completer=SessionCompleter(catalog, lambda: state.session),
        complete_while_typing=False,  # Tab completes, as in a shell; typing never waits on it
        input=prompt_input,
        output=prompt_output,
    )
    click.echo("ntrader interactive: `help` lists the commands; `exit` or Ctrl-D leaves.")
    # Ctrl-C cancels the line or the running command; SIGTERM (a KeyboardInterrupt too,
    # and inside a run an error saying so) ends the session.
    while True:
        try:
            line = prompt.prompt(PROMPT)
        except KeyboardInterrupt as exc:
            if by_sigterm(exc):
                raise
            continue  # Ctrl-C at the prompt clears the line
        except EOFError:
            break
        try:
            command = parse_line(line)
            if command is None:
                continue
            if isinstance(command, Exit):
                break
            state.handle(command)
        except NtraderError as exc:
            if by_sigterm(exc):
                raise
            print_error(exc.message, exc.hint)
        except KeyboardInterrupt as exc:
            if by_sigterm(exc):
                raise
            print_error("Interrupted.")
    return state.session


class _State:
    """The session and what runs its commands."""

    def __init__(self, app: AppContext, catalog: Catalog) -> None:
        self.session = Session()
        self._app = app
        self._catalog = catalog

    def handle(self, command: Command) -> None:
        from ntrader.cli.output import print_success

        match command:
            case Help():
                click.echo(HELP)
            case LoadStrategy(name):
                names = self._catalog.parameter_names(name)
                self.session = self.session.load_strategy(name)
                listed = ", ".join(names) or "none"
                print_success(f"Strategy {name} loaded; its parameters: {listed}.")
            case SetInstruments(instruments):
                self.session = replace(self.session, instruments=instruments)
                print_success(f"Instruments: {', '.join(instruments)}.")
            case SetPeriod(start, end):
                self.session = replace(self.session, period=(start, end))
                print_success(f"Period: {start} to {end}.")
            case SetValue(key, value):
                names = self._catalog.parameter_names(self.session.strategy)
                self.session = self.session.set_value(key, value, names)
                print_success(f"{key} = {value}")
            case RunBacktest():
                self._run(self.session.run_argv())
            case Show("settings"):
                _print_rows(self.session.describe())
            case Show("results"):
                self._run(("report", "summary", self.session.require_run()))
            case Show("trades"):
                self._show_trades(self.session.require_run())
            case SaveReport(fmt, output):
                argv = ["report", "generate", "--backtest", self.session.require_run()]
                argv += ["--format", fmt, *(("--output", output) if output else ())]
                self._run(tuple(argv))
            case NtraderCommand(argv):
                if argv and argv[0] == "interactive":
                    raise UserInputError("This is the interactive session already.")
                self._run(argv)

    def _run(self, argv: Sequence[str]) -> None:
        """One ntrader command line, as in the shell but in this process (it prints its own
        errors; its exit code means nothing to a session that goes on)."""
        from ntrader.cli.main import execute

        command_app = AppContext(database_url=self._app.database_url, debug=self._app.debug)
        execute(argv, command_app, prog_name="ntrader")
        self._catalog.forget()  # the command may have imported bars or stored a strategy
        if command_app.last_run_id is not None:  # it ran a backtest: show and report that one
            self.session = replace(self.session, last_run_id=command_app.last_run_id)

    def _show_trades(self, run_id: str) -> None:
        from ntrader.services.reports.service import ReportService

        trades = ReportService(self._app.database).load(run_id).trades
        _print_trades(trades)


def _print_rows(rows: Iterable[tuple[str, str]]) -> None:
    from rich.table import Table

    from ntrader.cli.output import stdout

    table = Table(show_header=False, box=None, padding=(0, 2))
    for name, value in rows:
        table.add_row(name, value)
    stdout().print(table)


def _print_trades(trades: Sequence[TradeRecord]) -> None:
    from rich import box
    from rich.table import Table

    from ntrader.cli.output import print_warning, stdout
    from ntrader.services.reports.catalog import Kind, format_value

    if not trades:
        print_warning("The backtest made no trades.")
        return
    table = Table(title=f"Trades ({len(trades)})", box=box.SIMPLE_HEAD, padding=(0, 1))
    widest = max(len(trade.instrument_id) for trade in trades)
    table.add_column("instrument", no_wrap=True, min_width=widest)
    table.add_column("side", no_wrap=True)
    for name in ("quantity", "entry", "exit", "P&L", "return"):
        table.add_column(name, justify="right")
    for trade in trades[-_SHOWN_TRADES:]:
        table.add_row(
            trade.instrument_id,
            trade.side.value,
            f"{trade.quantity:,.0f}",
            f"{trade.entry_time:%Y-%m-%d %H:%M}",
            "open" if trade.exit_time is None else f"{trade.exit_time:%Y-%m-%d %H:%M}",
            format_value(Kind.MONEY, trade.pnl),
            format_value(Kind.PERCENT, trade.pnl_pct),
        )
    stdout().print(table)
    if len(trades) > _SHOWN_TRADES:
        print_warning(
            f"Showing the last {_SHOWN_TRADES}; `save report csv` or `report trades` has all."
        )
