"""``ntrader db``: schema migrations."""

from __future__ import annotations

import click

from ntrader.cli.context import app_context, common_options


@click.group()
def db() -> None:
    """Database schema: upgrade and current revision.

    \b
    Examples:
      ntrader db current
      ntrader db rebuild-blocks
      ntrader db upgrade --database-url postgresql+psycopg://user@localhost/ntrader
    """


@db.command("upgrade")
@common_options
def upgrade() -> None:
    """Migrate the database to the newest schema (also done automatically on first use).

    \b
    Examples:
      ntrader db upgrade
      ntrader db upgrade --database-url postgresql+psycopg://user@localhost/ntrader
    """
    from ntrader.cli.output import print_json, print_success
    from ntrader.services.store import migrate

    done = migrate(app_context().database_url)
    if app_context().json_output:
        print_json({"database": done.database, "from": done.before, "to": done.after})
    elif done.before == done.after:
        print_success(f"{done.database} is already at revision {done.after}.")
    else:
        print_success(f"Migrated {done.database} from {done.before} to {done.after}.")


@db.command("current")
@common_options
def current() -> None:
    """Show the schema revision of the database and the newest one available.

    \b
    Examples:
      ntrader db current
      ntrader db current --json
    """
    from rich.text import Text

    from ntrader.cli.output import print_json, print_line
    from ntrader.services.store import schema_state

    schema = schema_state(app_context().database_url)
    if app_context().json_output:
        print_json({"database": schema.database, "current": schema.current, "head": schema.head})
        return
    state = (
        ("up to date", "green")
        if schema.current == schema.head
        else ("needs `ntrader db upgrade`", "yellow")
    )
    where = f"{schema.database}: revision {schema.current or 'none'} ("
    print_line(Text.assemble(where, state, ")"))


@db.command("rebuild-blocks")
@common_options
def rebuild_blocks() -> None:
    """Write the packed bar blocks that loads read anew from the bars table.

    Loads refuse blocks that are not what ntrader writes and name this command; it rebuilds
    every series in one transaction, so an interrupted rebuild changes nothing. A series
    whose rows hold unsound bars keeps its blocks and is named (exit 3); the others are
    rebuilt.

    \b
    Examples:
      ntrader db rebuild-blocks
      ntrader db rebuild-blocks --json
    """
    from ntrader.cli.output import print_json, print_success
    from ntrader.services.store import rebuild_bar_blocks

    done = rebuild_bar_blocks(app_context().database_url)
    if app_context().json_output:
        print_json({"database": done.database, "series": done.series, "bars": done.bars})
    else:
        print_success(
            f"Rebuilt the blocks of {done.series:,} series ({done.bars:,} bars) in {done.database}."
        )
