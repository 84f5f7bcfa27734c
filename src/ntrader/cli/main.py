"""The ``ntrader`` command: global options, command groups, and error handling."""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from ntrader import __version__
from ntrader.cli.context import GLOBAL_OPTIONS, AppContext

# Command modules load on first use, so `ntrader --help` stays fast: it lists each command
# with its summary from here, without importing the module (the pydantic models behind
# `backtest` alone take 0.17 s to build). A test keeps each summary equal to the first
# line of its command's help.
_COMMANDS = {
    "demo": (
        "ntrader.cli.demo:demo",
        "Import the bundled sample data and backtest an SMA crossover on it.",
    ),
    "run-simple": (
        "ntrader.cli.simple:run_simple",
        "Backtest a strategy on generated data; no database needed.",
    ),
    "data": ("ntrader.cli.data:data", "Import, list and export market data (bars)."),
    "backtest": ("ntrader.cli.backtest:backtest", "Run backtests and look at stored runs."),
    "strategy": (
        "ntrader.cli.strategy:strategy",
        "Create, edit, validate, export and archive named strategies.",
    ),
    "db": ("ntrader.cli.db:db", "Database schema: upgrade and current revision."),
    "report": ("ntrader.cli.report:report", "Summaries and report files of stored backtests."),
    "health-check": (
        "ntrader.cli.health:health_check",
        "Check the database (reachable, newest schema), Redis (when NTRADER_REDIS_URL is "
        "set), free disk in the data dir and free memory.",
    ),
    "config": (
        "ntrader.cli.config:config",
        "Settings: defaults < config file < .env < NTRADER_* environment < command-line flags.",
    ),
    "serve": (
        "ntrader.cli.serve:serve",
        "Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs) until Ctrl-C or SIGTERM.",
    ),
    "interactive": (
        "ntrader.cli.interactive:interactive",
        "Work at a prompt: load a strategy, set instruments, period and parameters, run "
        "backtests and look at their results, with tab completion and a history.",
    ),
}


def command_summary(name: str) -> str:
    """What `ntrader --help` says of a command."""
    return _COMMANDS[name][1]


class LazyGroup(click.Group):
    """Every command is in ``_COMMANDS``, loaded when it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module_name, attribute = _COMMANDS[cmd_name][0].split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        # As click shortens a loaded command's help (its own helper is deprecated in 8.3).
        rows = [
            (name, click.Command(name, help=command_summary(name)).get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ntrader")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """ntrader: backtest trading strategies on stored bars with NautilusTrader.

    Start with `ntrader demo`: it imports sample data and runs a backtest.

    \b
    Examples:
      ntrader demo
      ntrader data import --file F.csv --instrument AAPL
      ntrader backtest run --strategy sma_crossover --instruments AAPL \\
          --start 2020-01-01 --end 2020-12-31
      ntrader --json backtest list
    """
    ctx.ensure_object(AppContext)
    ctx.call_on_close(ctx.obj.close)


for _option in GLOBAL_OPTIONS:
    cli = _option(cli)


def _json_requested(app: AppContext, argv: Sequence[str]) -> bool:
    """Whether the user asked for --json; a usage error can stop click before it parsed the
    flag, so the command line is checked too (up to a ``--`` separator)."""
    if app.json_output:
        return True
    args = list(argv)
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def _fail(
    app: AppContext,
    argv: Sequence[str],
    message: str,
    exit_code: int,
    hint: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """One human sentence on stderr and, with --json, one JSON error object on stdout."""
    from ntrader.cli.output import print_error, print_json_error

    if _json_requested(app, argv):
        print_json_error(message, exit_code, hint, details)
    print_error(message, hint)
    return exit_code


def _usage_hint(exc: click.ClickException) -> str | None:
    ctx = getattr(exc, "ctx", None)
    return f"Run `{ctx.command_path} --help` to see the usage." if ctx is not None else None


def _usage_message(exc: click.ClickException) -> str:
    # A group run without a command "fails" with its whole help text as the message.
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return f"`{exc.ctx.command_path}` needs a command."
    return exc.format_message()


# The store's hints name its settings (ntrader.db.faults); the CLI adds what sets them.
_STORE_PHRASES = {
    "the database URL": "the database URL (--database-url or NTRADER_DATABASE_URL)",
    "the database's schema revision": "the database's schema revision (`ntrader db current`)",
    "the traceback has the details": "re-run with --debug to see the details",
}


def cli_hint(hint: str | None) -> str | None:
    """``hint`` with the flags, variables and commands that the store's phrases stand for."""
    if hint is None:
        return None
    for phrase, named in _STORE_PHRASES.items():
        hint = hint.replace(phrase, named)
    return hint


def execute(argv: Sequence[str], app: AppContext, prog_name: str | None = None) -> int:
    """Run one ntrader command line in this process and return its exit code; errors are
    printed, never raised (``interactive`` runs every line it is given through here)."""
    started = time.perf_counter()
    exit_code = 1
    try:
        exit_code = _invoke(argv, app, prog_name)
    finally:
        _finish_invocation(app, exit_code, time.perf_counter() - started)
    return exit_code


def main() -> NoReturn:
    sys.exit(execute(sys.argv[1:], AppContext()))


def tune_collector() -> None:
    """Let the cyclic garbage collector run less often than Python's defaults.

    With the defaults (a young collection every 700 allocations, an older one every tenth of
    those) a backtest of 98,280 minute bars spends 0.3-0.4 s of its 7 s in the collector,
    mostly walking the objects nautilus and the bars keep for the whole run. Every 50,000
    allocations, and every 20th for the older generations, it spends about 0.1 s, the
    command is 5-6 % faster, and its peak memory stays the same. A long session
    (`interactive`, `serve`) frees unreachable cycles later: after 50,000 allocations at the
    soonest, and the oldest ones far less often.
    """
    gc.set_threshold(50_000, 20, 20)


def console_script() -> NoReturn:
    """The installed ``ntrader`` command: ``main``, then the quick end of the process
    (``_exit``). ``main`` itself ends with ``SystemExit``, for callers in a process that
    goes on (the tests' in-process runner). `backtest run` goes to a spare process with its
    imports done, when one is ready (``ntrader.cli.warm``)."""
    from ntrader.cli import warm

    tune_collector()

    argv = sys.argv[1:]
    warm_eligible = warm.warm_command(argv, cli)
    if warm_eligible:
        code = warm.run_in_spare(sys.argv)
        if code is not None:
            _exit(code)
    try:
        main()
    except SystemExit as exc:
        if warm_eligible:
            warm.start_spare_if_enabled()
        if isinstance(exc.code, int):
            _exit(exc.code)
        raise


def _exit(code: int) -> NoReturn:
    """End the process without the interpreter's teardown of its modules.

    Clearing what a backtest imports (nautilus, pandas, sqlalchemy: some 170,000 objects,
    freed one by one) takes 0.2-0.7 s after the command is done, and nothing of it can be
    seen from outside. What can is kept: the atexit handlers run (log files are flushed and
    closed, temporary directories removed, coverage saved) and stdout and stderr are
    flushed. Where the interpreter's own exit would differ (a thread that is not a daemon
    still runs and would be waited for; a closed pipe makes the flush fail, which Python
    reports with its exit status 120) it does the exit itself.
    """
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    if not run_exit_handlers():
        sys.exit(code)
    os._exit(code)


def run_exit_handlers() -> bool:
    """The atexit handlers, then stdout and stderr flushed; False when a flush failed."""
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return False
    return True


def _interrupted(app: AppContext, argv: Sequence[str], interrupt: BaseException) -> int:
    """Ctrl-C, or SIGTERM (which the command takes the same way), outside anything that
    says more; 128 + the signal number, as a shell reports a process the signal ended."""
    from ntrader.core.interrupts import by_sigterm

    if by_sigterm(interrupt):
        _record_error("Terminated")
        return _fail(app, argv, "Stopped by SIGTERM.", 128 + signal.SIGTERM)
    _record_error("Interrupted")
    return _fail(app, argv, "Interrupted.", 128 + signal.SIGINT)


def _invoke(argv: Sequence[str], app: AppContext, prog_name: str | None) -> int:
    from ntrader.core.errors import NtraderError
    from ntrader.core.interrupts import by_sigterm, sigterm_interrupts

    try:
        with sigterm_interrupts():
            result = cli.main(list(argv), prog_name, obj=app, standalone_mode=False)
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C (KeyboardInterrupt) and end of input (EOFError) into Abort.
        if isinstance(exc.__cause__, KeyboardInterrupt):
            return _interrupted(app, argv, exc.__cause__)
        _record_error("Aborted")
        return _fail(app, argv, "Aborted.", 130)
    except KeyboardInterrupt as exc:
        return _interrupted(app, argv, exc)
    except click.ClickException as exc:
        if _json_requested(app, argv):
            from ntrader.cli.output import print_json_error

            print_json_error(_usage_message(exc), exc.exit_code, _usage_hint(exc))
        exc.show()  # click's own usage text and message, on stderr
        return exc.exit_code
    except NtraderError as exc:
        _record_error(type(exc).__name__)
        if app.debug:
            traceback.print_exc()
        # An interruption SIGTERM caused ends as the signal does, whatever error said so.
        interrupted = exc.exit_code == 128 + signal.SIGINT and by_sigterm(exc)
        code = 128 + signal.SIGTERM if interrupted else exc.exit_code
        return _fail(app, argv, exc.message, code, cli_hint(exc.hint), exc.details())
    except Exception as exc:
        _record_error(type(exc).__name__)
        _log_crash(app, exc)
        if app.debug:
            traceback.print_exc()
        from ntrader.cli.output import describe_exception

        # A short description only: SQLAlchemy errors embed SQL, parameters and URLs.
        return _fail(
            app,
            argv,
            f"Unexpected error: {describe_exception(exc)}",
            1,
            "Re-run with --debug to see the traceback, and please report it.",
        )
    # standalone_mode=False returns the code of click's Exit (e.g. ctx.exit(3)) instead of exiting.
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    return 0


def _record_error(error_type: str) -> None:
    from ntrader.services import telemetry

    telemetry.record_error(error_type)


def _log_crash(app: AppContext, exc: Exception) -> None:
    from ntrader.utils.logging import get_logger

    if not app.logging_ready:
        app.apply_logging()
    get_logger(__name__).error("command.crashed", error_type=type(exc).__name__, exc_info=app.debug)


def _finish_invocation(app: AppContext, code: int, seconds: float) -> None:
    """Log how the command ended and export its metrics (when it recorded any)."""
    if app.logging_ready:  # a command ran (not `--help` nor a usage error)
        from ntrader.utils.logging import get_logger

        # INFO even on failure: the error itself was already shown to the user.
        get_logger(__name__).info(
            "command.completed" if code == 0 else "command.failed",
            command=app.command,
            exit_code=code,
            seconds=round(seconds, 3),
        )
    # Only a command that imported the telemetry can have recorded anything: `--help` and
    # friends never load prometheus_client.
    telemetry = sys.modules.get("ntrader.services.telemetry")
    if telemetry is None:
        return
    try:
        settings = app.settings()
    except Exception:  # settings that do not load were already reported as the error
        return
    telemetry.export(settings, (app.command or "").partition(" ")[0] or None)
