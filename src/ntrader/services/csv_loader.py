"""Read a CSV file of OHLCV bars into ``BarArrays`` and check it against the data rules.

The reader is liberal about the file's shape (column names, case, extra columns, timestamp
formats, BOM, CRLF) and strict about its content. A file that cannot be read as a table (empty,
no header, missing or repeated columns, wrong delimiter, broken quotes) is refused at the first
such problem; otherwise every broken data rule is collected and one ``DataValidationError``
names each rule with the first few offending file line numbers, so the file is fixed in one go.
Values are exact or refused: a number is accepted only if its decimal text survives the trip
through float64 and nautilus' fixed-point ``Price``/``Quantity`` unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ntrader.core.errors import DataValidationError, UserInputError
from ntrader.models.bars import (
    MAX_DECIMALS,
    MAX_SIGNIFICANT_DIGITS,
    PRICE_COLUMNS,
    PRICE_MAX,
    QUANTITY_MAX,
    VALUE_COLUMNS,
    BarArrays,
    decimals_of,
    exactness,
)

CHUNK_ROWS = 250_000

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

_BOM = b"\xef\xbb\xbf"
_NEWLINE = ord("\n")
_COMMA = ord(",")
_QUOTE = ord('"')
# A value text of at most 16 characters holds at most 15 significant digits (or is an integer
# of 16 digits, beyond every limit anyway), which float64 keeps; longer texts are checked
# digit by digit, since their float may have dropped digits silently (1.0000000000000001).
_SHORT_TEXT = MAX_SIGNIFICANT_DIGITS + 1
# "1,234.5" unquoted: a 1-3 digit field, then one of three digits and decimals. Without the
# decimals ("1,200") a split number cannot be told from two fields, so only the hint says it.
_THOUSANDS = re.compile(r"(?:^|,)\s*([+-]?\d{1,3},\d{3}\.\d+)\s*(?:,|$)")

_FIRST_DATA_LINE = 2  # the header is line 1
_MAX_LINES_SHOWN = 5

# An offset (Z, +hh:mm, -hhmm) can only follow the time part, i.e. come after the 10-character
# date; a '-' inside the date itself must not count.
_OFFSET_PATTERN = r"^.{10}.*[+\-zZ]"
# The common export form, 2024-01-02T09:30:00Z: where its digits and punctuation are. Only
# years 1970-2199 (inside the accepted range) and valid fields are read this way, so that the
# result can only agree with pandas'; anything else (a leap second, Feb 30, an offset) takes
# the general path.
_UTC_SECONDS_LENGTH = 20
_UTC_SECONDS_DIGITS_AT = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_UTC_SECONDS_PUNCTUATION_AT = [4, 7, 10, 13, 16, 19]
_UTC_SECONDS_PUNCTUATION = np.frombuffer(b"--T::Z", dtype=np.uint8)
# Per month from January 1970 to December 2199: its first day (days since 1970-01-01) and
# its length in days.
_MONTH_BOUNDS = np.arange("1970-01", "2200-02", dtype="datetime64[M]").astype("datetime64[D]")
_MONTH_STARTS = _MONTH_BOUNDS[:-1].astype(np.int64)
_MONTH_LENGTHS = np.diff(_MONTH_BOUNDS).astype(np.int64)
# Arrow's CSV reader can parse blocks of a file on several threads; on a busy two-core machine
# one thread was faster (0.56 s vs 0.76 s for 1M rows, same CPU time), so it keeps to one.
_ARROW_THREADS = False
_EPOCH_TEXT = re.compile(r"\s*[+-]?\d+(?:\.\d*)?\s*")
_NS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
# Epoch seconds stay below 1e11 until the year 5138, so the magnitude of the largest value tells
# seconds, milliseconds, microseconds and nanoseconds apart for any realistic date.
_EPOCH_UNITS_BY_MAGNITUDE = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
_INT64_MAX = np.iinfo(np.int64).max
# Bars are accepted from the UNIX epoch (nautilus stamps are unsigned nanoseconds) up to
# 2200-01-01: later than any real bar, and far enough below int64's 2262-04-11 that a bar's
# close time (open + length, or the session close) can never overflow.
TS_MIN_NS = 0
TS_MAX_NS = 7_258_118_400 * 10**9  # 2200-01-01T00:00:00Z

_TIMESTAMP_HINT = (
    "Use ISO-8601 dates or datetimes (2024-01-02, 2024-01-02T09:30:00-05:00) "
    "or integer epoch seconds, milliseconds or nanoseconds."
)
_BAD_QUOTE_HINT = "Remove the stray double quote; a quoted value must be closed on the same line."


def read_bars_csv(
    path: Path,
    *,
    timezone: str = "UTC",
    on_progress: Callable[[int], None] | None = None,
    content: bytes | None = None,
) -> BarArrays:
    """Parse and validate an OHLCV CSV file.

    Naive timestamps are read as wall-clock times in ``timezone`` (an IANA name) and converted
    to UTC; timestamps with an offset and epoch numbers are absolute already. ``on_progress``
    receives the number of rows parsed so far after each chunk. ``content``, when given, is
    the CSV itself (bars fetched from a broker), and ``path`` only names it in messages.
    """
    name = str(path)
    _check_timezone(timezone)
    data = _read_file(path, name) if content is None else content
    source = path if content is None else None
    header_end = data.find(b"\n")
    header_end = len(data) if header_end < 0 else header_end
    header = _decode_header(data[:header_end], name)
    positions, width = _locate_columns(header, name)
    body_start = header_end + 1
    if data.find(b'"', body_start) < 0:
        common = _read_common(data, body_start, positions, width)
        if common is not None:
            if on_progress is not None:
                on_progress(len(common))
            return common
        # pandas may read the file itself: it holds the same rows as ``data``.
        table = _read_plain(data, body_start, name, source, positions, width, on_progress)
    elif (unquoted := _without_plain_quotes(data, body_start)) is not None:
        table = _read_plain(unquoted, body_start, name, None, positions, width, on_progress)
    else:
        table = _read_quoted(data[body_start:], name, positions, width)
        if on_progress is not None:
            on_progress(len(table.timestamps))

    problems = _Problems()
    table.report_layout(problems)
    values, usable = _check_values(table, problems)
    precision = _check_exactness(values, usable, table, problems)
    ts, ts_ok = _parse_timestamps(table.timestamps, table.readable, timezone, problems)
    _check_bar_rules(values, usable, problems)
    _check_order(ts, ts_ok, problems)
    problems.raise_if_any(name)
    return _bar_arrays(ts, values, precision)


def _bar_arrays(ts: np.ndarray, values: dict[str, np.ndarray], precision: int) -> BarArrays:
    return BarArrays(
        ts=ts,
        open=values["open"],
        high=values["high"],
        low=values["low"],
        close=values["close"],
        volume=values["volume"] + 0.0,  # -0 becomes 0
        price_precision=precision,
    )


# --- collected problems --------------------------------------------------------------------------


@dataclass
class _Problems:
    """Broken rules found so far: (rule, rows) in the order found, and what to do about them."""

    rules: list[tuple[str, np.ndarray]] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    def add(self, rule: str, rows: np.ndarray, hint: str) -> None:
        """Record ``rule`` if any of ``rows`` (a boolean mask or 0-based row indices) break it."""
        indices = np.flatnonzero(rows) if rows.dtype == bool else rows
        if indices.size:
            self.rules.append((rule, indices))
            if hint not in self.hints:
                self.hints.append(hint)

    def raise_if_any(self, name: str) -> None:
        if self.rules:
            found = "; ".join(f"{rule} on {_lines(rows)}" for rule, rows in self.rules)
            violations = [
                (rule, (rows[:_MAX_LINES_SHOWN] + _FIRST_DATA_LINE).tolist(), len(rows))
                for rule, rows in self.rules
            ]
            raise DataValidationError(
                f"{name}: {found}.", hint=" ".join(self.hints), violations=violations
            )


# --- structure -----------------------------------------------------------------------------------


def _check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UserInputError(
            f"Unknown time zone {timezone!r}.",
            hint="Use an IANA time zone name such as UTC or America/New_York.",
        ) from exc


def _read_file(path: Path, name: str) -> bytes:
    """The file's bytes without a BOM, with every line ending turned into ``\\n``."""
    try:
        data = path.read_bytes()
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
    data = data.removeprefix(_BOM)
    if not data:
        raise DataValidationError(
            f"{name}: the file is empty.",
            hint="Export the bars again: a header row (timestamp,open,high,low,close,volume) "
            "followed by one row per bar.",
        )
    if b"\r" in data:
        # CRLF (Windows) and lone CR (old Mac) both end a line, as for pandas and editors.
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    nul = data.find(b"\x00")
    if nul >= 0:
        # Text files never hold one, and pandas' C reader treats it as the end of a line.
        raise DataValidationError(
            f"{name}: the file is not UTF-8 text (line {data.count(b'\n', 0, nul) + 1} holds "
            "a NUL byte).",
            hint="Save the file again with UTF-8 encoding.",
        )
    return data


def _decode_header(raw: bytes, name: str) -> str:
    try:
        header = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(name) from exc
    if header.strip() == "":
        raise DataValidationError(
            f"{name}: line 1 is blank where the header row should be.",
            hint="Put the header (timestamp,open,high,low,close,volume) on the first line.",
        )
    return header


def _locate_columns(header: str, name: str) -> tuple[dict[str, int], int]:
    """Each needed column's position in the header (timestamp, open, ..., volume) and its width."""
    fields = next(csv.reader([header], skipinitialspace=True))
    if len(fields) == 1:
        _check_delimiter(header, name)
    normalized = [text.strip().lower() for text in fields]

    found: dict[str, list[int]] = {"timestamp": _positions(normalized, _TIMESTAMP_NAMES)}
    if not found["timestamp"] and normalized[0] in _UNNAMED_INDEX_NAMES:
        found["timestamp"] = [0]
    for column, aliases in _ALIASES.items():
        found[column] = _positions(normalized, aliases)

    repeated = [
        f"{column} ({', '.join(fields[i].strip() for i in where)})"
        for column, where in found.items()
        if len(where) > 1
    ]
    if repeated:
        raise DataValidationError(
            f"{name}: the header names the same column more than once: {'; '.join(repeated)}.",
            hint="Keep one column each for the timestamp, open, high, low, close and volume "
            "(date and time in one column, such as 2024-01-02 09:30); rename or remove the rest.",
        )
    missing = [column for column, where in found.items() if not where]
    if missing:
        listed = ", ".join(text.strip() or "(unnamed)" for text in fields)
        plural = "s" if len(missing) > 1 else ""
        raise DataValidationError(
            f"{name}: missing required column{plural} {', '.join(missing)} (found: {listed}).",
            hint="The header needs a timestamp column (timestamp, date, datetime, time or ts) "
            "and open, high, low, close and volume columns.",
        )
    return {column: where[0] for column, where in found.items()}, len(fields)


def _positions(normalized: Sequence[str], names: Sequence[str]) -> list[int]:
    return [i for i, text in enumerate(normalized) if text in names]


def _check_delimiter(header: str, name: str) -> None:
    counts = {delimiter: header.count(delimiter) for delimiter in _FOREIGN_DELIMITERS}
    delimiter = max(counts, key=lambda key: counts[key])
    if counts[delimiter]:
        raise DataValidationError(
            f"{name}: the columns are separated by {_FOREIGN_DELIMITERS[delimiter]}, "
            "but ntrader expects commas.",
            hint="Save the file again as comma-separated CSV.",
        )


def _no_rows(name: str) -> DataValidationError:
    return DataValidationError(
        f"{name}: the file has a header but no data rows.",
        hint="Add one row per bar below the header.",
    )


def _not_utf8(name: str) -> DataValidationError:
    return DataValidationError(
        f"{name}: the file is not UTF-8 text.", hint="Save the file again with UTF-8 encoding."
    )


# --- rows ----------------------------------------------------------------------------------------


@dataclass
class _Table:
    """The data rows (row i is file line i + 2), trailing blank lines dropped.

    ``fields`` counts each row's fields; only rows with as many as the header (``readable``)
    have values. ``texts`` holds, per value column, the text of cells whose float may hide
    digits (see ``_SHORT_TEXT``) or that need a closer look, by row.
    """

    width: int
    timestamps: pd.Series
    values: dict[str, np.ndarray]
    fields: np.ndarray
    blank: np.ndarray
    texts: dict[str, dict[int, str]]
    line_text: Callable[[int], str]

    @property
    def readable(self) -> np.ndarray:
        return ~self.blank & (self.fields == self.width)

    def report_layout(self, problems: _Problems) -> None:
        width = self.width
        problems.add(
            "blank lines inside the data",
            self.blank,
            "Remove the blank lines between bars.",
        )
        misshapen = np.flatnonzero(~self.blank & (self.fields != width))
        if misshapen.size:
            first = int(misshapen[0])
            detail = f"line {first + _FIRST_DATA_LINE} has {self.fields[first]}"
            split = _THOUSANDS.search(self.line_text(first))
            if split and self.fields[first] > width:
                detail += f"; {split.group(1)} looks like a number with a thousands separator"
            problems.add(
                f"rows whose number of fields differs from the header's {width} ({detail})",
                misshapen,
                "Give every row one value per header column: write numbers without thousands "
                "separators (1234.5), and quote text that contains commas.",
            )


def _read_plain(
    data: bytes,
    body_start: int,
    name: str,
    reread: Path | None,
    positions: dict[str, int],
    width: int,
    on_progress: Callable[[int], None] | None,
) -> _Table:
    """Rows without quotes: fields are found with numpy, values parsed by pandas' C reader.

    pandas reads ``reread`` (the file, when ``data`` has the same rows), else ``data``.
    """
    end = _end_of_rows(data, body_start)
    rows_text = memoryview(data)[body_start:end]
    buffer = np.frombuffer(rows_text, dtype=np.uint8)
    # One scan finds commas and newlines together: a row's fields are the separators up to
    # and including its newline.
    separators = np.flatnonzero((buffer == _COMMA) | (buffer == _NEWLINE))
    is_newline = buffer[separators] == _NEWLINE
    newline_at = np.flatnonzero(is_newline)
    rows = newline_at.size + 1 if buffer.size else 0
    ends = np.append(separators[newline_at], buffer.size)[:rows]
    starts = np.concatenate(([0], ends[:-1] + 1))[:rows]
    # How many separators come before row k (the commas and newlines of the rows above).
    separators_before = np.concatenate(([0], newline_at + 1))[:rows]
    fields = np.diff(np.append(separators_before, separators.size + 1))
    # Field i of the file (all rows run together) ends at cell_ends[i] and starts one byte
    # after cell_ends[i - 1]; row k's field p is field separators_before[k] + p.
    cell_ends = np.append(separators, buffer.size)
    blank = np.zeros(rows, dtype=bool)
    for row in np.flatnonzero(fields == 1):
        blank[row] = bytes(rows_text[starts[row] : ends[row]]).strip() == b""

    if rows == 0:
        raise _no_rows(name)

    def line_text(row: int) -> str:
        return str(rows_text[starts[row] : ends[row]], "utf-8", "replace")

    # Reading the file is faster for pandas than reading from memory; from memory, trailing
    # blank lines are cut off first.
    whole = reread is not None and data[end:] in (b"", b"\n")
    source = reread if whole else io.BytesIO(data[:end])
    frame = _pandas_rows(source, name, positions, width, on_progress)
    if len(frame) != rows:
        raise DataValidationError(  # a safeguard: both split lines on \n, \r and \r\n only
            f"{name}: the file's lines cannot be told apart reliably.",
            hint="Save the file again as plain comma-separated UTF-8 text.",
        )

    readable = ~blank & (fields == width)
    texts = _long_cells(rows_text, cell_ends, separators_before, readable, width, positions)
    return _Table(
        width=width,
        timestamps=frame["timestamp"],
        values={column: _to_float(frame[column]) for column in VALUE_COLUMNS},
        fields=fields,
        blank=blank,
        texts=texts,
        line_text=line_text,
    )


def _read_common(
    data: bytes, body_start: int, positions: dict[str, int], width: int
) -> BarArrays | None:
    """The bars of a file in the common shape, read by Arrow's CSV reader; else None.

    The common shape: ASCII without quotes, every row with the header's number of fields,
    timestamps like 2024-01-02T09:30:00Z and values of at most ``_SHORT_TEXT`` characters
    that break no rule. It takes about half the time of pandas' reader plus the field scan.
    Anything else, including any broken rule, gives None and the general reader reads the
    file again, so that every refusal and its message come from one place. Arrow's number
    parser agrees with pandas' on such values (tests/unit/test_csv_common_shape.py).
    """
    end = _end_of_rows(data, body_start)
    if end <= body_start or not data.isascii():
        return None
    names = [str(i) for i in range(width)]
    try:
        read = pacsv.read_csv(
            pa.py_buffer(data)[body_start:end],
            read_options=pacsv.ReadOptions(column_names=names, use_threads=_ARROW_THREADS),
            parse_options=pacsv.ParseOptions(
                quote_char=False, double_quote=False, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=[names[at] for at in positions.values()],
                column_types={names[at]: pa.string() for at in positions.values()},
                strings_can_be_null=False,
                check_utf8=False,  # ASCII already
            ),
        )
    except pa.ArrowInvalid:
        return None  # a row with another number of fields (a blank line has one)

    try:
        stamps = read.column(names[positions["timestamp"]]).combine_chunks()
        ts = _utc_seconds_to_ns(stamps)
        numbers = {
            name: _short_numbers(read.column(names[positions[name]])) for name in VALUE_COLUMNS
        }
    except pa.ArrowInvalid:
        return None  # not numbers, or a column of more than 2 GiB of text (Arrow's limit)
    values = {name: column for name, column in numbers.items() if column is not None}
    if ts is None or len(values) < len(numbers):
        return None
    rows = ts.size
    everything = np.ones(rows, dtype=bool)
    table = _Table(
        width=width,
        timestamps=pd.Series(pd.arrays.ArrowExtensionArray(stamps)),
        values=values,
        fields=np.full(rows, width),
        blank=~everything,
        texts={name: {} for name in VALUE_COLUMNS},
        line_text=lambda _row: "",  # only a misshapen row is quoted, and there is none
    )
    problems = _Problems()
    values, usable = _check_values(table, problems)
    precision = _check_exactness(values, usable, table, problems)
    _check_bar_rules(values, usable, problems)
    _check_order(ts, everything, problems)
    return None if problems.rules else _bar_arrays(ts, values, precision)


def _short_numbers(texts: pa.ChunkedArray) -> np.ndarray | None:
    """The column's numbers if no text is longer than ``_SHORT_TEXT`` (else its float may hide
    digits, which the general reader checks in the text), else None. Raises ``ArrowInvalid``
    for a text Arrow cannot read as a number."""
    combined = texts.combine_chunks()
    if _text_lengths(combined).max() > _SHORT_TEXT:
        return None
    numbers = pc.cast(combined, pa.float64())
    return numbers.to_numpy(zero_copy_only=False, writable=True)


def _text_lengths(texts: pa.StringArray) -> np.ndarray:
    """The length of each text, from the array's offsets (no string is built)."""
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32)
    return np.diff(offsets[texts.offset : texts.offset + len(texts) + 1])


def _long_cells(
    rows_text: memoryview,
    cell_ends: np.ndarray,
    separators_before: np.ndarray,
    readable: np.ndarray,
    width: int,
    positions: dict[str, int],
) -> dict[str, dict[int, str]]:
    """Per value column, by row, the text of the cells longer than ``_SHORT_TEXT``."""
    long = np.empty(cell_ends.size, dtype=bool)
    long[:1] = cell_ends[:1] > _SHORT_TEXT
    np.greater(cell_ends[1:] - cell_ends[:-1], _SHORT_TEXT + 1, out=long[1:])  # + a separator
    if readable.all():
        # Every row has the header's shape: the cells form a grid, no gathering needed.
        rows = np.arange(readable.size)
        grid = long.reshape(-1, width)
        is_long = {column: grid[:, positions[column]] for column in VALUE_COLUMNS}
    else:
        rows = np.flatnonzero(readable)
        is_long = {c: long[separators_before[rows] + positions[c]] for c in VALUE_COLUMNS}
    texts: dict[str, dict[int, str]] = {}
    for column, flags in is_long.items():
        cells = separators_before[rows[flags]] + positions[column]
        texts[column] = {
            int(row): str(rows_text[start + 1 : end], "utf-8", "replace")
            for row, start, end in zip(
                rows[flags],
                np.where(cells > 0, cell_ends[cells - 1], -1),
                cell_ends[cells],
                strict=True,
            )
        }
    return texts


def _end_of_rows(data: bytes, body_start: int) -> int:
    """Where the last line with more than whitespace ends (trailing blank lines are dropped)."""
    last = len(data)
    while last > body_start and data[last - 1] in b" \t\n\x0b\x0c":
        last -= 1
    if last <= body_start:
        return min(body_start, len(data))
    newline = data.find(b"\n", last)
    return len(data) if newline < 0 else newline


def _rows_before_trailing_blanks(blank: np.ndarray) -> int:
    # Editors often leave empty lines at the end; those are not bars with missing values.
    filled = np.flatnonzero(~blank)
    return int(filled[-1]) + 1 if filled.size else 0


def _pandas_rows(
    source: Path | io.BytesIO,
    name: str,
    positions: dict[str, int],
    width: int,
    on_progress: Callable[[int], None] | None,
) -> pd.DataFrame:
    # No explicit dtypes: a float64 dtype makes pandas fail on the first bad cell without saying
    # where, and letting the C parser infer is no slower. Bad cells come back as text or NaN and
    # are reported per line afterwards. Blank lines are kept so row i stays on file line i + 2;
    # usecols with index_col=False keeps pandas from shifting columns on rows with extra fields
    # (those rows are refused from the field counts).
    chunks: list[pd.DataFrame] = []
    rows = 0
    try:
        reader = pd.read_csv(
            source,
            header=None,  # the header was read already; pandas must not split it another way
            skiprows=1,
            names=list(range(width)),
            usecols=sorted(positions.values()),
            index_col=False,
            chunksize=CHUNK_ROWS,
            encoding="utf-8-sig",  # strict: a lenient decoder makes pandas parse 2-3x slower
            quoting=csv.QUOTE_NONE,
            skipinitialspace=True,
            skip_blank_lines=False,
            low_memory=False,
        )
        with reader:
            for chunk in reader:
                chunks.append(chunk)
                rows += len(chunk)
                if on_progress is not None:
                    on_progress(rows)
    except UnicodeDecodeError as exc:
        raise _not_utf8(name) from exc
    except pd.errors.ParserError as exc:
        raise DataValidationError(
            f"{name}: the file is not readable as comma-separated values.",
            hint="Save the file again as plain comma-separated UTF-8 text.",
        ) from exc
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    # usecols returns columns in file order, whatever order the positions were listed in.
    frame.columns = sorted(positions, key=positions.__getitem__)
    return frame


def _without_plain_quotes(data: bytes, body_start: int) -> bytes | None:
    """``data`` without the quotes of its rows if every one only wraps a whole field.

    Such quotes (exporters that quote every field) change no field, so the fast reader can
    take the rows without them; embedded commas, doubled quotes or anything else -> None.
    """
    unquoted = data[:body_start] + data[body_start:].replace(b'"', b"")
    if _every_field_quoted(data, body_start, quotes=len(data) - len(unquoted)):
        return unquoted
    buffer = np.frombuffer(data, dtype=np.uint8)[body_start:]
    marks = np.flatnonzero((buffer == _COMMA) | (buffer == _NEWLINE) | (buffer == _QUOTE))
    quote_marks = np.flatnonzero(buffer[marks] == _QUOTE)
    if quote_marks.size % 2 or (quote_marks[1::2] != quote_marks[0::2] + 1).any():
        return None  # an unclosed quote, or a comma or newline inside quotes
    opens, closes = marks[quote_marks[0::2]], marks[quote_marks[1::2]]
    # Quotes that wrap a whole field open after a separator and close before one.
    before = buffer[opens[opens > 0] - 1]
    after = buffer[closes[closes + 1 < buffer.size] + 1]
    wraps_fields = all(((side == _COMMA) | (side == _NEWLINE)).all() for side in (before, after))
    if not wraps_fields:
        return None
    return unquoted


def _every_field_quoted(data: bytes, start: int, quotes: int) -> bool:
    """Whether every row from ``start`` on reads "a","b",...,"z" with no comma, newline or
    quote inside a field (``quotes`` quotes in all): counting substrings (in C) proves it.
    """
    ends_in_newline = data.endswith(b"\n")
    lines = data.count(b"\n", start) + (not ends_in_newline)
    commas = data.count(b",", start)
    return (
        data.startswith(b'"', start)
        and data.endswith((b'"', b'"\n'))
        and commas == data.count(b'","', start)  # each comma between two quotes
        and data.count(b'\n"', start) == lines - 1  # each line opens with a quote
        and data.count(b'"\n', start) == lines - (not ends_in_newline)  # and closes with one
        # No line is a lone quote, or opens or closes with a comma's quote (",x or x,"): so
        # these quotes are all distinct, two a field, and then there is no other quote.
        and not data.startswith((b'",', b'"\n'), start)
        and not data.endswith((b',"', b',"\n', b'\n"', b'\n"\n'))
        and data.count(b'\n",', start) == data.count(b',"\n', start) == 0
        and data.count(b'\n"\n', start) == 0
        and quotes == 2 * (commas + lines)
    )


def _read_quoted(body: bytes, name: str, positions: dict[str, int], width: int) -> _Table:
    """A file with double quotes: Python's csv module reads it, the same way for every field."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(name) from exc
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True, strict=True)
    records: list[list[str]] = []
    try:
        for record in reader:
            if reader.line_num != len(records) + 1:
                raise DataValidationError(
                    f"{name}: the quoted value starting on line {len(records) + 2} runs over "
                    "several lines.",
                    hint=_BAD_QUOTE_HINT,
                )
            records.append(record)
    except csv.Error as exc:
        line = len(records) + _FIRST_DATA_LINE
        problem = (
            f"the quote opened on line {line} is never closed"
            if "end of data" in str(exc)
            else f"line {line} has a quoted value followed by more text before the comma"
        )
        raise DataValidationError(f"{name}: {problem}.", hint=_BAD_QUOTE_HINT) from exc

    blank = np.array([len(r) <= 1 and "".join(r).strip() == "" for r in records], dtype=bool)
    rows = _rows_before_trailing_blanks(blank)
    if rows == 0:
        raise _no_rows(name)
    records, blank = records[:rows], blank[:rows]
    fields = np.array([len(r) for r in records], dtype=np.int64)
    readable = ~blank & (fields == width)

    def cells_of(column: str) -> pd.Series:
        at = positions[column]
        return pd.Series([r[at] if ok else "" for r, ok in zip(records, readable, strict=True)])

    values: dict[str, np.ndarray] = {}
    texts: dict[str, dict[int, str]] = {}
    for column in VALUE_COLUMNS:
        cells = cells_of(column)
        values[column] = _to_float(cells)
        # Commas (thousands separators) need their own message, long texts a digit check.
        flagged = (cells.str.len() > _SHORT_TEXT) | cells.str.contains(",", regex=False)
        texts[column] = {int(i): cells.iloc[i] for i in np.flatnonzero(flagged.to_numpy())}

    def line_text(row: int) -> str:
        return ",".join(records[row])

    timestamps = cells_of("timestamp").replace("", np.nan)
    return _Table(
        width=width,
        timestamps=timestamps,
        values=values,
        fields=fields,
        blank=blank,
        texts=texts,
        line_text=line_text,
    )


# --- values --------------------------------------------------------------------------------------


def _to_float(series: pd.Series) -> np.ndarray:
    if series.dtype.kind in "iuf":
        return series.to_numpy(dtype=np.float64)
    # Text (or a mix of chunks that inferred different types): unparseable cells become NaN.
    numbers = pd.to_numeric(series.astype("str"), errors="coerce")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _check_values(
    table: _Table, problems: _Problems
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Float columns, and per column the cells that are finite numbers within nautilus' range."""
    readable = table.readable
    values = table.values
    separators = {
        column: np.array([i for i, text in table.texts[column].items() if "," in text], dtype=int)
        for column in VALUE_COLUMNS
    }
    not_numbers = {}
    for column in VALUE_COLUMNS:
        mask = readable & np.isnan(values[column])
        mask[separators[column]] = False
        not_numbers[column] = mask
    _add_by_column(
        problems,
        "non-numeric or empty values in",
        not_numbers,
        "Every bar needs a number in open, high, low, close and volume; fix or remove those rows.",
    )
    _add_by_column(
        problems,
        'numbers with a thousands separator ("1,234.50") in',
        {c: _mask(len(readable), rows) for c, rows in separators.items()},
        "Write numbers without thousands separators (1234.50); a comma may also be a decimal "
        "comma, so ntrader does not guess.",
    )
    _add_by_column(
        problems,
        "infinite values in",
        {c: readable & np.isinf(values[c]) for c in VALUE_COLUMNS},
        "Replace infinite values with the real prices and volumes.",
    )
    usable = {c: readable & np.isfinite(values[c]) for c in VALUE_COLUMNS}
    with np.errstate(invalid="ignore"):
        problems.add(
            "a price that is zero or negative",
            _any(usable[c] & (values[c] <= 0) for c in PRICE_COLUMNS),
            "Prices must be greater than zero.",
        )
        problems.add(
            f"a price above nautilus' maximum of {PRICE_MAX:.0f}",
            _any(usable[c] & (values[c] > PRICE_MAX) for c in PRICE_COLUMNS),
            "Check the price column for misplaced digits.",
        )
        problems.add(
            "volume is negative",
            usable["volume"] & (values["volume"] < 0),
            "Volume cannot be negative.",
        )
        problems.add(
            f"volume above nautilus' maximum of {QUANTITY_MAX:.0f}",
            usable["volume"] & (values["volume"] > QUANTITY_MAX),
            "Check the volume column for misplaced digits.",
        )
        for column in PRICE_COLUMNS:
            usable[column] &= (values[column] > 0) & (values[column] <= PRICE_MAX)
        usable["volume"] &= (values["volume"] >= 0) & (values["volume"] <= QUANTITY_MAX)
    return values, usable


def _check_exactness(
    values: dict[str, np.ndarray],
    usable: dict[str, np.ndarray],
    table: _Table,
    problems: _Problems,
) -> int:
    """Refuse values that float64 or nautilus cannot hold exactly; return the price precision.

    The prices share one precision (the most decimals any of them has: the instrument's tick),
    and so does the volume; every value must be exact within 15 significant digits at it. A
    long text is also checked digit by digit, because its float may already have lost digits.
    """
    inexact: dict[str, np.ndarray] = {}
    precision = 0
    for group in (PRICE_COLUMNS, ("volume",)):
        # Unusable cells (already reported) become 0, which every precision writes exactly.
        found = exactness([np.where(usable[c], values[c], 0.0) for c in group])
        too_long = np.zeros(len(table.timestamps), dtype=bool)
        for column, bad, long in zip(group, found.inexact, found.too_long, strict=True):
            inexact[column] = _mask(too_long.size, bad)
            for row, text in table.texts[column].items():
                if usable[column][row] and not _text_is_exact(text):
                    inexact[column][row] = True
            too_long[long] = True
            usable[column] &= ~inexact[column] & ~too_long
        what = "volumes" if group == ("volume",) else "prices"
        if too_long.any():
            problems.add(
                f"{what} with more than {MAX_SIGNIFICANT_DIGITS} significant digits when "
                f"written with {found.decimals} decimals (as line "
                f"{_first_needing(values, usable, group, found.decimals)} needs)",
                too_long,
                f"All {what} of a file are kept with the same number of decimals; round the "
                "finest ones, or import very large and very small values separately.",
            )
        if group == PRICE_COLUMNS:
            precision = found.decimals
    _add_by_column(
        problems,
        f"values with more than {MAX_SIGNIFICANT_DIGITS} significant digits or {MAX_DECIMALS} "
        "decimals, which cannot be stored exactly, in",
        inexact,
        f"Round the values to at most {MAX_DECIMALS} decimals and "
        f"{MAX_SIGNIFICANT_DIGITS} significant digits (float noise such as "
        "101.24000000000001 comes from writing computed floats; round them to the tick).",
    )
    return precision


def _first_needing(
    values: dict[str, np.ndarray],
    usable: dict[str, np.ndarray],
    group: Sequence[str],
    decimals: int,
) -> int:
    """The first line with a value that needs ``decimals`` decimals (for a message only)."""
    needs = np.maximum.reduce(
        [np.where(usable[c], decimals_of(np.where(usable[c], values[c], 0.0)), 0) for c in group]
    )
    return _first_line(needs == decimals)


def _text_is_exact(text: str) -> bool:
    """Whether a numeric cell's text has few enough digits for float64 to keep them all."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return True  # not a number at all: reported as non-numeric, not here
    if not number.is_finite():
        return True
    _sign, digits, exponent = number.normalize().as_tuple()
    assert isinstance(exponent, int)  # finite
    return len(digits) <= MAX_SIGNIFICANT_DIGITS and -exponent <= MAX_DECIMALS


def _check_bar_rules(
    values: dict[str, np.ndarray], usable: dict[str, np.ndarray], problems: _Problems
) -> None:
    open_, high, low, close = (values[column] for column in PRICE_COLUMNS)
    complete = np.logical_and.reduce([usable[column] for column in PRICE_COLUMNS])
    inverted = complete & (high < low)
    # A bar with high below low also has its open or close outside the range; say it once.
    sound = complete & ~inverted
    hint = (
        "A bar's high must be its highest price and its low the lowest; fix or remove those bars."
    )
    problems.add("high is below low", inverted, hint)
    problems.add("high is below open or close", sound & (high < np.maximum(open_, close)), hint)
    problems.add("low is above open or close", sound & (low > np.minimum(open_, close)), hint)


def _check_order(ts: np.ndarray, ts_ok: np.ndarray, problems: _Problems) -> None:
    rows = np.flatnonzero(ts_ok)
    stamps = ts[rows]
    steps = np.diff(stamps)
    if (steps > 0).all():
        return
    problems.add(
        "duplicate timestamps",
        rows[pd.Series(stamps).duplicated(keep=False).to_numpy()],
        "Each bar's timestamp must appear once; remove the repeated rows.",
    )
    problems.add(
        "timestamps are not in ascending order; time goes backwards",
        rows[np.flatnonzero(steps < 0) + 1],
        "Sort the file by timestamp, oldest first.",
    )


def _add_by_column(problems: _Problems, rule: str, masks: dict[str, np.ndarray], hint: str) -> None:
    """One rule naming the columns where it is broken, with the rows of all of them."""
    broken = [column for column, mask in masks.items() if mask.any()]
    if broken:
        problems.add(f"{rule} {', '.join(broken)}", _any(masks[c] for c in broken), hint)


def _any(masks: Iterable[np.ndarray]) -> np.ndarray:
    return np.logical_or.reduce(list(masks))


def _mask(size: int, rows: np.ndarray) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[rows] = True
    return mask


# --- timestamps ----------------------------------------------------------------------------------


def _parse_timestamps(
    series: pd.Series, readable: np.ndarray, timezone: str, problems: _Problems
) -> tuple[np.ndarray, np.ndarray]:
    """UTC nanoseconds since the epoch per row, and which rows hold a usable timestamp."""
    excluded = np.zeros(len(series), dtype=bool)
    if series.dtype.kind in "iuf" or _starts_with_number(series, readable):
        ns, valid = _epoch_to_ns(series, readable)
    else:
        ns, valid, excluded = _text_to_ns(series, readable, timezone, problems)
    unparsed = readable & ~valid
    if unparsed.any():
        problems.add(
            "timestamps that cannot be parsed",
            unparsed,
            f"Line {_first_line(unparsed)} reads {_raw(series, unparsed)!r}. {_TIMESTAMP_HINT}",
        )
    valid &= readable & ~excluded
    early = valid & (ns < TS_MIN_NS)
    late = valid & (ns >= TS_MAX_NS)
    problems.add(
        "timestamps before 1970-01-01",
        early,
        "Bars must be dated from 1970 on (nautilus stamps are nanoseconds since 1970); "
        "check the year and the epoch unit.",
    )
    problems.add(
        "timestamps after 2200-01-01",
        late,
        "Check the year, and whether epoch numbers are seconds, milliseconds or nanoseconds.",
    )
    return ns, valid & ~early & ~late


def _starts_with_number(series: pd.Series, readable: np.ndarray) -> bool:
    # A text column of epoch numbers (one bad cell stops pandas inferring integers): its first
    # value decides, so the bad cell is reported instead of every number in the column.
    for row in np.flatnonzero(readable):
        value = series.iloc[row]
        if not pd.isna(value):
            return _EPOCH_TEXT.fullmatch(str(value)) is not None
    return False


def _epoch_to_ns(series: pd.Series, readable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    numbers = series if series.dtype.kind in "iuf" else pd.to_numeric(series, errors="coerce")
    if numbers.dtype.kind in "iu" and numbers.max() <= _INT64_MAX:
        counts = numbers.to_numpy(dtype=np.int64)
        valid = np.ones(len(counts), dtype=bool)
        per_unit = _NS_PER_UNIT[_epoch_unit(np.abs(counts[readable]).max(initial=0))]
        return _scale_to_ns(counts, per_unit, valid)
    # Floats: fractional epochs, or integers with empty cells (NaN, reported as unparseable).
    floats = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    valid = np.isfinite(floats)
    if not (valid & readable).any():
        return np.zeros(len(floats), dtype=np.int64), valid
    per_unit = _NS_PER_UNIT[_epoch_unit(np.abs(floats[valid & readable]).max())]
    # Round to whole microseconds first: float64 holds today's epochs exactly in microseconds
    # but not in nanoseconds, so 1704153600.123 s must not become ...122999906 ns.
    step = min(per_unit, _NS_PER_UNIT["us"])
    counts = np.round(np.where(valid, floats, 0.0) * (per_unit // step))
    valid &= np.abs(counts) < _INT64_MAX
    return _scale_to_ns(np.where(valid, counts, 0).astype(np.int64), step, valid)


def _epoch_unit(magnitude: float) -> str:
    return next((unit for bound, unit in _EPOCH_UNITS_BY_MAGNITUDE if magnitude < bound), "ns")


def _text_to_ns(
    series: pd.Series, readable: np.ndarray, timezone: str, problems: _Problems
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nanoseconds, which rows parsed, and which parsed rows are refused for their time zone."""
    if readable.all() and (ns := _utc_seconds_to_ns(_arrow_texts(series))) is not None:
        return ns, np.ones(ns.size, dtype=bool), np.zeros(ns.size, dtype=bool)
    text = series.astype("str")
    has_offset = text.str.contains(_OFFSET_PATTERN, regex=True).to_numpy(dtype=bool, na_value=False)
    has_offset = has_offset & readable  # pandas may hand back a read-only array
    # utc=True accepts rows with different offsets (e.g. across a DST change); without any
    # offset the values are wall-clock times, localized below.
    parsed = pd.to_datetime(text, format="ISO8601", utc=bool(has_offset.any()), errors="coerce")
    counts, valid = _datetimes_to_ns(parsed)
    checked = valid & readable
    if has_offset.any() and not has_offset[checked].all():
        return counts, valid, _report_mixed_time_zones(has_offset, checked, problems)
    if has_offset.any() or timezone == "UTC":
        return counts, valid, np.zeros(len(valid), dtype=bool)
    local, exists = _localize(parsed, timezone)
    missing = checked & ~exists
    problems.add(
        f"local times that do not exist or are ambiguous in {timezone} (daylight-saving change)",
        missing,
        "Write those timestamps with a UTC offset (2024-11-03T01:30:00-04:00) "
        "or convert the file to UTC.",
    )
    local_counts, _ = _datetimes_to_ns(local)
    return local_counts, valid, missing


def _utc_seconds_to_ns(texts: pa.StringArray) -> np.ndarray | None:
    """UTC nanoseconds if every text is written like 2024-01-02T09:30:00Z, else None.

    What pandas' ISO-8601 parser gives for such a column: the texts are all 20 characters,
    so their bytes form a grid whose digit columns numpy turns into dates and times, checking
    every field's range (a day past the month's end included) as pandas would.
    """
    if texts.null_count or len(texts) == 0:
        return None
    lengths = _text_lengths(texts)
    if (lengths != _UTC_SECONDS_LENGTH).any():
        return None
    start = int(np.frombuffer(texts.buffers()[1], dtype=np.int32)[texts.offset])
    grid = np.frombuffer(texts.buffers()[2], dtype=np.uint8)[
        start : start + len(texts) * _UTC_SECONDS_LENGTH
    ].reshape(-1, _UTC_SECONDS_LENGTH)
    if (grid[:, _UTC_SECONDS_PUNCTUATION_AT] != _UTC_SECONDS_PUNCTUATION).any():
        return None
    digits = grid[:, _UTC_SECONDS_DIGITS_AT] - np.uint8(ord("0"))  # a non-digit wraps past 9
    if (digits > 9).any():
        return None
    # Two-digit fields fit in a byte; the arithmetic below widens them to int64 where needed.
    century, year_of, month, day, hour, minute, second = (digits[:, 0::2] * 10 + digits[:, 1::2]).T
    # Months since January 1970; out of range ones are refused below, their lookups clipped.
    months = (century.astype(np.int64) * 100 + year_of - 1970) * 12 + month - 1
    at = np.clip(months, 0, _MONTH_STARTS.size - 1)
    valid = (
        (months >= 0)
        & (months < _MONTH_STARTS.size)
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= _MONTH_LENGTHS[at])
        & (hour <= 23)
        & (minute <= 59)
        & (second <= 59)
    )
    if not valid.all():
        return None
    seconds = (((_MONTH_STARTS[at] + day - 1) * 24 + hour) * 60 + minute) * 60 + second
    return seconds * 10**9


def _arrow_texts(series: pd.Series) -> pa.StringArray:
    """The column as Arrow text (empty when pandas inferred numbers or a mix)."""
    try:
        texts = pa.array(series.array, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([], type=pa.string())
    # pandas' Arrow-backed strings come back in chunks.
    return texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts


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


def _localize(naive: pd.Series, timezone: str) -> tuple[pd.Series, np.ndarray]:
    """Local wall-clock times as UTC-aware ones, and which of them exist unambiguously."""
    try:
        # "infer" resolves the repeated hour of a DST fall-back from the order of the rows.
        local = naive.dt.tz_localize(timezone, ambiguous="infer", nonexistent="NaT")
    except ValueError:
        local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return local, local.notna().to_numpy()


def _report_mixed_time_zones(
    has_offset: np.ndarray, checked: np.ndarray, problems: _Problems
) -> np.ndarray:
    """Report the rows that differ from the first parsed row; return them."""
    first = int(np.argmax(checked))
    odd = checked & (has_offset != has_offset[first])
    without, has = ("without", "has one") if has_offset[first] else ("with", "has none")
    problems.add(
        f"mixed time zones: timestamps {without} a UTC offset "
        f"(line {first + _FIRST_DATA_LINE} {has})",
        odd,
        "Give every timestamp an offset (or none, and pass --timezone).",
    )
    return odd


# --- messages -----------------------------------------------------------------------------------


def _lines(indices: np.ndarray) -> str:
    """'lines 5, 9, 12 (3 rows)' for an array of 0-based row indices."""
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
