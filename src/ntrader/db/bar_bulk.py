"""Bulk paths for bars: where SQLite and PostgreSQL differ.

Writes: PostgreSQL takes a binary ``COPY`` built by numpy (no Python loop per row);
SQLite uses ``executemany`` on the raw sqlite3 connection. Both run inside the caller's
transaction, so a failed import leaves nothing behind. Reads go through ADBC on both.
"""

from __future__ import annotations

import struct
import weakref
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine

from ntrader.models.bars import BarArrays

_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_PGCOPY_TRAILER = struct.pack(">h", -1)
_FLOAT_FIELDS = ("open", "high", "low", "close", "volume")


def insert_bars(connection: Connection, instrument_pk: int, timeframe: str, bars: BarArrays) -> int:
    """Insert bars, skipping any (instrument, timeframe, ts) already stored. Returns rows added."""
    if bars.is_empty:
        return 0
    if connection.dialect.name == "postgresql":
        return _pg_insert(connection, instrument_pk, timeframe, bars)
    return _sqlite_insert(connection, instrument_pk, timeframe, bars)


def fetch_bars(
    connection: Connection, instrument_pk: int, timeframe: str, start_ns: int, end_ns: int
) -> dict[str, np.ndarray]:
    """Bars with ``start_ns <= ts < end_ns`` in time order, as column arrays.

    Read through ADBC, which hands back Arrow columns without a Python object per row (the
    row-by-row DB-API fetch was most of the load time). It reads committed data on a
    connection of its own (autocommit, so each read sees the latest commits), which is
    what loads need. An in-memory SQLite database has no file to open again, so it is
    read through its own sqlite3 connection.
    """
    url = connection.engine.url
    parameters = (instrument_pk, timeframe, start_ns, end_ns)
    if connection.dialect.name == "sqlite" and url.database in (None, "", ":memory:"):
        cursor = _dbapi(connection).execute(_FETCH_SQL.format(*"????"), parameters)
        records = np.fromiter(cursor, dtype=_FETCH_DTYPE)
        return {name: np.ascontiguousarray(records[name]) for name in _FETCH_DTYPE.names}
    placeholders = ("$1", "$2", "$3", "$4") if connection.dialect.name == "postgresql" else "????"
    with _reader(connection.engine).cursor() as cursor:
        cursor.execute(_FETCH_SQL.format(*placeholders), parameters)
        table = cursor.fetch_arrow_table()
    # Arrow's buffers are read-only; nautilus' bar builder wants writable arrays.
    return {
        name: table.column(name).to_numpy().astype(_FETCH_DTYPE[name], copy=True)
        for name in _FETCH_DTYPE.names
    }


_FETCH_SQL = (
    "SELECT ts, open, high, low, close, volume FROM bars WHERE instrument_id = {} AND "
    "timeframe = {} AND ts >= {} AND ts < {} ORDER BY ts"
)
_FETCH_DTYPE = np.dtype([("ts", "i8")] + [(name, "f8") for name in _FLOAT_FIELDS])


# One ADBC connection per engine, opened on the first load: a PostgreSQL connection costs
# ~50 ms to set up, a noticeable share of loading a year of minute bars.
_READERS: weakref.WeakKeyDictionary[Engine, Any] = weakref.WeakKeyDictionary()


def _reader(engine: Engine) -> Any:
    reader = _READERS.get(engine)
    if reader is None:
        if engine.dialect.name == "postgresql":
            import adbc_driver_postgresql.dbapi as adbc

            url = engine.url.set(drivername="postgresql")
            reader = adbc.connect(url.render_as_string(hide_password=False), autocommit=True)
        else:
            import adbc_driver_sqlite.dbapi as adbc

            reader = adbc.connect(engine.url.database, autocommit=True)
        _READERS[engine] = reader
    return reader


def close_reader(engine: Engine) -> None:
    reader = _READERS.pop(engine, None)
    if reader is not None:
        reader.close()


def _dbapi(connection: Connection) -> Any:
    return connection.connection.driver_connection


def _sqlite_insert(
    connection: Connection, instrument_pk: int, timeframe: str, bars: BarArrays
) -> int:
    rows = zip(
        [instrument_pk] * len(bars),
        [timeframe] * len(bars),
        bars.ts.tolist(),
        bars.open.tolist(),
        bars.high.tolist(),
        bars.low.tolist(),
        bars.close.tolist(),
        bars.volume.tolist(),
        strict=True,
    )
    cursor = _dbapi(connection).cursor()
    try:
        cursor.executemany(
            "INSERT OR IGNORE INTO bars (instrument_id, timeframe, ts, open, high, low, close, "
            "volume) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return int(cursor.rowcount)
    finally:
        cursor.close()


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
    for name in _FLOAT_FIELDS:
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
    for name in _FLOAT_FIELDS:
        records[f"len_{name}"] = 8
        records[name] = getattr(bars, name)
    return _PGCOPY_HEADER + records.tobytes() + _PGCOPY_TRAILER


_COLUMNS = "instrument_id, timeframe, ts, open, high, low, close, volume"


def _pg_insert(connection: Connection, instrument_pk: int, timeframe: str, bars: BarArrays) -> int:
    payload = _pg_copy_payload(instrument_pk, timeframe, bars)
    cursor = _dbapi(connection).cursor()
    overlap = cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM bars WHERE instrument_id = %s AND timeframe = %s "
        "AND ts BETWEEN %s AND %s)",
        (instrument_pk, timeframe, int(bars.ts[0]), int(bars.ts[-1])),
    ).fetchone()[0]
    if not overlap:
        # Nothing stored in this range: copy straight into the table.
        with cursor.copy(f"COPY bars ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(payload)
        return len(bars)
    cursor.execute("CREATE TEMP TABLE bars_staging (LIKE bars INCLUDING DEFAULTS) ON COMMIT DROP")
    with cursor.copy(f"COPY bars_staging ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(payload)
    cursor.execute(
        f"INSERT INTO bars ({_COLUMNS}) SELECT {_COLUMNS} FROM bars_staging "
        "ON CONFLICT (instrument_id, timeframe, ts) DO NOTHING"
    )
    inserted = cursor.rowcount
    cursor.execute("DROP TABLE bars_staging")
    return int(inserted)
