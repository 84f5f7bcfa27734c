"""Bar series stored a second time as column blocks, which is what loads read.

A row of ``bar_blocks`` holds one span of a series (instrument, timeframe): the times, then
each of open, high, low, close and volume, packed as little-endian numbers. Loading a year
of minute bars reads about a hundred such rows instead of 400,000 rows of ``bars``: on
SQLite and on PostgreSQL alike, reading became a small share of turning the bars into
nautilus objects.

The ``bars`` table stays: coverage, day counts and SQL users read it. Every write of bars
goes through ``BarRepository.insert``/``replace``, which rewrite the blocks the written
bars fall in, in the same transaction, so both always hold the same bars (a property test
keeps them equal over random imports and replacements). Migration 0013 built the blocks
of the bars stored before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Connection, delete, select

from ntrader.core.errors import ServiceUnavailableError
from ntrader.db import bar_bulk
from ntrader.db.tables import bar_blocks, bars, instruments
from ntrader.models.bars import BAR_COLUMNS, BarArrays, broken_rule
from ntrader.models.enums import Timeframe

# A block spans this many bar lengths: 5.7 days of minute bars (at most 384 KiB packed), 22
# years of daily bars. Large enough that a load reads few rows, small enough that an import
# of a few bars rewrites little.
BAR_LENGTHS_PER_BLOCK = 8192
_NATIVE = {name: np.dtype(np.int64 if name == "ts" else np.float64) for name in BAR_COLUMNS}
_PACKED = {name: dtype.newbyteorder("<") for name, dtype in _NATIVE.items()}
_BYTES_PER_BAR = sum(dtype.itemsize for dtype in _PACKED.values())
# Through the driver, as the other bulk paths: SQLAlchemy would send and fetch PostgreSQL's
# bytea as hex text, which tripled the time of reading a year of minute bars.
_SELECT = (
    "SELECT block, bar_count, payload FROM bar_blocks WHERE instrument_id = {0} "
    "AND timeframe = {0} AND block >= {0} AND block <= {0} ORDER BY block"
)
_INSERT = (
    "INSERT INTO bar_blocks (instrument_id, timeframe, block, bar_count, payload) "
    "VALUES ({0}, {0}, {0}, {0}, {1})"
)


class DamagedBlocksError(ServiceUnavailableError):
    """Stored blocks are not what ntrader writes: wrong size, times out of order or span,
    or bars no import lets in."""

    def __init__(self, series: str, problem: str) -> None:
        self.problem = problem
        super().__init__(
            f"The stored bars of {series} are damaged: {problem}.",
            hint="Run `ntrader db rebuild-blocks` to rebuild them from the bars table.",
        )


@dataclass(frozen=True, slots=True)
class UnsoundSeries:
    """A series whose rows in ``bars`` hold bars no import lets in, and the first such bar."""

    symbol: str
    timeframe: str
    problem: str

    def __str__(self) -> str:
        return f"{self.symbol} {self.timeframe}"


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """What a rebuild wrote (series and bars), and the series it left as they were."""

    series: int
    bars: int
    unsound: tuple[UnsoundSeries, ...] = ()


class UnsoundRowsError(ServiceUnavailableError):
    """The ``bars`` table holds bars no import lets in (edited outside ntrader): the blocks of
    those series are not rebuilt from them; the other series' are."""

    def __init__(self, rebuilt: Rebuilt) -> None:
        self.rebuilt = rebuilt
        first, *others = rebuilt.unsound
        if others:
            names = ", ".join(str(series) for series in rebuilt.unsound)
            found = f"{len(rebuilt.unsound)} series ({names}); in {first}, {first.problem}"
            kept = "Their blocks were left as they were"
        else:
            found = f"{first}: {first.problem}"
            kept = "Its blocks were left as they were"
        if rebuilt.series:
            kept += (
                f"; those of the other {rebuilt.series:,} series ({rebuilt.bars:,} bars) were "
                "rebuilt"
            )
        super().__init__(
            f"The bars table holds unsound bars of {found}. {kept}.",
            hint=f"`ntrader data verify --instrument {first.symbol} --timeframe "
            f"{first.timeframe}` lists them{' (and likewise for each series)' if others else ''}; "
            "import the series again with --replace (or correct those rows), then run "
            "`ntrader db rebuild-blocks`.",
        )

    def details(self) -> dict[str, Any]:
        return {
            "rebuilt": {"series": self.rebuilt.series, "bars": self.rebuilt.bars},
            "unsound": [
                {"instrument": each.symbol, "timeframe": each.timeframe, "problem": each.problem}
                for each in self.rebuilt.unsound
            ],
        }


def block_span_ns(timeframe: str) -> int:
    return Timeframe(timeframe).seconds * 1_000_000_000 * BAR_LENGTHS_PER_BLOCK


def read(
    connection: Connection, instrument_pk: int, timeframe: str, start_ns: int, end_ns: int
) -> dict[str, np.ndarray]:
    """The series' bars with ``start_ns <= ts < end_ns`` in time order, as writable column
    arrays, read on ``connection`` (so within its transaction)."""
    if end_ns <= start_ns:
        return _empty_columns()
    span = block_span_ns(timeframe)
    columns = _read_blocks(
        connection, instrument_pk, timeframe, start_ns // span, (end_ns - 1) // span
    )
    ts = columns["ts"]
    first, last = np.searchsorted(ts, [start_ns, end_ns])
    if first == 0 and last == len(ts):
        return columns
    return {name: values[first:last].copy() for name, values in columns.items()}


def write(connection: Connection, instrument_pk: int, timeframe: str, bars: BarArrays) -> None:
    """Put ``bars`` (sorted by time) into the series' blocks: a bar at a time already stored
    replaces it, any other is added."""
    if bars.is_empty:
        return
    span = block_span_ns(timeframe)
    first_block, last_block = int(bars.ts[0]) // span, int(bars.ts[-1]) // span
    stored = _read_blocks(connection, instrument_pk, timeframe, first_block, last_block)
    merged = _merge(stored, bars)
    block_of = merged["ts"] // span
    blocks, starts = np.unique(block_of, return_index=True)
    ends = [*starts[1:].tolist(), len(block_of)]
    rows = [
        (
            instrument_pk,
            timeframe,
            block,
            end - start,
            b"".join(
                merged[name][start:end].astype(_PACKED[name], copy=False).tobytes()
                for name in BAR_COLUMNS
            ),
        )
        for block, start, end in zip(blocks.tolist(), starts.tolist(), ends, strict=True)
    ]
    connection.execute(
        delete(bar_blocks).where(*_series_blocks(instrument_pk, timeframe, first_block, last_block))
    )
    driver = bar_bulk.driver_connection(connection)
    if connection.dialect.name == "postgresql":
        with driver.cursor() as cursor:  # %b: the payload goes as binary, not hex text
            cursor.executemany(_INSERT.format("%s", "%b"), rows)
    else:
        driver.executemany(_INSERT.format("?", "?"), rows)


def _merge(stored: dict[str, np.ndarray], bars: BarArrays) -> dict[str, np.ndarray]:
    """``stored`` with ``bars`` written over it: same time replaces, others join, in time order."""
    position = np.searchsorted(stored["ts"], bars.ts)
    in_range = position < len(stored["ts"])
    replaces = np.zeros(len(bars), dtype=bool)
    replaces[in_range] = stored["ts"][position[in_range]] == bars.ts[in_range]
    kept = np.ones(len(stored["ts"]), dtype=bool)
    kept[position[replaces]] = False
    merged = {
        name: np.concatenate([stored[name][kept], getattr(bars, name)]) for name in BAR_COLUMNS
    }
    order = np.argsort(merged["ts"], kind="stable")
    return {name: values[order] for name, values in merged.items()}


def _read_blocks(
    connection: Connection, instrument_pk: int, timeframe: str, first_block: int, last_block: int
) -> dict[str, np.ndarray]:
    parameters = (instrument_pk, timeframe, first_block, last_block)
    driver = bar_bulk.driver_connection(connection)
    if connection.dialect.name == "postgresql":
        # Binary results: bytea as its bytes, where the text format doubles them as hex.
        with driver.cursor(binary=True) as cursor:
            found = cursor.execute(_SELECT.format("%s"), parameters).fetchall()
    else:
        found = driver.execute(_SELECT.format("?"), parameters).fetchall()
    if not found:
        return _empty_columns()
    series = f"instrument #{instrument_pk} {timeframe}"
    parts: dict[str, list[np.ndarray]] = {name: [] for name in BAR_COLUMNS}
    for block, count, payload in found:
        if count <= 0 or len(payload) != count * _BYTES_PER_BAR:
            raise DamagedBlocksError(
                series, f"block {block} holds {len(payload)} bytes for {count} bars"
            )
        offset = 0
        for name in BAR_COLUMNS:
            parts[name].append(
                np.frombuffer(payload, dtype=_PACKED[name], count=count, offset=offset)
            )
            offset += count * _PACKED[name].itemsize
    # concatenate copies: the arrays are writable, as nautilus' bar builder needs.
    columns = {
        name: np.concatenate(values).astype(_NATIVE[name], copy=False)
        for name, values in parts.items()
    }
    blocks = np.repeat(
        np.array([row[0] for row in found], dtype=np.int64), [row[1] for row in found]
    )
    if not (columns["ts"] // block_span_ns(timeframe) == blocks).all():
        raise DamagedBlocksError(series, "a bar lies outside its block's span")
    # The content too: a block edited or corrupted outside ntrader must not reach the engine.
    problem = broken_rule(BarArrays(**columns, price_precision=0))
    if problem is not None:
        raise DamagedBlocksError(series, problem)
    return columns


def rebuild_all(connection: Connection, *, refuse_unsound: bool = True) -> Rebuilt:
    """Write every series' blocks anew from its rows in ``bars`` (each series locked as an
    import locks it). A series with unsound rows keeps the blocks it has and is listed in
    what this returns, unless ``refuse_unsound`` is False: then its rows are packed, and
    loads refuse them. One such series does not hold back the repair of the others."""
    series = connection.execute(
        select(bars.c.instrument_id, bars.c.timeframe, instruments.c.instrument_id)
        .distinct()
        .outerjoin(instruments, instruments.c.id == bars.c.instrument_id)
        .order_by(bars.c.instrument_id, bars.c.timeframe)
    ).all()
    written: list[int] = []
    unsound: list[UnsoundSeries] = []
    for instrument_pk, timeframe, name in series:
        bar_bulk.lock_series(connection, instrument_pk, timeframe)
        columns = bar_bulk.read_in_transaction(connection, instrument_pk, timeframe, *_EVERY_INT64)
        rows = BarArrays(**columns, price_precision=0)
        problem = broken_rule(rows) if refuse_unsound else None
        if problem is not None:
            symbol = name or f"instrument #{instrument_pk}"
            unsound.append(UnsoundSeries(symbol, timeframe, problem))
            continue
        connection.execute(
            delete(bar_blocks).where(*_series_blocks(instrument_pk, timeframe, *_EVERY_INT64))
        )
        write(connection, instrument_pk, timeframe, rows)
        written.append(len(rows))
    return Rebuilt(len(written), sum(written), tuple(unsound))


# Every time and every block number: the whole series.
_EVERY_INT64 = (-(2**63), 2**63 - 1)


def _series_blocks(
    instrument_pk: int, timeframe: str, first_block: int, last_block: int
) -> tuple[ColumnElement[bool], ...]:
    return (
        bar_blocks.c.instrument_id == instrument_pk,
        bar_blocks.c.timeframe == timeframe,
        bar_blocks.c.block >= first_block,
        bar_blocks.c.block <= last_block,
    )


def _empty_columns() -> dict[str, np.ndarray]:
    return {name: np.empty(0, dtype=dtype) for name, dtype in _NATIVE.items()}
