"""Market data: CSV import into the store, listing, export, and loading for backtests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from ntrader.core.errors import NotFoundError, UserInputError
from ntrader.core.instrument_catalog import default_spec
from ntrader.db.database import Database, Repositories
from ntrader.db.repositories import BarCoverage, StoredInstrument
from ntrader.models.bars import BarArrays
from ntrader.models.enums import AssetClass, Timeframe
from ntrader.services.instruments import find_stored, split_instrument
from ntrader.utils.timeutil import NS_PER_DAY, date_to_ns

_INSERT_CHUNK = 250_000

ProgressCallback = Callable[[str, int, int], None]
"""Called with (stage, done, total) as an import parses and stores rows."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    file: Path
    instrument_id: str
    timeframe: Timeframe
    rows_in_file: int
    rows_imported: int
    first_ts: int
    last_ts: int
    price_precision: int
    seconds: float

    @property
    def rows_already_present(self) -> int:
        return self.rows_in_file - self.rows_imported


@dataclass(frozen=True, slots=True)
class ImportRequest:
    file: Path
    instrument: str
    timeframe: Timeframe = Timeframe.DAILY
    venue: str | None = None
    asset_class: AssetClass | None = None
    currency: str | None = None
    timezone: str = "UTC"


class DataService:
    def __init__(self, database: Database) -> None:
        self._database = database

    def import_csv(
        self, request: ImportRequest, on_progress: ProgressCallback | None = None
    ) -> ImportResult:
        """Validate the whole file, then store it in one transaction (all or nothing)."""
        from ntrader.services.csv_loader import read_bars_csv  # pandas: only when importing

        started = time.perf_counter()
        report = on_progress or (lambda _stage, _done, _total: None)
        data = read_bars_csv(
            request.file,
            timezone=request.timezone,
            on_progress=lambda rows: report("parse", rows, 0),
        )
        symbol, venue_in_name = split_instrument(request.instrument)
        venue = request.venue.upper() if request.venue else venue_in_name
        with self._database.transaction() as repos:
            stored = self._instrument_for_import(repos, symbol, venue, request, data)
            imported = 0
            for start in range(0, len(data), _INSERT_CHUNK):
                chunk = data.slice(start, start + _INSERT_CHUNK)
                imported += repos.bars.add(stored, request.timeframe, chunk)
                report("store", min(start + _INSERT_CHUNK, len(data)), len(data))
        return ImportResult(
            file=request.file,
            instrument_id=stored.spec.instrument_id,
            timeframe=request.timeframe,
            rows_in_file=len(data),
            rows_imported=imported,
            first_ts=int(data.ts[0]),
            last_ts=int(data.ts[-1]),
            price_precision=stored.spec.price_precision,
            seconds=time.perf_counter() - started,
        )

    @staticmethod
    def _instrument_for_import(
        repos: Repositories,
        symbol: str,
        venue: str | None,
        request: ImportRequest,
        data: BarArrays,
    ) -> StoredInstrument:
        existing = repos.instruments.by_symbol(symbol)
        if venue:
            existing = [s for s in existing if s.spec.venue == venue]
        if len(existing) > 1:
            names = ", ".join(s.spec.instrument_id for s in existing)
            raise UserInputError(
                f"{symbol} is stored for several venues ({names}).",
                hint="Say which one with --venue.",
            )
        if existing:
            return repos.instruments.raise_precision(existing[0], data.price_precision)
        spec = default_spec(
            symbol,
            venue=venue,
            asset_class=request.asset_class,
            currency=request.currency,
            price_precision=max(2, data.price_precision),
        )
        return repos.instruments.add(spec)

    def coverage(
        self, instrument: str | None = None, timeframe: Timeframe | None = None
    ) -> list[BarCoverage]:
        with self._database.transaction() as repos:
            instrument_id = (
                find_stored(repos.instruments, instrument).spec.instrument_id
                if (instrument)
                else None
            )
            return repos.bars.coverage(instrument_id, timeframe)

    def export_csv(
        self,
        instrument: str,
        timeframe: Timeframe,
        start: date | None,
        end: date | None,
        output: Path,
    ) -> int:
        """Write stored bars as a CSV that ``data import`` reads back unchanged."""
        with self._database.transaction() as repos:
            stored = find_stored(repos.instruments, instrument)
            data = repos.bars.load(
                stored,
                timeframe,
                date_to_ns(start) if start else np.iinfo(np.int64).min,
                date_to_ns(end) + NS_PER_DAY if end else np.iinfo(np.int64).max,
            )
        if data.is_empty:
            raise NotFoundError(
                f"No {timeframe.value} bars of {stored.spec.instrument_id} in that range.",
                hint="`ntrader data list` shows the stored ranges.",
            )
        import pandas as pd

        precision = stored.spec.price_precision
        frame = pd.DataFrame(
            {
                "timestamp": pd.to_datetime(data.ts, utc=True).strftime("%Y-%m-%dT%H:%M:%SZ"),
                **{name: getattr(data, name) for name in ("open", "high", "low", "close")},
                "volume": _compact_volume(data.volume),
            }
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(output, index=False, float_format=f"%.{precision}f")
        return len(data)


def _compact_volume(volume: np.ndarray) -> np.ndarray:
    """Whole-share volumes as integers; fractional ones (FX, crypto) as they are."""
    return volume.astype(np.int64) if np.all(volume == np.floor(volume)) else volume
