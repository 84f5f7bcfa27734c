"""Dialect-specific bulk paths for bars: the one place SQLite and PostgreSQL differ.

PostgreSQL moves bars with binary ``COPY`` built and parsed by numpy (no Python loop per
row); SQLite uses ``executemany`` on the raw sqlite3 connection. Both run inside the
caller's transaction, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from sqlalchemy import Connection

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
    """Bars with ``start_ns <= ts < end_ns`` in time order, as column arrays."""
    if connection.dialect.name == "postgresql":
        return _pg_fetch(connection, instrument_pk, timeframe, start_ns, end_ns)
    return _sqlite_fetch(connection, instrument_pk, timeframe, start_ns, end_ns)


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


def _sqlite_fetch(
    connection: Connection, instrument_pk: int, timeframe: str, start_ns: int, end_ns: int
) -> dict[str, np.ndarray]:
    cursor = _dbapi(connection).execute(
        "SELECT ts, open, high, low, close, volume FROM bars WHERE instrument_id = ? AND "
        "timeframe = ? AND ts >= ? AND ts < ? ORDER BY ts",
        (instrument_pk, timeframe, start_ns, end_ns),
    )
    records = np.array(cursor.fetchall(), dtype=_SQLITE_FETCH_DTYPE)
    return {name: np.ascontiguousarray(records[name]) for name in _SQLITE_FETCH_DTYPE.names}


_SQLITE_FETCH_DTYPE = np.dtype([("ts", "i8")] + [(name, "f8") for name in _FLOAT_FIELDS])


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


_PG_FETCH_DTYPE = np.dtype(
    [("nfields", ">i2"), ("len_ts", ">i4"), ("ts", ">i8")]
    + [item for name in _FLOAT_FIELDS for item in ((f"len_{name}", ">i4"), (name, ">f8"))]
)


def _pg_fetch(
    connection: Connection, instrument_pk: int, timeframe: str, start_ns: int, end_ns: int
) -> dict[str, np.ndarray]:
    cursor = _dbapi(connection).cursor()
    query = (
        "COPY (SELECT ts, open, high, low, close, volume FROM bars WHERE instrument_id = "
        f"{int(instrument_pk)} AND timeframe = {_pg_literal(timeframe)} AND ts >= {int(start_ns)} "
        f"AND ts < {int(end_ns)} ORDER BY ts) TO STDOUT (FORMAT BINARY)"
    )
    buffer = bytearray()
    with cursor.copy(query) as copy:
        for chunk in copy:
            buffer += chunk
    body = memoryview(buffer)[len(_PGCOPY_HEADER) : len(buffer) - len(_PGCOPY_TRAILER)]
    records = np.frombuffer(body, dtype=_PG_FETCH_DTYPE)
    columns = {"ts": records["ts"].astype(np.int64)}
    for name in _FLOAT_FIELDS:
        columns[name] = records[name].astype(np.float64)
    return columns


def _pg_literal(text: str) -> str:
    """Quote a timeframe for the COPY query (COPY takes no bind parameters)."""
    if not text.isalnum():
        raise ValueError(f"unexpected timeframe {text!r}")
    return f"'{text}'"
