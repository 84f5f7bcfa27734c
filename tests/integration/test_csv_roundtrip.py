"""`data export` then `data import` of the same bars gives back the very same stored numbers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from ntrader.db.database import Database
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe
from ntrader.services.data_service import DataService, ImportRequest

NS_PER_SECOND = 1_000_000_000
FIRST_OPEN = 1_704_205_800 * NS_PER_SECOND  # 2024-01-02 14:30 UTC
BARS = 40

# symbol, price decimals, volume decimals: equities (with fractional shares finer than the
# price tick), FX at 4 and 5 decimals, JPY at 3, and a crypto-like pair at 8.
KINDS = {
    "equity-2": ("AAPL", 2, 4),
    "fx-4": ("GBPUSD", 4, 0),
    "fx-5": ("EURUSD", 5, 0),
    "jpy-3": ("USDJPY", 3, 0),
    "crypto-8": ("BTCUSD", 8, 8),
}
BASE_PRICE = {"AAPL": 185, "GBPUSD": 1.27, "EURUSD": 1.08, "USDJPY": 151, "BTCUSD": 64000}


def source_file(path: Path, timeframe: Timeframe, symbol: str, decimals: int, vol: int) -> Path:
    """A file of random-walk bars written as exact decimal texts; daily bars at midnight UTC."""
    rng = np.random.default_rng(7)
    tick = Decimal(1).scaleb(-decimals)
    step = 86_400 if timeframe is Timeframe.DAILY else timeframe.seconds
    first = FIRST_OPEN - FIRST_OPEN % (86_400 * NS_PER_SECOND) if step == 86_400 else FIRST_OPEN
    close = Decimal(str(BASE_PRICE[symbol])).quantize(tick)
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(BARS):
        open_ = close
        close = max(tick, open_ + tick * int(rng.integers(-40, 41)))
        high = max(open_, close) + tick * int(rng.integers(0, 20))
        low = max(tick, min(open_, close) - tick * int(rng.integers(0, 20)))
        volume = Decimal(int(rng.integers(0, 10**9))).scaleb(-vol)
        ts = first + i * step * NS_PER_SECOND
        lines.append(f"{ts},{open_},{high},{low},{close},{volume}")
    path.write_text("\n".join(lines) + "\n")
    return path


def stored_bars(database: Database, instrument_id: str, timeframe: Timeframe) -> BarArrays:
    with database.transaction() as repos:
        stored = repos.instruments.get(instrument_id)
        assert stored is not None
        return repos.bars.load(stored, timeframe, 0, 2**62)


@pytest.mark.parametrize("kind", list(KINDS))
def test_export_then_import_changes_nothing(
    empty_database: Database, tmp_path: Path, kind: str
) -> None:
    # Every timeframe of one instrument in one store: one setup, four series.
    for timeframe in Timeframe:
        check_round_trip(empty_database, tmp_path / timeframe.value, timeframe, *KINDS[kind])


def check_round_trip(
    database: Database,
    folder: Path,
    timeframe: Timeframe,
    symbol: str,
    decimals: int,
    volume_decimals: int,
) -> None:
    folder.mkdir()
    path = source_file(folder / "in.csv", timeframe, symbol, decimals, volume_decimals)
    texts = [line.split(",") for line in path.read_text().splitlines()[1:]]
    service = DataService(database)
    first = service.import_csv(ImportRequest(file=path, instrument=symbol, timeframe=timeframe))
    assert first.rows_imported == BARS
    original = stored_bars(database, first.instrument_id, timeframe)
    # The store holds exactly the file's decimals, as floats.
    for i, column in enumerate(("open", "high", "low", "close", "volume"), start=1):
        assert getattr(original, column).tolist() == [float(row[i]) for row in texts]
    assert original.ts.tolist() == [int(row[0]) for row in texts]

    exported = folder / "out.csv"
    assert service.export_csv(symbol, timeframe, None, None, exported) == BARS
    again = service.import_csv(
        ImportRequest(file=exported, instrument=first.instrument_id, timeframe=timeframe)
    )

    assert (again.rows_imported, again.rows_replaced, again.rows_in_file) == (0, 0, BARS)
    reloaded = stored_bars(database, first.instrument_id, timeframe)
    for column in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(reloaded, column), getattr(original, column))
    # The export writes each value as its decimal: the instrument's price decimals, the
    # volume's own.
    exported_rows = [line.split(",") for line in exported.read_text().splitlines()[1:]]
    assert [Decimal(row[4]) for row in exported_rows] == [Decimal(row[4]) for row in texts]
    assert [Decimal(row[5]) for row in exported_rows] == [Decimal(row[5]) for row in texts]


def test_export_keeps_fractions_of_a_second(empty_database: Database, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-02T14:30:00.25Z,10,11,9,10.5,1\n"
        "2024-01-02T14:31:00.000000001Z,10,11,9,10.5,1\n"
    )
    service = DataService(empty_database)
    first = service.import_csv(
        ImportRequest(file=path, instrument="AAPL", timeframe=Timeframe.MINUTE_1)
    )
    original = stored_bars(empty_database, first.instrument_id, Timeframe.MINUTE_1)

    exported = tmp_path / "out.csv"
    service.export_csv("AAPL", Timeframe.MINUTE_1, None, None, exported)
    again = service.import_csv(
        ImportRequest(file=exported, instrument="AAPL", timeframe=Timeframe.MINUTE_1)
    )

    assert exported.read_text().splitlines()[1].startswith("2024-01-02T14:30:00.250000000Z,")
    assert (again.rows_imported, again.rows_replaced) == (0, 0)
    np.testing.assert_array_equal(
        stored_bars(empty_database, first.instrument_id, Timeframe.MINUTE_1).ts, original.ts
    )
