"""Read a CSV file of OHLCV bars into ``BarArrays`` and check it against the data rules (SPEC §9).

The reader is liberal about the file's shape (column names, case, extra columns, timestamp
formats) and strict about its content: every broken rule raises one ``DataValidationError``
whose message names the file, the rule and the first few offending file line numbers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from ntrader.core.errors import DataValidationError, UserInputError
from ntrader.models.bars import PRICE_COLUMNS, BarArrays, decimals_needed

CHUNK_ROWS = 250_000

_VALUE_COLUMNS = (*PRICE_COLUMNS, "volume")
_ALIASES = {
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume", "vol"),
}
_TIMESTAMP_NAMES = ("timestamp", "date", "datetime", "time", "ts")
# What pandas' ``to_csv`` writes for an unnamed index, as read raw and as re-read by pandas.
_UNNAMED_INDEX_NAMES = ("", "unnamed: 0")
_FOREIGN_DELIMITERS = {";": "semicolons (;)", "\t": "tabs", "|": "pipes (|)"}

_UNCLOSED_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")

_FIRST_DATA_LINE = 2  # the header is line 1
_MAX_LINES_SHOWN = 5

# An offset (Z, +hh:mm, -hhmm) can only follow the time part, i.e. come after the 10-character
# date; a '-' inside the date itself must not count.
_OFFSET_PATTERN = r"^.{10}.*[+\-zZ]"
_EPOCH_TEXT = re.compile(r"\s*[+-]?\d+(?:\.\d*)?\s*")
_NS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
# Epoch seconds stay below 1e11 until the year 5138, so the magnitude of the largest value tells
# seconds, milliseconds, microseconds and nanoseconds apart for any realistic date.
_EPOCH_UNITS_BY_MAGNITUDE = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
_INT64_MAX = np.iinfo(np.int64).max

_TIMESTAMP_HINT = (
    "Use ISO-8601 dates or datetimes (2024-01-02, 2024-01-02T09:30:00-05:00) "
    "or integer epoch seconds, milliseconds or nanoseconds."
)


def read_bars_csv(
    path: Path,
    *,
    timezone: str = "UTC",
    on_progress: Callable[[int], None] | None = None,
) -> BarArrays:
    """Parse and validate an OHLCV CSV file.

    Naive timestamps are read as wall-clock times in ``timezone`` (an IANA name) and converted
    to UTC; timestamps with an offset and epoch numbers are absolute already. ``on_progress``
    receives the number of rows parsed so far after each chunk.
    """
    name = str(path)
    _check_timezone(timezone)
    header = _read_header(path, name)
    positions = _locate_columns(header, name)
    frame = _read_rows(path, name, positions, on_progress)
    if frame.empty:
        raise DataValidationError(
            f"{name}: the file has a header but no data rows.",
            hint="Add one row per bar below the header.",
        )
    values = _numeric_columns(frame, name)
    ts = _parse_timestamps(frame["timestamp"], name, timezone)
    _check_prices(values, name)
    _check_order(ts, name)
    prices = np.concatenate([values[column] for column in PRICE_COLUMNS])
    return BarArrays(
        ts=ts,
        open=values["open"],
        high=values["high"],
        low=values["low"],
        close=values["close"],
        volume=values["volume"],
        price_precision=decimals_needed(prices),
    )


# --- structure ---------------------------------------------------------------------------------


def _check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UserInputError(
            f"Unknown time zone {timezone!r}.",
            hint="Use an IANA time zone name such as UTC or America/New_York.",
        ) from exc


def _read_header(path: Path, name: str) -> str:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = handle.readline()
    except UnicodeDecodeError as exc:
        raise _not_utf8(name) from exc
    except FileNotFoundError as exc:
        raise UserInputError(
            f"{name}: file not found.", hint="Check the path and the current directory."
        ) from exc
    except IsADirectoryError as exc:
        raise UserInputError(
            f"{name}: the path is a directory, not a CSV file.",
            hint="Give the path of a .csv file.",
        ) from exc
    except OSError as exc:
        raise UserInputError(
            f"{name}: the file cannot be read ({exc.strerror}).",
            hint="Check the file's permissions.",
        ) from exc
    if header == "":
        raise DataValidationError(
            f"{name}: the file is empty.",
            hint="Export the bars again: a header row (timestamp,open,high,low,close,volume) "
            "followed by one row per bar.",
        )
    if header.strip() == "":
        raise DataValidationError(
            f"{name}: line 1 is blank where the header row should be.",
            hint="Put the header (timestamp,open,high,low,close,volume) on the first line.",
        )
    return header


def _locate_columns(header: str, name: str) -> dict[str, int]:
    """Map each needed column (timestamp, open, ..., volume) to its position in the header."""
    fields = next(csv.reader([header.rstrip("\r\n")]))
    if len(fields) == 1:
        _check_delimiter(header, name)
    normalized = [field.strip().lower() for field in fields]

    positions: dict[str, int] = {}
    timestamp = _first_position(normalized, _TIMESTAMP_NAMES)
    if timestamp is None and normalized[0] in _UNNAMED_INDEX_NAMES:
        timestamp = 0
    if timestamp is not None:
        positions["timestamp"] = timestamp
    for column, aliases in _ALIASES.items():
        position = _first_position(normalized, aliases)
        if position is not None:
            positions[column] = position

    missing = [column for column in ("timestamp", *_VALUE_COLUMNS) if column not in positions]
    if missing:
        found = ", ".join(field.strip() or "(unnamed)" for field in fields)
        plural = "s" if len(missing) > 1 else ""
        raise DataValidationError(
            f"{name}: missing required column{plural} {', '.join(missing)} (found: {found}).",
            hint="The header needs a timestamp column (timestamp, date, datetime, time or ts) "
            "and open, high, low, close and volume columns.",
        )
    return positions


def _check_delimiter(header: str, name: str) -> None:
    counts = {delimiter: header.count(delimiter) for delimiter in _FOREIGN_DELIMITERS}
    delimiter = max(counts, key=lambda key: counts[key])
    if counts[delimiter]:
        raise DataValidationError(
            f"{name}: the columns are separated by {_FOREIGN_DELIMITERS[delimiter]}, "
            "but ntrader expects commas.",
            hint="Save the file again as comma-separated CSV.",
        )


def _not_utf8(name: str) -> DataValidationError:
    return DataValidationError(
        f"{name}: the file is not UTF-8 text.", hint="Save the file again with UTF-8 encoding."
    )


def _first_position(normalized: Sequence[str], names: Sequence[str]) -> int | None:
    return next((i for i, field in enumerate(normalized) if field in names), None)


def _read_rows(
    path: Path,
    name: str,
    positions: dict[str, int],
    on_progress: Callable[[int], None] | None,
) -> pd.DataFrame:
    # No explicit dtypes: a float64 dtype makes pandas fail on the first bad cell without saying
    # where, and letting the C parser infer is no slower. Bad cells come back as text or NaN and
    # are reported per line afterwards. Blank lines are kept so row i stays on file line i + 2.
    reader = pd.read_csv(
        path,
        usecols=sorted(positions.values()),
        chunksize=CHUNK_ROWS,
        encoding="utf-8-sig",  # strict: a lenient decoder makes pandas parse 2-3x slower
        skipinitialspace=True,
        skip_blank_lines=False,
        low_memory=False,
    )
    chunks: list[pd.DataFrame] = []
    rows = 0
    try:
        with reader:
            for chunk in reader:
                chunks.append(chunk)
                rows += len(chunk)
                if on_progress is not None:
                    on_progress(rows)
    except pd.errors.ParserError as exc:
        raise DataValidationError(
            f"{name}: the file is not valid CSV ({_parser_problem(exc)}).",
            hint="Look for a stray double quote; quoted fields must be closed on the same line.",
        ) from exc
    except UnicodeDecodeError as exc:
        raise _not_utf8(name) from exc

    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    # usecols returns columns in file order, whatever order the positions were listed in.
    by_position = sorted(positions, key=positions.__getitem__)
    frame.columns = by_position
    return _drop_trailing_blank_rows(frame)


def _parser_problem(exc: pd.errors.ParserError) -> str:
    detail = str(exc).strip().removeprefix("Error tokenizing data. C error: ")
    # pandas counts rows from 0 at the header, so its row N is file line N + 1.
    unclosed = _UNCLOSED_QUOTE.search(detail)
    if unclosed is None:
        return detail
    return f"a quote opened on line {int(unclosed.group(1)) + 1} is never closed"


def _drop_trailing_blank_rows(frame: pd.DataFrame) -> pd.DataFrame:
    # Editors often leave empty lines at the end; those are not bars with missing values.
    filled = np.flatnonzero(frame.notna().any(axis=1).to_numpy())
    end = int(filled[-1]) + 1 if filled.size else 0
    return frame.iloc[:end] if end < len(frame) else frame


# --- values --------------------------------------------------------------------------------------


def _numeric_columns(frame: pd.DataFrame, name: str) -> dict[str, np.ndarray]:
    values = {column: _to_float(frame[column]) for column in _VALUE_COLUMNS}
    bad_columns = [column for column in _VALUE_COLUMNS if not np.isfinite(values[column]).all()]
    if bad_columns:
        bad = np.zeros(len(frame), dtype=bool)
        for column in bad_columns:
            bad |= ~np.isfinite(values[column])
        raise DataValidationError(
            f"{name}: non-numeric or empty values in {', '.join(bad_columns)} on {_lines(bad)}.",
            hint="Every bar needs a number in open, high, low, close and volume; "
            "fix or remove those rows.",
        )
    return values


def _to_float(series: pd.Series) -> np.ndarray:
    if series.dtype.kind in "iuf":
        return series.to_numpy(dtype=np.float64)
    # Text (or a mix of chunks that inferred different types): unparseable cells become NaN.
    numbers = pd.to_numeric(series.astype("str"), errors="coerce")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _check_prices(values: dict[str, np.ndarray], name: str) -> None:
    open_, high, low, close = (values[column] for column in PRICE_COLUMNS)
    rules = (
        ("high is below low", high < low),
        ("high is below open or close", high < np.maximum(open_, close)),
        ("low is above open or close", low > np.minimum(open_, close)),
        ("volume is negative", values["volume"] < 0),
    )
    for rule, mask in rules:
        if mask.any():
            raise DataValidationError(
                f"{name}: {rule} on {_lines(mask)}.",
                hint="Fix or remove those bars; a bar's high must be its highest price, "
                "its low the lowest, and volume cannot be negative.",
            )


def _check_order(ts: np.ndarray, name: str) -> None:
    steps = np.diff(ts)
    if (steps > 0).all():
        return
    duplicated = pd.Series(ts).duplicated(keep=False).to_numpy()
    if duplicated.any():
        raise DataValidationError(
            f"{name}: duplicate timestamps on {_lines(duplicated)}.",
            hint="Each bar's timestamp must appear once; remove the repeated rows.",
        )
    backwards = np.flatnonzero(steps < 0) + 1
    raise DataValidationError(
        f"{name}: timestamps are not in ascending order; time goes backwards on "
        f"{_lines(backwards)}.",
        hint="Sort the file by timestamp, oldest first.",
    )


# --- timestamps ----------------------------------------------------------------------------------


def _parse_timestamps(series: pd.Series, name: str, timezone: str) -> np.ndarray:
    """Return UTC nanoseconds since the epoch for every row, or raise naming the bad lines."""
    if series.dtype.kind in "iuf" or _starts_with_number(series):
        ns, valid = _epoch_to_ns(series)
    else:
        ns, valid = _text_to_ns(series, name, timezone)
    if not valid.all():
        raise DataValidationError(
            f"{name}: timestamps that cannot be parsed on {_lines(~valid)}.",
            hint=f"Line {_first_line(~valid)} reads {_raw(series, ~valid)!r}. {_TIMESTAMP_HINT}",
        )
    return ns


def _starts_with_number(series: pd.Series) -> bool:
    # A text column of epoch numbers (one bad cell stops pandas inferring integers): its first
    # value decides, so the bad cell is reported instead of every number in the column.
    first = series.first_valid_index()
    return first is not None and _EPOCH_TEXT.fullmatch(str(series.loc[first])) is not None


def _epoch_to_ns(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    numbers = series if series.dtype.kind in "iuf" else pd.to_numeric(series, errors="coerce")
    if numbers.dtype.kind == "i":
        counts = numbers.to_numpy(dtype=np.int64)
        valid = np.ones(len(counts), dtype=bool)
        per_unit = _NS_PER_UNIT[_epoch_unit(np.abs(counts).max())]
        return _scale_to_ns(counts, per_unit, valid)
    # Floats: fractional epochs, or integers with empty cells (NaN, reported as unparseable).
    floats = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    valid = np.isfinite(floats)
    if not valid.any():
        return np.zeros(len(floats), dtype=np.int64), valid
    per_unit = _NS_PER_UNIT[_epoch_unit(np.abs(floats[valid]).max())]
    # Round to whole microseconds first: float64 holds today's epochs exactly in microseconds
    # but not in nanoseconds, so 1704153600.123 s must not become ...122999906 ns.
    step = min(per_unit, _NS_PER_UNIT["us"])
    counts = np.round(floats * (per_unit // step))
    valid &= np.abs(counts) < _INT64_MAX
    return _scale_to_ns(np.where(valid, counts, 0).astype(np.int64), step, valid)


def _epoch_unit(magnitude: float) -> str:
    return next((unit for bound, unit in _EPOCH_UNITS_BY_MAGNITUDE if magnitude < bound), "ns")


def _text_to_ns(series: pd.Series, name: str, timezone: str) -> tuple[np.ndarray, np.ndarray]:
    text = series.astype("str")
    has_offset = text.str.contains(_OFFSET_PATTERN, regex=True).to_numpy(dtype=bool, na_value=False)
    # utc=True accepts rows with different offsets (e.g. across a DST change); without any
    # offset the values are wall-clock times, localized below.
    parsed = pd.to_datetime(text, format="ISO8601", utc=bool(has_offset.any()), errors="coerce")
    counts, valid = _datetimes_to_ns(parsed)
    if not valid.all():
        return counts, valid
    if has_offset.any() and not has_offset.all():
        _raise_mixed_time_zones(has_offset, name)
    if has_offset.any() or timezone == "UTC":
        return counts, valid
    return _datetimes_to_ns(_localize(parsed, name, timezone))


def _datetimes_to_ns(parsed: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    array = parsed.array  # asi8 of a tz-aware array is UTC already
    return _scale_to_ns(array.asi8, _NS_PER_UNIT[array.unit], ~parsed.isna().to_numpy())


def _scale_to_ns(
    counts: np.ndarray, per_unit: int, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    # Values outside int64 nanoseconds (before 1677 or after 2262) count as unparseable.
    limit = _INT64_MAX // per_unit
    valid = valid & (counts >= -limit) & (counts <= limit)
    return np.where(valid, counts, 0) * per_unit, valid


def _localize(naive: pd.Series, name: str, timezone: str) -> pd.Series:
    try:
        # "infer" resolves the repeated hour of a DST fall-back from the order of the rows.
        local = naive.dt.tz_localize(timezone, ambiguous="infer", nonexistent="NaT")
    except ValueError:
        local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    missing = local.isna().to_numpy()
    if missing.any():
        raise DataValidationError(
            f"{name}: local times that do not exist or are ambiguous in {timezone} "
            f"(daylight-saving change) on {_lines(missing)}.",
            hint="Write those timestamps with a UTC offset (2024-11-03T01:30:00-04:00) "
            "or convert the file to UTC.",
        )
    return local


def _raise_mixed_time_zones(has_offset: np.ndarray, name: str) -> None:
    first = _FIRST_DATA_LINE  # the first row sets the expectation
    if has_offset[0]:
        detail = f"{_lines(~has_offset)} have no UTC offset but line {first} has one"
    else:
        detail = f"{_lines(has_offset)} have a UTC offset but line {first} has none"
    raise DataValidationError(
        f"{name}: mixed time zones: timestamps on {detail}.",
        hint="Give every timestamp an offset (or none, and pass --timezone).",
    )


# --- messages -----------------------------------------------------------------------------------


def _lines(rows: np.ndarray) -> str:
    """'lines 5, 9, 12 (3 rows)' for a boolean mask or an array of 0-based row indices."""
    indices = np.flatnonzero(rows) if rows.dtype == bool else rows
    count = len(indices)
    shown = ", ".join(str(index + _FIRST_DATA_LINE) for index in indices[:_MAX_LINES_SHOWN])
    more = ", ..." if count > _MAX_LINES_SHOWN else ""
    word = "line" if count == 1 else "lines"
    return f"{word} {shown}{more} ({count} row{'' if count == 1 else 's'})"


def _first_line(mask: np.ndarray) -> int:
    return int(np.argmax(mask)) + _FIRST_DATA_LINE


def _raw(series: pd.Series, mask: np.ndarray) -> str:
    value = series.iloc[int(np.argmax(mask))]
    return "" if pd.isna(value) else str(value)
