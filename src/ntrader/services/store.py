"""The store as the faces see it: opened from a URL (or the settings), and its schema revision.

The CLI holds the ``Database`` it gets here and hands it back to the services; it never
imports ``ntrader.db`` itself (an import-linter contract in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from ntrader.db.bar_blocks import UnsoundRowsError
from ntrader.db.database import Database
from ntrader.db.engine import (
    create_db_engine,
    current_revision,
    describe_url,
    head_revision,
    sqlite_file,
    upgrade,
)
from ntrader.utils.settings import get_settings


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where the store is (password hidden) and its schema revision against the newest."""

    database: str
    current: str | None
    head: str | None


@dataclass(frozen=True, slots=True)
class Migration:
    """Where the store is (password hidden) and its schema revision before and after."""

    database: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class BlocksRebuilt:
    """Where the store is (password hidden), and the series and bars whose blocks were
    written anew."""

    database: str
    series: int
    bars: int


def open_database(database_url: str | None) -> Database:
    """The store at ``database_url``, or at the configured one when it is None."""
    settings = get_settings()
    return Database(
        database_url or settings.resolved_database_url,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )


@contextmanager
def _engine(database_url: str | None) -> Iterator[Engine]:
    settings = get_settings()
    engine = create_db_engine(
        database_url or settings.resolved_database_url,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
    try:
        yield engine
    finally:
        engine.dispose()


def missing_store(database_url: str) -> Path | None:
    """The SQLite file ``database_url`` names, when it does not exist yet: the first command
    that opens the store makes and migrates it."""
    path = sqlite_file(database_url)
    return path if path is not None and not path.exists() else None


def schema_state(database_url: str | None) -> SchemaState:
    with _engine(database_url) as engine:
        return SchemaState(
            describe_url(str(engine.url)), current_revision(engine), head_revision(engine)
        )


def migrate(database_url: str | None) -> Migration:
    """Upgrade the store to the newest schema."""
    with _engine(database_url) as engine:
        before = current_revision(engine)
        upgrade(engine)
        return Migration(describe_url(str(engine.url)), before, current_revision(engine))


def rebuild_bar_blocks(database_url: str | None) -> BlocksRebuilt:
    """Write the column blocks loads read anew from the bars table, in one transaction.

    A series whose rows are unsound keeps its blocks; the others are rebuilt and committed,
    then ``UnsoundRowsError`` names what was left, so a partial repair never reads as a
    whole one."""
    database = open_database(database_url)
    try:
        with database.transaction() as repos:
            rebuilt = repos.bars.rebuild_blocks()
        if rebuilt.unsound:
            raise UnsoundRowsError(rebuilt)
        return BlocksRebuilt(describe_url(str(database.engine.url)), rebuilt.series, rebuilt.bars)
    finally:
        database.dispose()
