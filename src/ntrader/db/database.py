"""The database a command works on: an engine, migrated on first use, and transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from ntrader.db.bar_bulk import close_reader
from ntrader.db.engine import connect, create_db_engine, describe_url, ensure_schema
from ntrader.db.repositories import (
    BacktestRepository,
    BarRepository,
    InstrumentRepository,
    StrategyRepository,
)


@dataclass(frozen=True, slots=True)
class Repositories:
    """The repositories of one transaction."""

    connection: Connection
    instruments: InstrumentRepository
    bars: BarRepository
    backtests: BacktestRepository
    strategies: StrategyRepository


class Database:
    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine: Engine = create_db_engine(url)
        if migrate:
            ensure_schema(self.engine)

    @property
    def display_url(self) -> str:
        return describe_url(self.url)

    @contextmanager
    def transaction(self) -> Iterator[Repositories]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        connection = connect(self.engine)
        with connection, connection.begin():
            yield Repositories(
                connection=connection,
                instruments=InstrumentRepository(connection),
                bars=BarRepository(connection),
                backtests=BacktestRepository(connection),
                strategies=StrategyRepository(connection),
            )

    def dispose(self) -> None:
        close_reader(self.engine)
        self.engine.dispose()
