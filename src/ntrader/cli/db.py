"""``ntrader db``: schema migrations."""

from __future__ import annotations

import click

from ntrader.cli.context import app_context, common_options


@click.group()
def db() -> None:
    """Database schema: upgrade and current revision."""


def _engine():  # type: ignore[no-untyped-def]
    from ntrader.db.engine import create_db_engine
    from ntrader.utils.settings import get_settings

    ctx = app_context()
    return create_db_engine(ctx.database_url or get_settings().resolved_database_url)


@db.command("upgrade")
@common_options
def upgrade() -> None:
    """Migrate the database to the newest schema (also done automatically on first use)."""
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
    """Show the schema revision of the database and the newest one available."""
    from ntrader.cli.output import print_json, stdout
    from ntrader.db.engine import current_revision, describe_url, head_revision

    engine = _engine()
    revision, head = current_revision(engine), head_revision(engine)
    if app_context().json_output:
        print_json({"database": describe_url(str(engine.url)), "current": revision, "head": head})
        return
    state = "[green]up to date[/]" if revision == head else "[yellow]needs `ntrader db upgrade`[/]"
    stdout().print(f"{describe_url(str(engine.url))}: revision {revision or 'none'} ({state})")
