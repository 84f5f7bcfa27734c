"""Bulk paths for bars: where SQLite and PostgreSQL differ.

Writes: PostgreSQL takes a binary ``COPY`` built by numpy (no Python loop per row);
SQLite uses ``executemany`` on the raw sqlite3 connection. Both run inside the caller's
transaction, so a failed import leaves nothing behind. Loads read the column blocks
(``bar_blocks``); rows are read back only to rebuild blocks, on the transaction's own
connection (a binary ``COPY ... TO`` on PostgreSQL).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection

from ntrader.models.bars import PRICE_COLUMNS, VALUE_COLUMNS, BarArrays

_PGCOPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_PGCOPY_HEADER = _PGCOPY_SIGNATURE + struct.pack(">ii", 0, 0)
_PGCOPY_TRAILER = struct.pack(">h", -1)
# Volumes carry no instrument precision: equal unless they differ beyond float noise.
_VOLUME_RTOL = 1e-12


@dataclass(frozen=True, slots=True)
class BarDiff:
    """How incoming bars compare with the bars stored at the same times.

    ``new`` marks the incoming bars with no stored bar at their time; ``changed`` indexes
    the incoming bars whose stored bar differs, and ``stored`` holds those stored bars
    (same order). The remaining incoming bars equal what is stored.
    """

    new: np.ndarray
    changed: np.ndarray
    stored: BarArrays

    @property
    def rows_new(self) -> int:
        return int(np.count_nonzero(self.new))

    @property
    def rows_changed(self) -> int:
        return int(self.changed.shape[0])


def select_bars(bars: BarArrays, index: np.ndarray) -> BarArrays:
    """The bars at ``index`` (a boolean mask or positions), in that order."""
    return BarArrays(
        ts=bars.ts[index],
        **{name: getattr(bars, name)[index] for name in VALUE_COLUMNS},
        price_precision=bars.price_precision,
    )


def compare_bars(stored: BarArrays, incoming: BarArrays, precision: int) -> BarDiff:
    """Match ``incoming`` to ``stored`` by time (both sorted) and compare OHLCV.

    Prices are compared at ``precision`` decimals (the instrument's, which covers both
    sides), so float noise never counts as a change and a real tick always does.
    """
    position = np.searchsorted(stored.ts, incoming.ts)
    if len(stored):
        present = stored.ts[np.minimum(position, len(stored) - 1)] == incoming.ts
    else:
        present = np.zeros(len(incoming), dtype=bool)
    incoming_at = np.flatnonzero(present)
    stored_at = position[present]
    scale = 10.0**precision
    differs = np.zeros(incoming_at.shape[0], dtype=bool)
    for name in PRICE_COLUMNS:
        old = np.rint(getattr(stored, name)[stored_at] * scale)
        differs |= old != np.rint(getattr(incoming, name)[incoming_at] * scale)
    differs |= ~np.isclose(
        stored.volume[stored_at], incoming.volume[incoming_at], rtol=_VOLUME_RTOL, atol=0.0
    )
    return BarDiff(
        new=~present,
        changed=incoming_at[differs],
        stored=select_bars(stored, stored_at[differs]),
    )


def lock_series(connection: Connection, instrument_pk: int, timeframe: str) -> None:
    """Hold the series (instrument, timeframe) until the transaction ends.

    An import compares a file with the stored bars and then writes; without the lock a
    concurrent import of the same series could commit in between, and its bars would be
    neither compared nor written. PostgreSQL: a transaction-scoped advisory lock on the
    series. SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock now (the sqlite3
    driver would otherwise start the transaction only at the first write).
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))",
            {"key": f"ntrader.bars|{instrument_pk}|{timeframe}"},
        )
        return
    driver = driver_connection(connection)
    if not driver.in_transaction:
        driver.execute("BEGIN IMMEDIATE")


def insert_bars(connection: Connection, instrument_pk: int, timeframe: str, bars: BarArrays) -> int:
    """Insert bars none of which is stored yet (compare first). Returns rows added.

    A bar that is already stored is a caller's bug, and fails the transaction with an
    integrity error rather than being skipped.
    """
    if bars.is_empty:
        return 0
    if connection.dialect.name == "postgresql":
        return _pg_insert(connection, instrument_pk, timeframe, bars)
    return _sqlite_insert(connection, instrument_pk, timeframe, bars)


def update_bars(connection: Connection, instrument_pk: int, timeframe: str, bars: BarArrays) -> int:
    """Overwrite the OHLCV of stored bars with ``bars`` (same times). Returns rows updated.

    An update rather than delete then insert: one statement per bar instead of two (about
    20 % less CPU for 1M bars on SQLite); PostgreSQL joins a binary-copied temp table.
    """
    if bars.is_empty:
        return 0
    if connection.dialect.name == "postgresql":
        return _pg_update(connection, instrument_pk, timeframe, bars)
    rows = zip(
        *(getattr(bars, name).tolist() for name in VALUE_COLUMNS),
        [instrument_pk] * len(bars),
        [timeframe] * len(bars),
        bars.ts.tolist(),
        strict=True,
    )
    cursor = driver_connection(connection).cursor()
    try:
        cursor.executemany(
            "UPDATE bars SET open = ?, high = ?, low = ?, close = ?, volume = ? "
            "WHERE instrument_id = ? AND timeframe = ? AND ts = ?",
            rows,
        )
        return int(cursor.rowcount)
    finally:
        cursor.close()


def read_in_transaction(
    connection: Connection, instrument_pk: int, timeframe: str, start_ns: int, end_ns: int
) -> dict[str, np.ndarray]:
    """Rows of ``bars`` with ``start_ns <= ts < end_ns`` in time order, read on
    ``connection`` (within its transaction). PostgreSQL sends them as a binary ``COPY``
    that numpy parses in one pass."""
    parameters = (instrument_pk, timeframe, start_ns, end_ns)
    if connection.dialect.name == "postgresql":
        return _pg_read(connection, parameters)
    cursor = driver_connection(connection).execute(_FETCH_SQL.format(*"????"), parameters)
    records = np.fromiter(cursor, dtype=_FETCH_DTYPE)
    return {name: np.ascontiguousarray(records[name]) for name in _FETCH_DTYPE.names}


_FETCH_SQL = (
    "SELECT ts, open, high, low, close, volume FROM bars "
    "WHERE instrument_id = {} AND timeframe = {} AND ts >= {} AND ts < {} ORDER BY ts"
)
_FETCH_DTYPE = np.dtype([("ts", "i8")] + [(name, "f8") for name in VALUE_COLUMNS])


def driver_connection(connection: Connection) -> Any:
    """The sqlite3 or psycopg connection under ``connection``, for the bulk paths."""
    return connection.connection.driver_connection


# Rows per INSERT statement on SQLite: one statement for many rows saves sqlite3's per-row
# statement reset and step (about 1.6x faster for 1M bars); 6 x 400 parameters stay well
# below SQLite's limit of 32,766 per statement.
_SQLITE_ROWS_PER_INSERT = 400
_SQLITE_INSERT = (
    "INSERT INTO bars (instrument_id, timeframe, ts, open, high, low, close, volume) VALUES "
)


def _sqlite_insert(
    connection: Connection, instrument_pk: int, timeframe: str, bars: BarArrays
) -> int:
    # One row of Python objects per bar (an object array converts numpy's scalars to int and
    # float once), cut into statements of _SQLITE_ROWS_PER_INSERT rows and a shorter last one.
    # The series is the same on every row, so it is written into the statement as literals:
    # binding it as two parameters per row cost a fifth of the insert's CPU time.
    cells = np.empty((len(bars), 6), dtype=object)
    cells[:, 0] = bars.ts.tolist()
    for column, name in enumerate(VALUE_COLUMNS, start=1):
        cells[:, column] = getattr(bars, name).tolist()
    series = f"({int(instrument_pk)}, {_sql_text(timeframe)}, ?, ?, ?, ?, ?, ?)"
    full = len(bars) - len(bars) % _SQLITE_ROWS_PER_INSERT
    cursor = driver_connection(connection).cursor()
    try:
        if full:
            cursor.executemany(
                _SQLITE_INSERT + ",".join([series] * _SQLITE_ROWS_PER_INSERT),
                cells[:full].reshape(-1, 6 * _SQLITE_ROWS_PER_INSERT).tolist(),
            )
        if full < len(bars):
            cursor.execute(
                _SQLITE_INSERT + ",".join([series] * (len(bars) - full)),
                cells[full:].ravel().tolist(),
            )
    finally:
        cursor.close()
    return len(bars)


def _sql_text(value: str) -> str:
    """``value`` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _pg_copy_dtype(timeframe_len: int) -> np.dtype:
    fields: list[tuple[str, str]] = [
        ("nfields", ">i2"),
        ("len_instrument", ">i4"),
        ("instrument_id", ">i4"),
        ("len_timeframe", ">i4"),
        ("timeframe", f"S{timeframe_len}"),
        ("len_ts", ">i4"),
        ("ts", ">i8"),
    ]
    for name in VALUE_COLUMNS:
        fields += [(f"len_{name}", ">i4"), (name, ">f8")]
    return np.dtype(fields)


def _pg_copy_payload(instrument_pk: int, timeframe: str, bars: BarArrays) -> bytes:
    encoded = timeframe.encode()
    records = np.empty(len(bars), dtype=_pg_copy_dtype(len(encoded)))
    records["nfields"] = 8
    records["len_instrument"] = 4
    records["instrument_id"] = instrument_pk
    records["len_timeframe"] = len(encoded)
    records["timeframe"] = encoded
    records["len_ts"] = 8
    records["ts"] = bars.ts
    for name in VALUE_COLUMNS:
        records[f"len_{name}"] = 8
        records[name] = getattr(bars, name)
    return _PGCOPY_HEADER + records.tobytes() + _PGCOPY_TRAILER


_COLUMNS = "instrument_id, timeframe, ts, open, high, low, close, volume"


def _pg_insert(connection: Connection, instrument_pk: int, timeframe: str, bars: BarArrays) -> int:
    payload = _pg_copy_payload(instrument_pk, timeframe, bars)
    cursor = driver_connection(connection).cursor()
    try:
        with cursor.copy(f"COPY bars ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(payload)
    finally:
        cursor.close()
    return len(bars)


def _pg_update(connection: Connection, instrument_pk: int, timeframe: str, bars: BarArrays) -> int:
    cursor = driver_connection(connection).cursor()
    try:
        cursor.execute("CREATE TEMP TABLE bars_update (LIKE bars) ON COMMIT DROP")
        with cursor.copy(f"COPY bars_update ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_pg_copy_payload(instrument_pk, timeframe, bars))
        cursor.execute("ANALYZE bars_update")  # row estimates for a join plan, not 1000
        cursor.execute(
            "UPDATE bars SET open = u.open, high = u.high, low = u.low, close = u.close, "
            "volume = u.volume FROM bars_update AS u WHERE bars.instrument_id = u.instrument_id "
            "AND bars.timeframe = u.timeframe AND bars.ts = u.ts"
        )
        updated = int(cursor.rowcount)
        cursor.execute("DROP TABLE bars_update")
        return updated
    finally:
        cursor.close()


# A row of a binary COPY of (ts, open, high, low, close, volume): a field count, then each
# field's length and value. Every column is NOT NULL and fixed-width, so rows are too.
_PG_READ_DTYPE = np.dtype(
    [("nfields", ">i2"), ("len_ts", ">i4"), ("ts", ">i8")]
    + [item for name in VALUE_COLUMNS for item in ((f"len_{name}", ">i4"), (name, ">f8"))]
)


def _pg_read(
    connection: Connection, parameters: tuple[int, str, int, int]
) -> dict[str, np.ndarray]:
    query = _FETCH_SQL.format(*(["%s"] * 4))
    payload = bytearray()
    cursor = driver_connection(connection).cursor()
    try:
        with cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)", parameters) as copy:
            for block in copy:
                payload += block
    finally:
        cursor.close()
    header = len(_PGCOPY_HEADER)
    if payload[: len(_PGCOPY_SIGNATURE)] != _PGCOPY_SIGNATURE or payload[-2:] != _PGCOPY_TRAILER:
        raise RuntimeError("unexpected binary COPY framing from PostgreSQL")
    extension = struct.unpack_from(">i", payload, header - 4)[0]
    body = memoryview(payload)[header + extension : len(payload) - len(_PGCOPY_TRAILER)]
    records = np.frombuffer(body, dtype=_PG_READ_DTYPE)
    return {name: records[name].astype(_FETCH_DTYPE[name]) for name in _FETCH_DTYPE.names}
