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
      ntrader db upgrade --database-url postgresql+psycopg://user@localhost/ntrader
    """


def _engine():  # type: ignore[no-untyped-def]
    from ntrader.db.engine import create_db_engine
    from ntrader.utils.settings import get_settings

    settings = get_settings()
    return create_db_engine(
        app_context().database_url or settings.resolved_database_url,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )


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
    from ntrader.db.engine import current_revision, describe_url, upgrade

    engine = _engine()
    before = current_revision(engine)
    upgrade(engine)
    after = current_revision(engine)
    if app_context().json_output:
        print_json({"database": describe_url(str(engine.url)), "from": before, "to": after})
    elif before == after:
        print_success(f"{describe_url(str(engine.url))} is already at revision {after}.")
    else:
        print_success(f"Migrated {describe_url(str(engine.url))} from {before} to {after}.")


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
    from ntrader.db.engine import current_revision, describe_url, head_revision

    engine = _engine()
    revision, head = current_revision(engine), head_revision(engine)
    if app_context().json_output:
        print_json({"database": describe_url(str(engine.url)), "current": revision, "head": head})
        return
    state = (
        ("up to date", "green") if revision == head else ("needs `ntrader db upgrade`", "yellow")
    )
    where = f"{describe_url(str(engine.url))}: revision {revision or 'none'} ("
    print_line(Text.assemble(where, state, ")"))
