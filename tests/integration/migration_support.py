"""Alembic as the migration tests drive it: down to a revision and back up, by URL."""

from __future__ import annotations

from alembic.config import Config

from ntrader.db.engine import MIGRATIONS_DIR


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats "%" as interpolation; URL-encoded passwords are full of them.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config
