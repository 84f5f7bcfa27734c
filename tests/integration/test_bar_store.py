"""Importing and loading bars on SQLite and PostgreSQL through the same service."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from ntrader.core.errors import DataValidationError
from ntrader.db import bar_bulk
from ntrader.db.database import Database
from ntrader.db.tables import bars, instruments
from ntrader.models.bars import BarArrays
from ntrader.models.enums import AssetClass, Timeframe
from ntrader.models.instrument import InstrumentSpec
from ntrader.services import data_service
from ntrader.services.csv_loader import read_bars_csv
from ntrader.services.data_service import DataService, ImportInterruptedError, ImportRequest


def _count_bars(database: Database) -> int:
    with database.transaction() as repos:
        return int(repos.connection.execute(select(func.count()).select_from(bars)).scalar_one())


def test_import_then_reimport_adds_nothing(empty_database: Database, sample_dir: Path) -> None:
    service = DataService(empty_database)
    request = ImportRequest(file=sample_dir / "SPY_daily.csv", instrument="SPY")
    first = service.import_csv(request)
    assert (first.instrument_id, first.rows_in_file, first.rows_imported) == (
        "SPY.NYSE",
        1510,
        1510,
    )
    again = service.import_csv(request)
    assert again.rows_imported == 0
    assert again.rows_already_present == 1510
    assert _count_bars(empty_database) == 1510


def test_stored_bars_load_back_exactly(empty_database: Database, sample_dir: Path) -> None:
    path = sample_dir / "AAPL_1min.csv"
    DataService(empty_database).import_csv(
        ImportRequest(file=path, instrument="AAPL", timeframe=Timeframe.MINUTE_1)
    )
    parsed = read_bars_csv(path)
    with empty_database.transaction() as repos:
        stored = repos.instruments.get("AAPL.NASDAQ")
        assert stored is not None
        loaded = repos.bars.load(stored, Timeframe.MINUTE_1, 0, 2**62)
    assert loaded.ts.dtype == np.int64
    for column in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(loaded, column), getattr(parsed, column))


def test_partial_overlap_adds_only_new_bars(empty_database: Database, tmp_path: Path) -> None:
    header = "timestamp,open,high,low,close,volume\n"
    rows = [f"2024-01-{day:02d},10,11,9,10.5,100\n" for day in range(2, 12)]
    (tmp_path / "a.csv").write_text(header + "".join(rows[:6]))
    (tmp_path / "b.csv").write_text(header + "".join(rows[3:]))
    service = DataService(empty_database)
    service.import_csv(ImportRequest(file=tmp_path / "a.csv", instrument="MSFT"))
    result = service.import_csv(ImportRequest(file=tmp_path / "b.csv", instrument="MSFT"))
    assert (result.rows_imported, result.rows_already_present) == (4, 3)
    assert _count_bars(empty_database) == 10


def test_finer_prices_widen_the_instrument_precision(
    empty_database: Database, tmp_path: Path
) -> None:
    (tmp_path / "two.csv").write_text(
        "date,open,high,low,close,volume\n2024-01-02,100.10,101.00,99.50,100.20,10\n"
    )
    (tmp_path / "four.csv").write_text(
        "date,open,high,low,close,volume\n2024-01-03,100.10,101.1234,99.0001,100.2345,10\n"
    )
    service = DataService(empty_database)
    assert (
        service.import_csv(ImportRequest(file=tmp_path / "two.csv", instrument="X")).price_precision
        == 2
    )
    assert (
        service.import_csv(
            ImportRequest(file=tmp_path / "four.csv", instrument="X")
        ).price_precision
        == 4
    )
    with empty_database.transaction() as repos:
        stored = repos.instruments.get("X.NASDAQ")
        assert stored is not None and stored.spec.price_precision == 4
        loaded = repos.bars.load(stored, Timeframe.DAILY, 0, 2**62)
    assert loaded.close.tolist() == [100.2, 100.2345]


def test_interrupted_import_writes_nothing(
    empty_database: Database, sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_service, "_INSERT_CHUNK", 1000)

    def interrupt(stage: str, done: int, _total: int) -> None:
        if stage == "store" and done >= 2000:
            raise KeyboardInterrupt

    with pytest.raises(ImportInterruptedError, match="the store is unchanged"):
        DataService(empty_database).import_csv(
            ImportRequest(
                file=sample_dir / "AAPL_1min.csv", instrument="AAPL", timeframe=Timeframe.MINUTE_1
            ),
            interrupt,
        )
    assert _count_bars(empty_database) == 0
    with empty_database.transaction() as repos:
        assert (
            repos.connection.execute(select(func.count()).select_from(instruments)).scalar_one()
            == 0
        )


def test_rejected_file_changes_nothing(
    empty_database: Database, sample_dir: Path, tmp_path: Path
) -> None:
    service = DataService(empty_database)
    service.import_csv(ImportRequest(file=sample_dir / "SPY_daily.csv", instrument="SPY"))
    bad = tmp_path / "bad.csv"
    bad.write_text("date,open,high,low,close,volume\n2025-01-02,10,9,11,10,5\n")
    with pytest.raises(DataValidationError, match=r"bad\.csv"):
        service.import_csv(ImportRequest(file=bad, instrument="SPY"))
    assert _count_bars(empty_database) == 1510


def test_fx_pair_gets_fx_defaults(empty_database: Database, tmp_path: Path) -> None:
    path = tmp_path / "eurusd.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n2024-01-02,1.10421,1.10500,1.10300,1.10450,0\n"
    )
    result = DataService(empty_database).import_csv(ImportRequest(file=path, instrument="EUR/USD"))
    assert result.instrument_id == "EURUSD.IDEALPRO"
    with empty_database.transaction() as repos:
        stored = repos.instruments.get("EURUSD.IDEALPRO")
    assert stored is not None
    assert stored.spec.asset_class is AssetClass.FX
    assert stored.spec.price_precision == 5


def test_coverage_lists_each_instrument_and_timeframe(
    empty_database: Database, sample_dir: Path
) -> None:
    service = DataService(empty_database)
    service.import_csv(ImportRequest(file=sample_dir / "AAPL_daily.csv", instrument="AAPL"))
    service.import_csv(
        ImportRequest(
            file=sample_dir / "AAPL_1min.csv", instrument="AAPL", timeframe=Timeframe.MINUTE_1
        )
    )
    coverage = service.coverage()
    assert [(c.instrument_id, c.timeframe, c.rows) for c in coverage] == [
        ("AAPL.NASDAQ", Timeframe.MINUTE_1, 7620),
        ("AAPL.NASDAQ", Timeframe.DAILY, 1510),
    ]


def test_schema_head_constant_matches_alembic(database_url: str) -> None:
    from ntrader.db.engine import SCHEMA_HEAD, create_db_engine, current_revision, head_revision

    engine = create_db_engine(database_url)
    assert head_revision(engine) == SCHEMA_HEAD
    Database(database_url).dispose()
    assert current_revision(engine) == SCHEMA_HEAD
    engine.dispose()


def _three_bars() -> BarArrays:
    prices = np.array([10.0, 11.0, 12.0])
    return BarArrays(
        ts=np.array([1, 2, 3], dtype=np.int64) * 86_400_000_000_000,
        open=prices,
        high=prices + 1,
        low=prices - 1,
        close=prices,
        volume=np.full(3, 100.0),
        price_precision=2,
    )


def test_load_sees_the_bars_its_own_transaction_wrote(empty_database: Database) -> None:
    """A load after a write in the same transaction sees the written bars; rolled back, they
    are gone."""
    written = _three_bars()
    with empty_database.transaction() as repos:
        stored = repos.instruments.add(InstrumentSpec(symbol="ZZZ", venue="NYSE"))
    with empty_database.transaction() as repos:
        assert repos.bars.load(stored, Timeframe.DAILY, 0, 2**62).is_empty
        repos.bars.add(stored, Timeframe.DAILY, written)
        loaded = repos.bars.load(stored, Timeframe.DAILY, 0, 2**62)
        np.testing.assert_array_equal(loaded.ts, written.ts)
        np.testing.assert_array_equal(loaded.close, written.close)
        repos.connection.rollback()
    with empty_database.transaction() as repos:
        assert repos.bars.load(stored, Timeframe.DAILY, 0, 2**62).is_empty


def test_bulk_insert_stores_every_row_exactly(empty_database: Database) -> None:
    """Full statements plus a shorter last one (SQLite writes 400 rows per INSERT), and a
    series name with a quote, which SQLite gets as a literal in the statement."""
    count = 2 * 400 + 7
    rng = np.random.default_rng(3)
    written = BarArrays(
        ts=np.arange(count, dtype=np.int64) * 60_000_000_000,
        open=np.round(rng.uniform(1, 2, count), 4),
        high=np.round(rng.uniform(2, 3, count), 4),
        low=np.round(rng.uniform(0.5, 1, count), 4),
        close=np.round(rng.uniform(1, 2, count), 4),
        volume=rng.integers(0, 10**9, count).astype(np.float64),
        price_precision=4,
    )
    with empty_database.transaction() as repos:
        stored = repos.instruments.add(InstrumentSpec(symbol="ZZZ", venue="NYSE"))
        assert bar_bulk.insert_bars(repos.connection, stored.pk, "it's", written) == count
        loaded = bar_bulk.read_in_transaction(repos.connection, stored.pk, "it's", 0, 2**62)
        other = bar_bulk.read_in_transaction(repos.connection, stored.pk, "1MIN", 0, 2**62)
    for column in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(loaded[column], getattr(written, column))
    assert other["ts"].size == 0
