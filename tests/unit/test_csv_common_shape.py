"""The reader for the common file shape (Arrow's CSV reader) agrees with the general reader
(pandas' C reader and the field scan) or steps aside.

Its answer must be exactly the general reader's, or None, so that every refusal and its
message, and every unusual but valid file, still come from the general reader.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ntrader.core.errors import DataValidationError
from ntrader.models.bars import BarArrays
from ntrader.services import csv_loader
from ntrader.services.csv_loader import read_bars_csv

HEADER = b"timestamp,open,high,low,close,volume\n"
_FIELDS = ("ts", "open", "high", "low", "close", "volume")


def _general(path: Path) -> BarArrays | DataValidationError:
    with mock.patch.object(csv_loader, "_read_common", return_value=None):
        try:
            return read_bars_csv(path)
        except DataValidationError as refused:
            return refused


def _common(data: bytes) -> BarArrays | None:
    body_start = data.index(b"\n") + 1
    positions, width = csv_loader._locate_columns(data[: body_start - 1].decode(), "f.csv")
    return csv_loader._read_common(data, body_start, positions, width)


def _assert_same(fast: BarArrays, general: BarArrays) -> None:
    for name in _FIELDS:
        left, right = getattr(fast, name), getattr(general, name)
        assert left.dtype == right.dtype, name
        # Bit for bit: -0.0 and 0.0, or two NaNs, must not pass for one another.
        assert left.tobytes() == right.tobytes(), name
    assert fast.price_precision == general.price_precision


_DIGITS = st.text("0123456789", min_size=1, max_size=9)
_NUMBERS = st.one_of(
    st.builds(lambda whole, part: f"{whole}.{part}", _DIGITS, _DIGITS),
    st.builds(lambda whole: whole, _DIGITS),
    st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False).map(str),
    st.floats(min_value=1e-6, max_value=1e9).map(repr),
    st.builds(
        lambda sign, text, end: f"{sign}{text}{end}",
        st.sampled_from(["", "+", "-", " ", "0"]),
        st.sampled_from(["1", "1.5", ".5", "5.", "1e5", "1E-2", "12345678901234567", "0x10"]),
        st.sampled_from(["", " ", "e", "d0", "_0", "."]),
    ),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "", "-0", "0", "N/A"]),
    st.text(" +-.0123456789eE", max_size=18),
)
_STAMPS = st.one_of(
    st.integers(0, 7_258_118_399).map(
        lambda seconds: np.datetime_as_string(np.datetime64(seconds, "s")) + "Z"
    ),
    st.sampled_from(
        [
            "2024-02-30T09:30:00Z",
            "2024-01-02T24:00:00Z",
            "2024-01-02 09:30:00Z",
            "2024-01-02T09:30:00z",
            "2024-01-02T09:30:00",
            "1969-12-31T23:59:59Z",
            " 2024-01-02T09:30:0Z",
            "1704187800",
        ]
    ),
)
_ROWS = st.lists(st.tuples(_STAMPS, *([_NUMBERS] * 5)), min_size=1, max_size=6)


@settings(max_examples=400, deadline=None)
@given(rows=_ROWS, sort=st.booleans(), tail=st.sampled_from(["", "\n", "\n\n", "\n \n"]))
def test_agrees_with_the_general_reader_or_declines(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, ...]], sort: bool, tail: str
) -> None:
    if sort:
        rows = sorted(rows)
    data = HEADER + ("\n".join(",".join(row) for row in rows) + tail).encode()
    path = tmp_path_factory.mktemp("common") / "bars.csv"
    path.write_bytes(data)
    fast = _common(csv_loader._read_file(path, str(path)))
    if fast is None:
        return
    general = _general(path)
    assert isinstance(general, BarArrays), general
    _assert_same(fast, general)


# Number texts that are valid prices in several spellings (leading zeros, a sign, an
# exponent, a bare point), so that most files generated from them are read.
_PRICES = st.one_of(
    st.decimals(min_value="0.0001", max_value=10**6, places=4, allow_nan=False).map(str),
    st.builds(
        lambda spelling, value: spelling.format(value),
        st.sampled_from(["{}", "+{}", "0{}", "{}.", "{}e0", "{}E+01", "{}0e-1"]),
        st.integers(1, 10**7),
    ),
    st.floats(min_value=1e-4, max_value=1e6).map(lambda value: f"{value:.6g}"),
)


@settings(max_examples=300, deadline=None)
@given(
    bars=st.lists(st.tuples(st.lists(_PRICES, min_size=4, max_size=4), _PRICES), max_size=8),
    first=st.integers(0, 6_000_000_000),
)
def test_valid_files_read_the_same_by_both(
    tmp_path_factory: pytest.TempPathFactory,
    bars: list[tuple[list[str], str]],
    first: int,
) -> None:
    lines = []
    for i, (prices, volume) in enumerate(bars):
        ordered = sorted(prices, key=float)  # low, two in between, high
        stamp = np.datetime_as_string(np.datetime64(first + 60 * i, "s")) + "Z"
        lines.append(",".join([stamp, ordered[1], ordered[3], ordered[0], ordered[2], volume]))
    path = tmp_path_factory.mktemp("common") / "bars.csv"
    path.write_bytes(HEADER + "\n".join(lines).encode() + b"\n")
    general = _general(path)
    fast = _common(csv_loader._read_file(path, str(path)))
    event("declined" if fast is None else "read by the common reader")
    if fast is None:
        assert not lines or isinstance(general, DataValidationError) or _has_long_text(lines)
        return
    assert isinstance(general, BarArrays), general
    _assert_same(fast, general)


def _has_long_text(lines: list[str]) -> bool:
    return any(len(text) > 16 for line in lines for text in line.split(",")[1:])


@settings(max_examples=200, deadline=None)
@given(
    content=st.text(alphabet=",\n 0123456789.-+eE:TZa", max_size=200),
)
def test_arbitrary_rows_agree_or_decline(
    tmp_path_factory: pytest.TempPathFactory, content: str
) -> None:
    data = HEADER + content.encode()
    path = tmp_path_factory.mktemp("common") / "bars.csv"
    path.write_bytes(data)
    fast = _common(csv_loader._read_file(path, str(path)))
    if fast is None:
        return
    general = _general(path)
    assert isinstance(general, BarArrays), general
    _assert_same(fast, general)


def _export(count: int) -> bytes:
    """A file as exporters write it (and as the import benchmark does)."""
    rng = np.random.default_rng(5)
    stamps = np.datetime_as_string(
        np.datetime64("2020-01-01T00:00:00") + np.arange(count) * np.timedelta64(1, "m")
    )
    close = np.round(100 + np.cumsum(rng.normal(0, 0.1, count)), 2)
    lines = [
        f"{stamp}Z,{c:.2f},{c + 0.5:.2f},{c - 0.5:.2f},{c:.2f},{volume}"
        for stamp, c, volume in zip(stamps, close, rng.integers(1, 10**6, count), strict=True)
    ]
    return HEADER + "\n".join(lines).encode() + b"\n"


def test_an_exported_file_takes_the_common_reader(tmp_path: Path) -> None:
    data = _export(5_000)
    path = tmp_path / "bars.csv"
    path.write_bytes(data)
    fast = _common(data)
    assert fast is not None
    general = _general(path)
    assert isinstance(general, BarArrays)
    _assert_same(fast, general)
    seen: list[int] = []
    _assert_same(read_bars_csv(path, on_progress=seen.append), general)
    assert seen == [5_000]


def _set_field(line: int, field: int, text: str) -> Callable[[list[str]], None]:
    def change(lines: list[str]) -> None:
        fields = lines[line].split(",")
        fields[field] = text
        lines[line] = ",".join(fields)

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda lines: lines.insert(3, ""), "blank lines inside the data on line 4 "),
        (lambda lines: lines.insert(3, lines[2]), "duplicate timestamps on lines 3, 4 "),
        (lambda lines: lines.__setitem__(3, lines[3] + ",7"), "rows whose number of fields"),
        (_set_field(3, 1, "-1"), "a price that is zero or negative on line 4 "),
        (_set_field(3, 5, "1.5x"), "non-numeric or empty values in volume on line 4 "),
        (_set_field(3, 4, "100.00000000000001"), "cannot be stored exactly, in close on line 4 "),
        (_set_field(3, 0, "2020-01-01T00:03:60Z"), "timestamps that cannot be parsed on line 4 "),
    ],
)
def test_a_broken_file_is_refused_by_the_general_reader(
    tmp_path: Path, change: Callable[[list[str]], None], message: str
) -> None:
    lines = _export(10).decode().splitlines()
    change(lines)
    path = tmp_path / "bars.csv"
    path.write_text("\n".join(lines) + "\n")
    general = _general(path)
    assert isinstance(general, DataValidationError)
    with pytest.raises(DataValidationError) as refused:
        read_bars_csv(path)
    assert message in refused.value.message
    assert refused.value.message == general.message
