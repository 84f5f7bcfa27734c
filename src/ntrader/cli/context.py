"""What every command shares: global flags and the database, opened on first use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ntrader.services.store import Database


@dataclass
class AppContext:
    database_url: str | None = None
    json_output: bool = False
    debug: bool = False
    last_run_id: str | None = None
    """The backtest this invocation ran (``interactive`` shows and reports it next)."""
    _database: Database | None = field(default=None, repr=False)

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


def common_options(command: click.Command) -> click.Command:
    """Let the global flags also follow a subcommand: `ntrader data list --json`."""
    for option in (json_option, debug_option, database_option, strategy_path_option):
        command = option(command)
    return command
