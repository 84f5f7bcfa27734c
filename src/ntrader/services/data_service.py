"""Market data: CSV import into the store, listing, export, and loading for backtests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from ntrader.core.errors import (
    ConflictError,
    DataValidationError,
    NotFoundError,
    NtraderError,
    UserInputError,
)
from ntrader.core.instrument_catalog import default_spec
from ntrader.db.bar_bulk import BarDiff, select_bars
from ntrader.db.database import Database, Repositories
from ntrader.db.repositories import BarRevision, StoredInstrument
from ntrader.models.bars import (
    BAR_COLUMNS,
    PRICE_COLUMNS,
    VALUE_COLUMNS,
    BarArrays,
    BarCoverage,
    decimal_texts,
)
from ntrader.models.enums import AssetClass, Timeframe
from ntrader.services import telemetry
from ntrader.services.bar_cache import load_bars
from ntrader.services.instruments import find_stored, split_instrument
from ntrader.utils.logging import get_logger
from ntrader.utils.timeutil import NS_PER_DAY, date_to_ns, ns_to_datetime

_INSERT_CHUNK = 250_000
BAR_CHUNK_ROWS = 50_000  # bars read per window when streaming them out

_log = get_logger(__name__)

ProgressCallback = Callable[[str, int, int], None]
"""Called with (stage, done, total) as an import parses and stores rows."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    file: Path
    instrument_id: str
    timeframe: Timeframe
    rows_in_file: int
    rows_imported: int
    """New bars: none was stored at their time."""
    rows_replaced: int
    """Stored bars that differed from the file's and were replaced (``--replace``)."""
    first_ts: int
    last_ts: int
    price_precision: int
    data_version: int
    """The series' data version after the import (see ``BarRepository.revision``)."""
    seconds: float

    @property
    def rows_already_present(self) -> int:
        """Bars stored already with the file's exact values."""
        return self.rows_in_file - self.rows_imported - self.rows_replaced


@dataclass(frozen=True, slots=True)
class ImportRequest:
    file: Path
    instrument: str
    timeframe: Timeframe = Timeframe.DAILY
    venue: str | None = None
    asset_class: AssetClass | None = None
    currency: str | None = None
    timezone: str = "UTC"
    replace: bool = False
    """Store the file's values where they differ from stored bars (else refuse the file)."""
    content: bytes | None = None
    """The CSV itself (bars fetched from IB); ``file`` then only names it."""


_SHOWN_CHANGES = 3


class BarsDifferError(DataValidationError, ConflictError):
    """A file has bars that differ from the stored ones at the same times; nothing written."""

    def __init__(
        self,
        request: ImportRequest,
        instrument: StoredInstrument,
        data: BarArrays,
        diff: BarDiff,
    ) -> None:
        precision = max(instrument.spec.price_precision, data.price_precision)
        shown = [
            _describe_change(
                request.timeframe,
                {name: getattr(diff.stored, name)[i] for name in BAR_COLUMNS},
                {name: getattr(data, name)[row] for name in BAR_COLUMNS},
                precision,
            )
            for i, row in enumerate(diff.changed[:_SHOWN_CHANGES].tolist())
        ]
        more = "; …" if diff.rows_changed > _SHOWN_CHANGES else ""
        count = diff.rows_changed
        super().__init__(
            f"{request.file.name}: {count:,} bar{'s' if count != 1 else ''} differ"
            f"{'s' if count == 1 else ''} from the stored {instrument.spec.instrument_id} "
            f"{request.timeframe.value} bars at the same time ({'; '.join(shown)}{more}); "
            "nothing was imported.",
            hint="Add --replace to store the file's values instead (backtests already run "
            "keep their results; `ntrader backtest rerun` shows what changes), or correct "
            "the file.",
        )
        self.rows_changed = count

    def details(self) -> dict[str, Any]:
        return {"rows_changed": self.rows_changed}


def _describe_change(
    timeframe: Timeframe, old: dict[str, float], new: dict[str, float], precision: int
) -> str:
    """``2024-01-03: close 100.20 → 100.25`` for the fields that differ."""
    stamp = ns_to_datetime(int(old["ts"]))
    when = (
        stamp.date().isoformat()
        if timeframe is Timeframe.DAILY
        else stamp.strftime("%Y-%m-%d %H:%M UTC")
    )
    changes = [
        f"{name} {_fmt(old[name], name, precision)} → {_fmt(new[name], name, precision)}"
        for name in VALUE_COLUMNS
        if _fmt(old[name], name, precision) != _fmt(new[name], name, precision)
    ]
    return f"{when}: {', '.join(changes)}"


def _fmt(value: float, field: str, precision: int) -> str:
    if field != "volume":
        return f"{value:.{precision}f}"
    return f"{value:,.0f}" if value == int(value) else repr(float(value))


class ImportInterruptedError(NtraderError):
    """Ctrl-C during an import: says whether the import was stored (it is all or nothing)."""

    exit_code = 130

    @classmethod
    def unchanged(cls, file: Path) -> ImportInterruptedError:
        return cls(
            f"The import of {file.name} was interrupted; the store is unchanged.",
            hint="Run the same command again to import the file.",
        )

    @classmethod
    def stored(
        cls, file: Path, instrument_id: str, timeframe: Timeframe, added: int, replaced: int
    ) -> ImportInterruptedError:
        if added == replaced == 0:
            return cls.unchanged(file)
        replaced_text = f" and {replaced:,} replaced" if replaced else ""
        return cls(
            f"Interrupted after the import of {file.name} had finished: {added:,} new "
            f"{timeframe.value} bars of {instrument_id}{replaced_text} are stored.",
            hint="`ntrader data list` shows them; importing the file again adds nothing.",
        )

    @classmethod
    def from_revision(cls, file: Path, revision: BarRevision | None) -> ImportInterruptedError:
        if revision is None:
            return cls.unchanged(file)
        return cls.stored(
            file,
            revision.instrument_id,
            revision.timeframe,
            revision.rows_added,
            revision.rows_replaced,
        )


class DataService:
    def __init__(self, database: Database) -> None:
        self._database = database

    def import_csv(
        self, request: ImportRequest, on_progress: ProgressCallback | None = None
    ) -> ImportResult:
        """Validate the whole file, compare it with the stored bars, then store it in one
        transaction (all or nothing).

        Bars equal to stored ones are skipped; bars that differ from stored ones raise
        ``BarsDifferError`` unless ``request.replace``. Ctrl-C raises
        ``ImportInterruptedError``, which says whether the import had been stored.
        """
        import_id = str(uuid.uuid4())
        try:
            return self._import(request, on_progress, import_id)
        except KeyboardInterrupt as exc:
            # The store, not a flag, says whether the commit happened: the interrupt may
            # have arrived inside the commit itself.
            with self._database.transaction() as repos:
                revision = repos.bars.revision_of_import(import_id)
            raise ImportInterruptedError.from_revision(request.file, revision) from exc

    def _import(
        self, request: ImportRequest, on_progress: ProgressCallback | None, import_id: str
    ) -> ImportResult:
        from ntrader.services.csv_loader import read_bars_csv  # pandas: only when importing

        started = time.perf_counter()
        report = on_progress or (lambda _stage, _done, _total: None)
        data = read_bars_csv(
            request.file,
            timezone=request.timezone,
            on_progress=lambda rows: report("parse", rows, 0),
            content=request.content,
        )
        symbol, venue_in_name = split_instrument(request.instrument)
        venue = request.venue.upper() if request.venue else venue_in_name
        timeframe = request.timeframe
        with self._database.transaction() as repos:
            stored = self._instrument_for_import(repos, symbol, venue, request, data)
            diff = repos.bars.compare(stored, timeframe, data)
            if diff.rows_changed and not request.replace:
                raise BarsDifferError(request, stored, data, diff)
            replaced = repos.bars.replace(stored, timeframe, select_bars(data, diff.changed))
            if replaced != diff.rows_changed:
                raise RuntimeError(f"replaced {replaced} of {diff.rows_changed} changed bars")
            # A fresh import stores every row: skip the copy a selection would make.
            new = data if diff.rows_new == len(data) else select_bars(data, diff.new)
            added = 0
            for start in range(0, len(new), _INSERT_CHUNK):
                chunk = new.slice(start, start + _INSERT_CHUNK)
                added += repos.bars.insert(stored, timeframe, chunk)
                report("store", min(start + _INSERT_CHUNK, len(new)), len(new))
            if added or replaced:
                # A mask, not np.union1d: union1d hashes every index (seconds for 1M rows).
                is_touched = diff.new.copy()
                is_touched[diff.changed] = True
                touched = data.ts[np.flatnonzero(is_touched)]
                version = repos.bars.record_revision(
                    stored,
                    timeframe,
                    import_id=import_id,
                    rows_added=added,
                    rows_replaced=replaced,
                    first_ts=int(touched[0]),
                    last_ts=int(touched[-1]),
                    source=request.file.name,
                ).revision
            else:
                version = repos.bars.revision(stored, timeframe)
        telemetry.record_import(added, replaced, len(data) - added - replaced)
        _log.info(
            "import.completed",
            instrument=stored.spec.instrument_id,
            timeframe=timeframe.value,
            rows_in_file=len(data),
            rows_imported=added,
            rows_replaced=replaced,
            data_version=version,
            seconds=round(time.perf_counter() - started, 3),
        )
        return ImportResult(
            file=request.file,
            instrument_id=stored.spec.instrument_id,
            timeframe=timeframe,
            rows_in_file=len(data),
            rows_imported=added,
            rows_replaced=replaced,
            first_ts=int(data.ts[0]),
            last_ts=int(data.ts[-1]),
            price_precision=stored.spec.price_precision,
            data_version=version,
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
        """The instrument, created if new, with the series locked for this transaction."""
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
            stored = existing[0]
        else:
            spec = default_spec(
                symbol,
                venue=venue,
                asset_class=request.asset_class,
                currency=request.currency,
                price_precision=max(2, data.price_precision),
            )
            stored = repos.instruments.add(spec)
        repos.bars.lock(stored, request.timeframe)
        # Read again under the lock: a concurrent import may have widened the precision.
        current = repos.instruments.get(stored.spec.instrument_id) or stored
        return repos.instruments.raise_precision(current, data.price_precision)

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
            data = load_bars(
                repos.bars,
                stored,
                timeframe,
                date_to_ns(start) if start else np.iinfo(np.int64).min,
                date_to_ns(end) + NS_PER_DAY if end else np.iinfo(np.int64).max,
            )
        if data.is_empty:
            raise _no_bars(stored, timeframe)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(bars_csv(data, stored.spec.price_precision), encoding="utf-8")
        return len(data)

    def open_bars(
        self,
        instrument: str,
        timeframe: Timeframe,
        start: date | None = None,
        end: date | None = None,
        chunk_rows: int = BAR_CHUNK_ROWS,
    ) -> BarStream:
        """Stored bars to read in chunks of at most about ``chunk_rows`` rows, so a year of
        minute bars is never held whole; refused up front when the range holds none."""
        start_ns = date_to_ns(start) if start else np.iinfo(np.int64).min
        end_ns = date_to_ns(end) + NS_PER_DAY if end else np.iinfo(np.int64).max
        with self._database.transaction() as repos:
            stored = find_stored(repos.instruments, instrument)
            coverage = repos.bars.coverage(stored.spec.instrument_id, timeframe)
            rows = repos.bars.count(stored, timeframe, start_ns, end_ns) if coverage else 0
        if not rows:
            raise _no_bars(stored, timeframe)
        first = max(start_ns, coverage[0].first_ts)
        last = min(end_ns, coverage[0].last_ts + 1)
        window = timeframe.seconds * 1_000_000_000 * chunk_rows
        return BarStream(self._database, stored, timeframe, rows, first, last, window)


@dataclass(frozen=True, slots=True)
class BarStream:
    """One instrument's bars over a range, read back window by window."""

    database: Database
    stored: StoredInstrument
    timeframe: Timeframe
    rows: int
    start_ns: int
    end_ns: int
    window_ns: int

    @property
    def instrument_id(self) -> str:
        return self.stored.spec.instrument_id

    @property
    def price_precision(self) -> int:
        return self.stored.spec.price_precision

    def chunks(self) -> Iterator[BarArrays]:
        """The bars in time order, one window per transaction (a window with no bars is
        skipped)."""
        for window_start in range(self.start_ns, self.end_ns, self.window_ns):
            window_end = min(window_start + self.window_ns, self.end_ns)
            with self.database.transaction() as repos:
                data = repos.bars.load(self.stored, self.timeframe, window_start, window_end)
            if not data.is_empty:
                yield data


def bar_texts(data: BarArrays, precision: int) -> dict[str, list[str] | np.ndarray]:
    """The bars as texts by column: ISO UTC times, prices with the instrument's decimals
    (or more, should a stored price need them) and the volume with its own, so nothing is
    rounded away."""
    prices = decimal_texts([getattr(data, name) for name in PRICE_COLUMNS], precision)
    return {
        "timestamp": _iso_utc(data.ts),
        **dict(zip(PRICE_COLUMNS, prices, strict=True)),
        "volume": decimal_texts([data.volume])[0],
    }


def bars_csv(data: BarArrays, precision: int, *, header: bool = True) -> str:
    """Bars as the CSV ``data export`` writes and ``data import`` reads back unchanged."""
    import pandas as pd

    return pd.DataFrame(bar_texts(data, precision)).to_csv(index=False, header=header)


def _no_bars(stored: StoredInstrument, timeframe: Timeframe) -> NotFoundError:
    return NotFoundError(
        f"No {timeframe.value} bars of {stored.spec.instrument_id} in that range.",
        hint="`ntrader data list` shows the stored ranges.",
    )


def _iso_utc(ts: np.ndarray) -> np.ndarray:
    """2024-01-02T09:30:00Z, with the fraction of a second (to the nanosecond) if any has one."""
    unit = "s" if np.all(ts % 1_000_000_000 == 0) else "ns"
    return np.char.add(np.datetime_as_string(ts.astype("datetime64[ns]"), unit=unit), "Z")
