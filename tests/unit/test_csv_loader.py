"""Tests for ``ntrader.services.csv_loader``: accepted file shapes and every data rule (SPEC §9)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.objects import Price

from ntrader.core.errors import DataValidationError, NtraderError, UserInputError
from ntrader.models.bars import MAX_DECIMALS, PRICE_MAX, QUANTITY_MAX, BarArrays
from ntrader.services import csv_loader
from ntrader.services.csv_loader import read_bars_csv

HEADER = "timestamp,open,high,low,close,volume"
NS_PER_SECOND = 1_000_000_000
# 2024-01-02 00:00:00 UTC in nanoseconds.
JAN_2 = 1_704_153_600 * NS_PER_SECOND
DAY = 86_400 * NS_PER_SECOND


def bar(
    day: int, o: str = "10", h: str = "12", low: str = "9", c: str = "11", v: str = "100"
) -> str:
    """One valid daily row for 2024-01-{day}."""
    return f"2024-01-{day:02d},{o},{h},{low},{c},{v}"


def good_rows(count: int = 5) -> list[str]:
    return [bar(day) for day in range(2, 2 + count)]


def write(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "AAPL.csv") -> Path:
    path = tmp_path / name
    path.write_bytes("\n".join([header, *rows, ""]).encode())
    return path


def load_error(path: Path, timezone: str = "UTC") -> NtraderError:
    with pytest.raises(NtraderError) as excinfo:
        read_bars_csv(path, timezone=timezone)
    return excinfo.value


def validation_error(path: Path, timezone: str = "UTC") -> DataValidationError:
    """The error for ``path``, checked to be a data error that names the file and has a hint."""
    error = load_error(path, timezone)
    assert isinstance(error, DataValidationError)
    assert str(path) in error.message
    assert error.hint
    return error


# --- accepted shapes ---------------------------------------------------------------------------


def test_basic_file_gives_utc_ns_and_float_columns(tmp_path: Path) -> None:
    bars = read_bars_csv(write(tmp_path, ["2024-01-02,10.5,12,9,11,100", bar(3)]))

    assert isinstance(bars, BarArrays)
    assert bars.ts.dtype == np.int64
    assert bars.ts.tolist() == [JAN_2, JAN_2 + DAY]
    assert bars.open.tolist() == [10.5, 10.0]
    assert bars.high.tolist() == [12.0, 12.0]
    assert bars.low.tolist() == [9.0, 9.0]
    assert bars.close.tolist() == [11.0, 11.0]
    assert bars.volume.tolist() == [100.0, 100.0]
    for column in (bars.open, bars.high, bars.low, bars.close, bars.volume):
        assert column.dtype == np.float64
    assert bars.price_precision == 1


@pytest.mark.parametrize("column", ["timestamp", "Date", "DATETIME", " time ", "Ts"])
def test_timestamp_column_names(tmp_path: Path, column: str) -> None:
    path = write(tmp_path, good_rows(2), header=f"{column},open,high,low,close,volume")
    assert read_bars_csv(path).ts.tolist() == [JAN_2, JAN_2 + DAY]


def test_pandas_to_csv_with_unnamed_index(tmp_path: Path) -> None:
    index = pd.DatetimeIndex(["2024-01-02 09:30", "2024-01-02 09:31"])
    frame = pd.DataFrame(
        {"open": [1.0, 2.0], "high": [3.0, 4.0], "low": [0.5, 1.5], "close": [2.0, 3.0]},
        index=index,
    )
    frame["volume"] = [10, 20]
    path = tmp_path / "AAPL.csv"
    frame.to_csv(path)
    assert path.read_text().startswith(",open")

    bars = read_bars_csv(path)

    start = JAN_2 + (9 * 3600 + 30 * 60) * NS_PER_SECOND
    assert bars.ts.tolist() == [start, start + 60 * NS_PER_SECOND]
    assert bars.close.tolist() == [2.0, 3.0]


def test_unnamed_zero_column(tmp_path: Path) -> None:
    path = write(tmp_path, good_rows(2), header="Unnamed: 0,open,high,low,close,volume")
    assert read_bars_csv(path).ts.tolist() == [JAN_2, JAN_2 + DAY]


def test_named_timestamp_column_wins_over_unnamed_index(tmp_path: Path) -> None:
    rows = ["0,2024-01-02,10,12,9,11,100", "1,2024-01-03,10,12,9,11,100"]
    path = write(tmp_path, rows, header=",timestamp,open,high,low,close,volume")
    assert read_bars_csv(path).ts.tolist() == [JAN_2, JAN_2 + DAY]


def test_yahoo_file_ignores_adj_close(tmp_path: Path) -> None:
    rows = ["2024-01-02,187.15,188.44,183.89,185.64,184.73,82488700"]
    path = write(tmp_path, rows, header="Date,Open,High,Low,Close,Adj Close,Volume")

    bars = read_bars_csv(path)

    assert bars.close.tolist() == [185.64]
    assert bars.volume.tolist() == [82488700.0]
    assert bars.price_precision == 2


def test_mixed_case_reordered_extra_columns_and_vol_alias(tmp_path: Path) -> None:
    header = "Symbol,VOL,Close,LOW,High,oPeN,Date,Trades"
    rows = ["AAPL,100,11,9,12,10,2024-01-02,7"]

    bars = read_bars_csv(write(tmp_path, rows, header=header))

    assert (bars.open[0], bars.high[0], bars.low[0], bars.close[0]) == (10.0, 12.0, 9.0, 11.0)
    assert bars.volume.tolist() == [100.0]
    assert bars.ts.tolist() == [JAN_2]


def test_bom_crlf_spaces_and_trailing_blank_lines_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "AAPL.csv"
    text = "\ufeffTimestamp, Open, High, Low, Close, Volume\r\n2024-01-02, 10, 12, 9, 11, 100\r\n"
    path.write_bytes((text + "\r\n\r\n").encode())

    bars = read_bars_csv(path)

    assert bars.ts.tolist() == [JAN_2]
    assert bars.open.tolist() == [10.0]


@pytest.mark.parametrize(
    ("first", "second", "unit_ns"),
    [
        ("1704153600", "1704153660", NS_PER_SECOND),
        ("1704153600000", "1704153660000", 1_000_000),
        ("1704153600000000000", "1704153660000000000", 1),
    ],
    ids=["seconds", "milliseconds", "nanoseconds"],
)
def test_epoch_timestamps(tmp_path: Path, first: str, second: str, unit_ns: int) -> None:
    rows = [f"{first},10,12,9,11,100", f"{second},10,12,9,11,100"]
    bars = read_bars_csv(write(tmp_path, rows))
    assert bars.ts.tolist() == [int(first) * unit_ns, int(second) * unit_ns]


def test_fractional_epoch_seconds_are_exact_to_the_microsecond(tmp_path: Path) -> None:
    bars = read_bars_csv(write(tmp_path, ["1704153600.123,10,12,9,11,100"]))
    assert bars.ts.tolist() == [JAN_2 + 123_000_000]


def test_epoch_timestamps_are_utc_whatever_the_timezone(tmp_path: Path) -> None:
    path = write(tmp_path, ["1704153600,10,12,9,11,100"])
    assert read_bars_csv(path, timezone="America/New_York").ts.tolist() == [JAN_2]


def test_offsets_are_converted_to_utc(tmp_path: Path) -> None:
    rows = [
        "2024-01-02T09:30:00-05:00,10,12,9,11,100",  # 14:30 UTC
        "2024-01-02 14:31:00Z,10,12,9,11,100",
        "2024-01-02T16:32:00.5+01:00,10,12,9,11,100",  # 15:32:00.5 UTC
        "2024-07-01T09:30:00-04:00,10,12,9,11,100",  # DST offset in the same file: 13:30 UTC
    ]
    # The naive --timezone must not touch values that carry an offset.
    bars = read_bars_csv(write(tmp_path, rows), timezone="Asia/Tokyo")

    minute = 60 * NS_PER_SECOND
    assert bars.ts.tolist() == [
        JAN_2 + (14 * 60 + 30) * minute,
        JAN_2 + (14 * 60 + 31) * minute,
        JAN_2 + (15 * 60 + 32) * minute + NS_PER_SECOND // 2,
        1_719_840_600 * NS_PER_SECOND,
    ]


def test_naive_timestamps_use_the_given_timezone(tmp_path: Path) -> None:
    rows = [
        "2024-01-02 09:30:00,10,12,9,11,100",  # EST: 14:30 UTC
        "2024-07-01T09:30:00,10,12,9,11,100",  # EDT: 13:30 UTC
        "2024-07-02,10,12,9,11,100",  # midnight EDT: 04:00 UTC
    ]
    bars = read_bars_csv(write(tmp_path, rows), timezone="America/New_York")

    assert bars.ts.tolist() == [
        JAN_2 + (14 * 3600 + 30 * 60) * NS_PER_SECOND,
        1_719_840_600 * NS_PER_SECOND,
        1_719_892_800 * NS_PER_SECOND,
    ]


def test_repeated_fall_back_hour_is_resolved_from_row_order(tmp_path: Path) -> None:
    times = ["00:30", "01:00", "01:30", "01:00", "01:30", "02:00"]
    rows = [f"2024-11-03 {time},10,12,9,11,100" for time in times]

    bars = read_bars_csv(write(tmp_path, rows), timezone="America/New_York")

    half_hour = 1800 * NS_PER_SECOND
    start = 1_730_608_200 * NS_PER_SECOND  # 2024-11-03 00:30 EDT = 04:30 UTC
    assert bars.ts.tolist() == [start + i * half_hour for i in range(6)]


def test_precision_is_the_largest_number_of_decimals(tmp_path: Path) -> None:
    rows = [
        bar(2, o="100.10", h="100.50", low="100.00", c="100.20"),
        bar(3, o="100.1234", h="100.5", low="99.9999", c="100.2"),
    ]

    bars = read_bars_csv(write(tmp_path, rows))

    assert bars.price_precision == 4
    assert bars.open.tolist() == [100.1, 100.1234]
    assert bars.low.tolist() == [100.0, 99.9999]


@pytest.mark.parametrize(
    ("prices", "precision"),
    [
        (("1.08345", "1.08351", "1.08302", "1.0832"), 5),  # sub-pip FX
        (("151.234", "151.5", "150.999", "151.01"), 3),  # JPY
        (("0.00001234", "0.00001301", "0.00001201", "0.0000125"), 8),  # crypto-like
        (("64000.12345678", "64100", "63999.99999999", "64050.5"), 8),
        (("0.0000000001234", "0.0000000001301", "0.0000000001201", "0.000000000125"), 13),
        (
            (
                "0.0000000000000001",
                "0.0000000000000009",
                "0.0000000000000001",
                "0.0000000000000005",
            ),
            16,
        ),
    ],
    ids=["fx", "jpy", "small-crypto", "large-crypto", "13-decimals", "16-decimals"],
)
def test_prices_round_trip_exactly_at_the_precision_they_need(
    tmp_path: Path, prices: tuple[str, str, str, str], precision: int
) -> None:
    o, h, low, c = prices
    bars = read_bars_csv(write(tmp_path, [bar(2, o=o, h=h, low=low, c=c, v="0.125")]))

    assert bars.price_precision == precision
    written = [
        f"{getattr(bars, name)[0]:.{precision}f}" for name in ("open", "high", "low", "close")
    ]
    assert [Decimal(text) for text in written] == [Decimal(text) for text in prices]
    # nautilus turns each float into the same fixed-point price.
    assert [str(Price(float(text), precision)) for text in written] == written


@pytest.mark.parametrize(
    ("price", "why"),
    [
        ("101.24000000000001", "float noise from writing a computed float"),
        ("0.30000000000000004", "float noise"),
        ("1.0000000000000001", "a 17th digit that float64 rounds away (the float reads 1.0)"),
        ("0.00000000000000001", "17 decimals"),
        ("1234567890.123456", "16 significant digits"),
    ],
)
def test_values_that_cannot_be_stored_exactly_are_refused(
    tmp_path: Path, price: str, why: str
) -> None:
    rows = good_rows(3)
    rows[1] = bar(3, o=price, h="1234567891", low="0.00000000000000001")
    message = validation_error(write(tmp_path, rows)).message
    assert "which cannot be stored exactly, in open" in message, why
    assert "on line 3 (1 row)" in message


def test_long_texts_with_few_digits_are_exact(tmp_path: Path) -> None:
    row = bar(2, o="0010.5000000000000000", c="11.000000000000000000", v="100.00000000000000000")
    bars = read_bars_csv(write(tmp_path, [row]))
    assert (bars.open[0], bars.close[0], bars.volume[0], bars.price_precision) == (10.5, 11, 100, 1)


def test_one_precision_for_all_prices_must_keep_every_price_exact(tmp_path: Path) -> None:
    # 0.12345678 makes the precision 8; 12345678.5 then needs 16 significant digits.
    rows = [
        bar(2, o="12345678.5", h="12345679", low="12345678", c="12345678.5"),
        bar(3, o="0.12345678", h="0.2", low="0.1", c="0.15"),
        bar(4, o="1.5", h="2", low="1", c="1.5"),
    ]
    error = validation_error(write(tmp_path, rows))
    assert error.message.endswith(
        "prices with more than 15 significant digits when written with 8 decimals "
        "(as line 3 needs) on line 2 (1 row)."
    )
    assert "same number of decimals" in (error.hint or "")


def test_volume_has_its_own_decimals(tmp_path: Path) -> None:
    rows = [bar(2, v="0.00012345"), bar(3, v="1234567.5")]
    bars = read_bars_csv(write(tmp_path, rows))
    assert bars.volume.tolist() == [0.00012345, 1234567.5]
    assert bars.price_precision == 0

    rows.append(bar(4, v="123456789.5"))  # 17 digits with the 8 decimals of line 2
    message = validation_error(write(tmp_path, rows)).message
    assert message.endswith(
        "volumes with more than 15 significant digits when written with 8 decimals "
        "(as line 2 needs) on line 4 (1 row)."
    )


def test_nautilus_limits_are_copied_right() -> None:
    from nautilus_trader.model import objects

    assert MAX_DECIMALS == objects.FIXED_PRECISION
    assert PRICE_MAX == objects.PRICE_MAX
    assert QUANTITY_MAX == objects.QUANTITY_MAX


def test_integer_prices_have_precision_zero(tmp_path: Path) -> None:
    assert read_bars_csv(write(tmp_path, good_rows(2))).price_precision == 0


def test_progress_reports_rows_parsed_per_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_loader, "CHUNK_ROWS", 2)
    seen: list[int] = []

    bars = read_bars_csv(write(tmp_path, good_rows(5)), on_progress=seen.append)

    assert seen == [2, 4, 5]
    assert len(bars) == 5


# --- files that cannot be read ------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "NOPE.csv"
    error = load_error(path)
    assert type(error) is UserInputError
    assert str(path) in error.message
    assert "not found" in error.message


def test_directory_instead_of_file(tmp_path: Path) -> None:
    error = load_error(tmp_path)
    assert type(error) is UserInputError
    assert "directory" in error.message


def test_unknown_timezone(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, good_rows(1)), timezone="Mars/Olympus")
    assert type(error) is UserInputError
    assert "Mars/Olympus" in error.message


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf"], ids=["no-bytes", "bom-only"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "AAPL.csv"
    path.write_bytes(content)
    assert "empty" in validation_error(path).message


def test_header_without_rows(tmp_path: Path) -> None:
    assert "no data rows" in validation_error(write(tmp_path, [])).message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "AAPL.csv"
    path.write_bytes(f"{HEADER}\n2024-01-02,10,12,9,11,100\n".encode("utf-16"))
    assert "UTF-8" in validation_error(path).message


# --- structure -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "words"), [(";", "semicolons"), ("\t", "tabs"), ("|", "pipes")]
)
def test_wrong_delimiter(tmp_path: Path, delimiter: str, words: str) -> None:
    header = delimiter.join(HEADER.split(","))
    rows = [delimiter.join(row.split(",")) for row in good_rows(2)]

    message = validation_error(write(tmp_path, rows, header=header)).message

    assert words in message
    assert "commas" in message


def test_missing_volume_column_names_it_and_lists_found_columns(tmp_path: Path) -> None:
    path = write(tmp_path, ["2024-01-02,10,12,9,11"], header="Date,Open,High,Low,Close")

    message = validation_error(path).message

    assert "missing required column volume" in message
    assert "found: Date, Open, High, Low, Close" in message


def test_missing_timestamp_and_close_columns(tmp_path: Path) -> None:
    path = write(tmp_path, ["a,10,12,9,100"], header="when,open,high,low,volume")
    message = validation_error(path).message
    assert "missing required columns timestamp, close" in message
    assert "found: when, open, high, low, volume" in message


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("timestamp,open,high,low,close,close,volume", "close (close, close)"),
        ("date,timestamp,open,high,low,close,volume", "timestamp (date, timestamp)"),
        ("Date,Time,Open,High,Low,Close,Volume", "timestamp (Date, Time)"),
        ("timestamp,open,high,low,close,Vol,Volume", "volume (Vol, Volume)"),
    ],
)
def test_header_naming_a_column_twice_is_refused(tmp_path: Path, header: str, named: str) -> None:
    path = write(tmp_path, ["2024-01-02,09:30,10,12,9,11,100"], header=header)
    error = validation_error(path)
    assert error.message == (f"{path}: the header names the same column more than once: {named}.")


def test_two_repeated_columns_are_named_together(tmp_path: Path) -> None:
    header = "date,ts,open,high,low,close,vol,volume"
    message = validation_error(write(tmp_path, [], header=header)).message
    assert message.endswith("more than once: timestamp (date, ts); volume (vol, volume).")


@pytest.mark.parametrize(
    "row",
    [
        "2024-01-03,10.5,11.5,10,11,1,200",  # an extra field: volume would be cut to 1
        "2024-01-03,10.5,11.5,10,11,",  # a trailing comma still gives six fields: empty volume
        "2024-01-03,10.5,11.5,10,11,100,",  # a trailing comma on a full row
        "2024-01-03,10.5,11.5,10,11",  # a field short
        "2024-01-03",
    ],
)
def test_rows_with_another_field_count_than_the_header_are_refused(
    tmp_path: Path, row: str
) -> None:
    fields = row.count(",") + 1
    message = validation_error(write(tmp_path, [bar(2), row, bar(4)])).message
    if fields == 6:
        assert "non-numeric or empty values in volume on line 3 (1 row)" in message
    else:
        assert f"(line 3 has {fields}) on line 3 (1 row)" in message


def test_extra_field_on_the_first_row_does_not_shift_the_columns(tmp_path: Path) -> None:
    # pandas takes a first row with one field more than the header as having an index column.
    message = validation_error(write(tmp_path, ["2024-01-02,10,12,9,11,100,7", bar(3)])).message
    assert "header's 6 (line 2 has 7) on line 2 (1 row)" in message


def test_field_count_message_shows_the_first_lines_and_the_count(tmp_path: Path) -> None:
    rows = [f"{bar(day)},1" for day in range(2, 10)]
    message = validation_error(write(tmp_path, rows)).message
    assert message.endswith("(line 2 has 7) on lines 2, 3, 4, 5, 6, ... (8 rows).")


def test_unquoted_thousands_separator_is_named(tmp_path: Path) -> None:
    rows = [bar(2), "2024-01-03,1,234.5,1240,1230,1235,100"]
    error = validation_error(write(tmp_path, rows))
    assert error.message.endswith(
        "rows whose number of fields differs from the header's 6 (line 3 has 7; 1,234.5 looks "
        "like a number with a thousands separator) on line 3 (1 row)."
    )
    assert "without thousands separators (1234.5)" in (error.hint or "")


def test_quoted_thousands_separator_is_refused_not_guessed(tmp_path: Path) -> None:
    # "1,5" is 1.5 with a decimal comma in much of Europe: no reading of it is safe.
    rows = [bar(2), '2024-01-03,"1,234.50","1,240",1230,1235,100', '2024-01-04,10,12,9,11,"1,5"']
    message = validation_error(write(tmp_path, rows)).message
    assert message.endswith(
        'numbers with a thousands separator ("1,234.50") in open, high, volume on lines 3, 4 '
        "(2 rows)."
    )


def test_quoted_fields_are_read_like_plain_ones(tmp_path: Path) -> None:
    header = '"Date","Symbol","Open","High","Low","Close","Volume"'
    rows = [
        '"2024-01-02","ACME, Inc.","10.25","12","9","11","100.5"',
        "2024-01-03,X,10,12,9,11,100",
    ]
    bars = read_bars_csv(write(tmp_path, rows, header=header))
    assert bars.ts.tolist() == [JAN_2, JAN_2 + DAY]
    assert bars.open.tolist() == [10.25, 10.0]
    assert bars.volume.tolist() == [100.5, 100.0]
    assert bars.price_precision == 2


@pytest.mark.parametrize(
    "quote",
    [
        lambda fields: ",".join(f'"{field}"' for field in fields),  # every field
        lambda fields: ",".join(f'"{f}"' if i % 2 else f for i, f in enumerate(fields)),  # some
        lambda fields: ", ".join(f'"{field}"' for field in fields),  # with spaces: csv module
    ],
    ids=["all-quoted", "some-quoted", "spaced"],
)
def test_quoting_does_not_change_the_bars(
    tmp_path: Path, quote: Callable[[list[str]], str]
) -> None:
    rows = [bar(2, o="10.25", v="100.5"), bar(3, h="12.125"), bar(4, low="8.5", c="9")]
    plain = read_bars_csv(write(tmp_path, rows, name="plain.csv"))
    quoted_rows = [quote(row.split(",")) for row in rows]
    quoted = read_bars_csv(write(tmp_path, quoted_rows, header=quote(HEADER.split(","))))
    for column in ("ts", "open", "high", "low", "close", "volume"):
        assert getattr(quoted, column).tolist() == getattr(plain, column).tolist()
    assert quoted.price_precision == plain.price_precision == 3


def test_nul_byte_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "AAPL.csv"
    path.write_bytes(f"{HEADER}\n{bar(2)}\n{bar(3)}\x00\n".encode())
    message = validation_error(path).message
    assert message.endswith("the file is not UTF-8 text (line 3 holds a NUL byte).")


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ('2024-01-04,"10,12,9,11,100', "the quote opened on line 4 is never closed"),
        ('2024-01-04,"10"5,12,9,11,100', "line 4 has a quoted value followed by more text"),
    ],
)
def test_broken_quotes_name_their_line(tmp_path: Path, row: str, problem: str) -> None:
    path = write(tmp_path, [bar(2), bar(3), row, bar(5)])
    error = validation_error(path)
    assert error.message.startswith(f"{path}: {problem}")
    assert "Error tokenizing" not in error.message


def test_quoted_value_running_over_lines_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, [bar(2), '2024-01-03,"10', '",12,9,11,100', bar(4)])
    message = validation_error(path).message
    assert message.endswith("the quoted value starting on line 3 runs over several lines.")


def test_blank_and_whitespace_lines_inside_the_data(tmp_path: Path) -> None:
    rows = [bar(2), "", bar(3), "   ", bar(4), "\t", ""]
    message = validation_error(write(tmp_path, rows)).message
    assert message.endswith("blank lines inside the data on lines 3, 5 (2 rows).")


def test_lone_carriage_returns_end_lines(tmp_path: Path) -> None:
    path = tmp_path / "AAPL.csv"
    path.write_bytes(f"{HEADER}\r{bar(2)}\r{bar(3)}\r".encode())
    assert read_bars_csv(path).ts.tolist() == [JAN_2, JAN_2 + DAY]


def test_unclosed_quote_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, [bar(2), bar(3), '2024-01-04,"10,12,9,11,100', bar(5)])
    error = validation_error(path)
    assert error.message == f"{path}: the quote opened on line 4 is never closed."


# --- values --------------------------------------------------------------------------------------


def test_non_numeric_and_empty_values(tmp_path: Path) -> None:
    rows = good_rows(6)
    rows[1] = bar(3, o="abc")  # line 3
    rows[3] = bar(5, v="")  # line 5
    rows[4] = bar(6, h="n/a")  # line 6

    message = validation_error(write(tmp_path, rows)).message

    assert "non-numeric or empty values in open, high, volume" in message
    assert "on lines 3, 5, 6 (3 rows)" in message


def test_blank_line_inside_the_data_is_reported_by_line(tmp_path: Path) -> None:
    rows = [bar(2), "", bar(3)]
    assert "on line 3 (1 row)" in validation_error(write(tmp_path, rows)).message


def test_row_with_missing_fields(tmp_path: Path) -> None:
    rows = [bar(2), "2024-01-03,10,12"]
    message = validation_error(write(tmp_path, rows)).message
    assert "differs from the header's 6 (line 3 has 3) on line 3 (1 row)" in message


def test_unparseable_timestamps(tmp_path: Path) -> None:
    rows = good_rows(5)
    rows[2] = "2024-13-45,10,12,9,11,100"  # line 4
    rows[4] = "yesterday,10,12,9,11,100"  # line 6

    error = validation_error(write(tmp_path, rows))

    assert "timestamps that cannot be parsed on lines 4, 6 (2 rows)" in error.message
    assert "2024-13-45" in (error.hint or "")


def test_bad_cell_in_epoch_column_is_the_only_line_reported(tmp_path: Path) -> None:
    rows = ["1704153600,10,12,9,11,100", "oops,10,12,9,11,100", "1704240000,10,12,9,11,100"]
    message = validation_error(write(tmp_path, rows)).message
    assert "timestamps that cannot be parsed on line 3 (1 row)" in message


def test_bad_cells_in_a_later_chunk_keep_their_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first chunk infers integer columns, the second text: the loader must cope with both.
    monkeypatch.setattr(csv_loader, "CHUNK_ROWS", 2)
    rows = [f"{1704153600 + 60 * i},10,12,9,11,100" for i in range(5)]
    rows[3] = f"{1704153600 + 180},10,12,9,eleven,100"  # line 5
    assert "values in close on line 5 (1 row)" in validation_error(write(tmp_path, rows)).message

    rows[3] = "later,10,12,9,11,100"
    assert "cannot be parsed on line 5 (1 row)" in validation_error(write(tmp_path, rows)).message


def test_empty_timestamp(tmp_path: Path) -> None:
    rows = [bar(2), ",10,12,9,11,100"]
    assert "cannot be parsed on line 3 (1 row)" in validation_error(write(tmp_path, rows)).message


def test_mixed_time_zones(tmp_path: Path) -> None:
    rows = [
        "2024-01-02T09:30:00-05:00,10,12,9,11,100",
        "2024-01-02T09:31:00-05:00,10,12,9,11,100",
        "2024-01-02 09:32:00,10,12,9,11,100",  # line 4, naive
        "2024-01-02T09:33:00-05:00,10,12,9,11,100",
        "2024-01-02 09:34:00,10,12,9,11,100",  # line 6, naive
    ]
    message = validation_error(write(tmp_path, rows)).message
    assert "mixed time zones" in message
    assert "timestamps without a UTC offset (line 2 has one) on lines 4, 6 (2 rows)" in message


def test_local_time_skipped_by_dst(tmp_path: Path) -> None:
    rows = ["2024-03-10 01:30,10,12,9,11,100", "2024-03-10 02:30,10,12,9,11,100"]
    message = validation_error(write(tmp_path, rows), timezone="America/New_York").message
    assert "do not exist or are ambiguous in America/New_York" in message
    assert "line 3 (1 row)" in message


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        (bar(4, h="8", low="9", o="8.5", c="8.5"), "high is below low"),
        (bar(4, o="13"), "high is below open or close"),
        (bar(4, c="12.5"), "high is below open or close"),
        (bar(4, c="8.5"), "low is above open or close"),
        (bar(4, o="8"), "low is above open or close"),
        (bar(4, v="-1"), "volume is negative"),
    ],
)
def test_bar_rules(tmp_path: Path, row: str, rule: str) -> None:
    rows = good_rows(5)
    rows[2] = row  # line 4
    assert f"{rule} on line 4 (1 row)" in validation_error(write(tmp_path, rows)).message


def test_message_lists_at_most_five_lines(tmp_path: Path) -> None:
    rows = [bar(day, h="1", low="2", o="1.5", c="1.5") for day in range(2, 10)]
    message = validation_error(write(tmp_path, rows)).message
    assert message.endswith("high is below low on lines 2, 3, 4, 5, 6, ... (8 rows).")


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        (bar(4, o="0"), "a price that is zero or negative"),
        (bar(4, low="-9", o="-1", c="-1", h="-0.5"), "a price that is zero or negative"),
        (bar(4, c="inf"), "infinite values in close"),
        (bar(4, h="Infinity", v="inf"), "infinite values in high, volume"),
        (bar(4, h="17014118346047"), "a price above nautilus' maximum of 17014118346046"),
        (bar(4, v="34028236692094"), "volume above nautilus' maximum of 34028236692093"),
    ],
)
def test_prices_must_be_positive_and_finite_and_fit_nautilus(
    tmp_path: Path, row: str, rule: str
) -> None:
    rows = good_rows(5)
    rows[2] = row  # line 4
    assert validation_error(write(tmp_path, rows)).message.endswith(f"{rule} on line 4 (1 row).")


def test_largest_price_and_volume_nautilus_holds_are_accepted(tmp_path: Path) -> None:
    row = bar(2, o="1", h="17014118346046", low="1", c="1", v="34028236692093")
    bars = read_bars_csv(write(tmp_path, [row]))
    assert (bars.high[0], bars.volume[0]) == (PRICE_MAX, QUANTITY_MAX)


def test_negative_zero_volume_is_stored_as_zero(tmp_path: Path) -> None:
    volume = read_bars_csv(write(tmp_path, [bar(2, v="-0.0")])).volume
    assert volume.tolist() == [0.0]
    assert not np.signbit(volume).any()


def test_zero_volume_is_allowed(tmp_path: Path) -> None:
    assert read_bars_csv(write(tmp_path, [bar(2, v="0")])).volume.tolist() == [0.0]


def test_every_broken_rule_is_reported_at_once(tmp_path: Path) -> None:
    rows = good_rows(12)
    rows[1] = bar(3, h="8", low="9", o="8.5", c="8.5")  # line 3
    rows[3] = bar(5, o="x", v="-5")  # line 5
    rows[4] = bar(6, v="-1")  # line 6
    rows[6] = "2024-01-08,10,12,9,11,100,7"  # line 8
    rows[7] = bar(9, o="0", low="0")  # line 9
    rows[8] = "1969-07-20,10,12,9,11,100"  # line 10
    rows[10] = bar(2)  # line 12

    path = write(tmp_path, rows)
    error = validation_error(path)

    assert error.message == (
        f"{path}: rows whose number of fields differs from the header's 6 (line 8 has 7) "
        "on line 8 (1 row); "
        "non-numeric or empty values in open on line 5 (1 row); "
        "a price that is zero or negative on line 9 (1 row); "
        "volume is negative on lines 5, 6 (2 rows); "
        "timestamps before 1970-01-01 on line 10 (1 row); "
        "high is below low on line 3 (1 row); "
        "duplicate timestamps on lines 2, 12 (2 rows); "
        # Line 10's timestamp is refused already, so the order is checked without it.
        "timestamps are not in ascending order; time goes backwards on line 12 (1 row)."
    )
    assert "thousands separators" in (error.hint or "")
    assert "Sort the file" in (error.hint or "")


# --- ordering ------------------------------------------------------------------------------------


def test_duplicate_timestamps(tmp_path: Path) -> None:
    rows = [bar(2), bar(3), bar(3), bar(4), bar(5), bar(5)]
    message = validation_error(write(tmp_path, rows)).message
    assert "duplicate timestamps on lines 3, 4, 6, 7 (4 rows)" in message


def test_unsorted_timestamps(tmp_path: Path) -> None:
    rows = [bar(2), bar(5), bar(3), bar(4), bar(9), bar(6)]
    message = validation_error(write(tmp_path, rows)).message
    assert "not in ascending order" in message
    assert "time goes backwards on lines 4, 7 (2 rows)" in message


def test_duplicates_and_order_are_both_reported(tmp_path: Path) -> None:
    rows = [bar(3), bar(2), bar(3)]
    message = validation_error(write(tmp_path, rows)).message
    assert message.endswith(
        "duplicate timestamps on lines 2, 4 (2 rows); "
        "timestamps are not in ascending order; time goes backwards on line 3 (1 row)."
    )


# --- timestamp range -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "rule"),
    [
        ("1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "timestamps before 1970-01-01"),
        ("-60", "0", "timestamps before 1970-01-01"),  # epoch seconds
        ("2199-12-31", "2200-01-01", "timestamps after 2200-01-01"),
        ("2024-01-02", "2262-04-11", "timestamps after 2200-01-01"),
        ("7258118399000", "7258118400000", "timestamps after 2200-01-01"),  # epoch milliseconds
    ],
)
def test_timestamps_outside_1970_to_2200_are_refused(
    tmp_path: Path, first: str, second: str, rule: str
) -> None:
    rows = [f"{first},10,12,9,11,100", f"{second},10,12,9,11,100"]
    line = 2 if "before" in rule else 3
    message = validation_error(write(tmp_path, rows)).message
    assert message.endswith(f"{rule} on line {line} (1 row).")


def test_first_and_last_accepted_timestamps(tmp_path: Path) -> None:
    rows = ["1970-01-01T00:00:00Z,10,12,9,11,100", "2199-12-31T23:59:59Z,10,12,9,11,100"]
    bars = read_bars_csv(write(tmp_path, rows))
    assert bars.ts.tolist() == [0, csv_loader.TS_MAX_NS - NS_PER_SECOND]
