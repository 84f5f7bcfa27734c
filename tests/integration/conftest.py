"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ntrader.db.database import Database
from ntrader.services.data_service import DataService, ImportRequest


@pytest.fixture
def database(database_url: str, sample_dir: Path) -> Iterator[Database]:
    """A store holding the bundled AAPL and SPY daily bars (the benchmark)."""
    db = Database(database_url)
    service = DataService(db)
    for name, symbol in (("AAPL_daily.csv", "AAPL"), ("SPY_daily.csv", "SPY")):
        service.import_csv(ImportRequest(file=sample_dir / name, instrument=symbol))
    yield db
    db.dispose()


@pytest.fixture
def empty_database(database_url: str) -> Iterator[Database]:
    """An empty, migrated store."""
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def aapl_database(database_url: str, sample_dir: Path) -> Iterator[Database]:
    """A store holding the bundled AAPL daily bars only."""
    db = Database(database_url)
    DataService(db).import_csv(ImportRequest(file=sample_dir / "AAPL_daily.csv", instrument="AAPL"))
    yield db
    db.dispose()
