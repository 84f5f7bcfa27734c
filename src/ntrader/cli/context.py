"""What every command shares: global flags and the database, opened on first use."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ntrader.services.store import Database
    from ntrader.utils.settings import Settings

# structlog and pydantic-settings load on first use (they cost ~0.2 s): `ntrader --help`
# and usage errors never need them.


@dataclass
class AppContext:
    database_url: str | None = None
    json_output: bool = False
    debug: bool = False
    log_format: str | None = None
    log_file: Path | None = None
    command: str | None = None
    """The command being run, without the program name: ``backtest run``."""
    correlation_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    logging_ready: bool = False
    last_run_id: str | None = None
    """The backtest this invocation ran (``interactive`` shows and reports it next)."""
    _database: Database | None = field(default=None, repr=False)

    def flag_overrides(self) -> dict[str, Any]:
        """The settings given as command-line flags: they beat every other source."""
        flags = {
            "database_url": self.database_url,
            "log_format": self.log_format,
            "log_file": self.log_file,
        }
        return {name: value for name, value in flags.items() if value is not None}

    def settings(self) -> Settings:
        from ntrader.utils.settings import load_settings

        return load_settings(**self.flag_overrides())

    def apply_logging(self) -> None:
        """Set logging up from the settings and flags, this invocation's id bound."""
        from ntrader.core.errors import UserInputError
        from ntrader.utils.logging import bind_invocation, configure_logging
        from ntrader.utils.settings import Settings

        try:
            settings = self.settings()
        except UserInputError:
            # The command reports the bad setting (or, `config validate`, lists it); logging
            # starts from the defaults meanwhile.
            settings = Settings.model_construct()
        try:
            configure_logging(
                level=settings.log_level,
                log_format=settings.log_format,
                log_file=settings.log_file,
                debug=self.debug,
            )
        except OSError as exc:
            configure_logging(level=settings.log_level, log_format=settings.log_format)
            raise UserInputError(
                f"Cannot write the log file {settings.log_file}: {exc.strerror or exc}.",
                hint="Give --log-file (or NTRADER_LOG_FILE) a path in a writable directory.",
            ) from None
        finally:
            bind_invocation(self.correlation_id)
            self.logging_ready = True

    @property
    def database(self) -> Database:
        if self._database is None:
            from ntrader.services.store import open_database

            self._database = open_database(self.database_url)
        return self._database

    def close(self) -> None:
        if self._database is not None:
            self._database.dispose()


def app_context() -> AppContext:
    return click.get_current_context().ensure_object(AppContext)


def _store_in_context(attribute: str) -> Callable[[click.Context, click.Parameter, object], None]:
    """An option callback that records a given value on the AppContext (before or after a
    subcommand, whichever the user typed)."""

    def callback(ctx: click.Context, _param: click.Parameter, value: object) -> None:
        if value:
            setattr(ctx.ensure_object(AppContext), attribute, value)

    return callback


json_option = click.option(
    "--json",
    "json_output",
    is_flag=True,
    expose_value=False,
    callback=_store_in_context("json_output"),
    help="Print one JSON object on stdout and nothing else.",
)
debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    callback=_store_in_context("debug"),
    help="Show tracebacks and debug logs.",
)
log_format_option = click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    expose_value=False,
    callback=_store_in_context("log_format"),
    help="Log events as readable lines or JSON lines on stderr (also NTRADER_LOG_FORMAT).",
)
log_file_option = click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    expose_value=False,
    callback=_store_in_context("log_file"),
    help="Also append log events, as JSON lines, to this file (also NTRADER_LOG_FILE).",
)
database_option = click.option(
    "--database-url",
    envvar="NTRADER_DATABASE_URL",
    expose_value=False,
    callback=_store_in_context("database_url"),
    help="SQLAlchemy URL of the store (default: SQLite in the user data dir).",
)


def _load_strategy_path(ctx: click.Context, _param: click.Parameter, value: object) -> None:
    if value:
        from ntrader.core import strategy_registry

        for path in value if isinstance(value, tuple) else (value,):
            strategy_registry.load_path(Path(path))


strategy_path_option = click.option(
    "--strategy-path",
    type=click.Path(exists=True, path_type=Path),
    multiple=True,
    expose_value=False,
    callback=_load_strategy_path,
    help="A module or directory of your own strategies (also NTRADER_STRATEGY_PATH).",
)


GLOBAL_OPTIONS = (
    json_option,
    debug_option,
    database_option,
    strategy_path_option,
    log_format_option,
    log_file_option,
)


def _announced(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command after setting logging up from every flag (those after the subcommand
    too, which click parses only now) and logging its start."""

    @functools.wraps(callback)
    def announce_and_run(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        app = ctx.ensure_object(AppContext)
        app.command = ctx.command_path.partition(" ")[2] or ctx.command_path
        app.apply_logging()
        from ntrader.utils.logging import get_logger

        get_logger(__name__).info("command.started", command=app.command)
        return callback(*args, **kwargs)

    return announce_and_run


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Let the global flags also follow a subcommand: `ntrader data list --json`."""
    command = _announced(command)
    for option in GLOBAL_OPTIONS:
        command = option(command)
    return command


# On every resume command: the user, who can check another machine, says its process is gone.
take_over_option = click.option(
    "--force",
    is_flag=True,
    help="Take over one left RUNNING by a process that cannot be checked from here (on "
    "another machine, or not recorded by an older ntrader). Only once you know that process "
    "is gone: two processes writing one record store wrong results.",
)
