"""The database a command works on: an engine, migrated on first use, and transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from ntrader.db.engine import (
    DEFAULT_SQLITE_BUSY_TIMEOUT_MS,
    connect,
    create_db_engine,
    describe_url,
    ensure_schema,
)
from ntrader.db.faults import database_errors
from ntrader.db.repositories import (
    BacktestRepository,
    BarRepository,
    FetchJobRepository,
    InstrumentRepository,
    StrategyRepository,
    SweepRepository,
    WalkForwardRepository,
)


@dataclass(frozen=True, slots=True)
class Repositories:
    """The repositories of one transaction."""

    connection: Connection
    instruments: InstrumentRepository
    bars: BarRepository
    backtests: BacktestRepository
    strategies: StrategyRepository
    sweeps: SweepRepository
    walk_forwards: WalkForwardRepository
    fetch_jobs: FetchJobRepository


class Database:
    def __init__(
        self,
        url: str,
        *,
        migrate: bool = True,
        sqlite_busy_timeout_ms: int = DEFAULT_SQLITE_BUSY_TIMEOUT_MS,
    ) -> None:
        self.url = url
        self.engine: Engine = create_db_engine(url, sqlite_busy_timeout_ms=sqlite_busy_timeout_ms)
        if migrate:
            ensure_schema(self.engine)

    @property
    def display_url(self) -> str:
        return describe_url(self.url)

    @contextmanager
    def transaction(self) -> Iterator[Repositories]:
        """One transaction: committed when the block ends, rolled back if it raises.

        A database fault inside the block (a lock, a lost connection, a read-only file)
        leaves it as a ServiceUnavailableError that says what happened; an IntegrityError
        stays one, for callers that turn it into "that name is taken".
        """
        with (
            database_errors(self.engine.url, keep_integrity_errors=True),
            connect(self.engine) as connection,
            connection.begin(),
        ):
            yield Repositories(
                connection=connection,
                instruments=InstrumentRepository(connection),
                bars=BarRepository(connection),
                backtests=BacktestRepository(connection),
                strategies=StrategyRepository(connection),
                sweeps=SweepRepository(connection),
                walk_forwards=WalkForwardRepository(connection),
                fetch_jobs=FetchJobRepository(connection),
            )

    def dispose(self) -> None:
        self.engine.dispose()
