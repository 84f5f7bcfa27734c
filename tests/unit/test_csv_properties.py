"""Property tests of the CSV loader: a file is read exactly as meant, or refused.

Hypothesis writes bar files in many shapes (column order, extra columns, case, quotes, BOM,
CRLF, trailing blank lines, timestamp formats, 0-16 decimals) and optionally breaks one rule.
A clean file must give back exactly the bars it was written from; a broken one must raise
``DataValidationError`` naming the file. Any other exception, or altered values, fails.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntrader.core.errors import DataValidationError
from ntrader.models.bars import PRICE_MAX, QUANTITY_MAX
from ntrader.services.csv_loader import read_bars_csv

NS = 1_000_000_000
# From 1974 (epoch milliseconds above 1e11, so their unit is not mistaken for seconds) to 2150.
FIRST_TS = int(datetime(1974, 1, 1, tzinfo=UTC).timestamp())
LAST_TS = int(datetime(2150, 1, 1, tzinfo=UTC).timestamp())
COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
CORRUPTIONS = (
    "extra field",
    "missing field",
    "not a number",
    "high below low",
    "duplicate row",
    "unsorted rows",
    "blank line inside",
    "unclosed quote",
    "zero price",
    "negative price",
    "float noise",
    "too early",
    "too late",
    "thousands separator",
)


@dataclass(frozen=True)
class Bar:
    ts: int  # seconds
    prices: tuple[str, str, str, str]  # open, high, low, close as written
    volume: str


@dataclass(frozen=True)
class Shape:
    order: tuple[int, ...]  # the field (index into NAMES) at each position of a line
    header_case: str
    timestamp_format: str
    quoted: bool
    spaces: bool
    bom: bool
    crlf: bool
    trailing_blank_lines: int


NAMES = (*COLUMNS, "symbol")


def decimal_text(ticks: int, decimals: int, pad: int) -> str:
    """ticks / 10**decimals written out, with ``pad`` trailing zeros beyond what it needs."""
    text = f"{Decimal(ticks).scaleb(-decimals):f}"
    return text + ("." if "." not in text and pad else "") + "0" * pad


@st.composite
def bars(draw: st.DrawFn) -> list[Bar]:
    count = draw(st.integers(1, 12))
    decimals = draw(st.integers(0, 16))
    # Prices stay within 15 significant digits at their precision, and within nautilus' range.
    largest = min(10**15 - 1, int(PRICE_MAX) * 10**decimals)
    volume_decimals = draw(st.integers(0, 8))
    volume_largest = min(10**15 - 1, int(QUANTITY_MAX) * 10**volume_decimals)
    step = draw(st.sampled_from([60, 300, 3600, 86_400]))
    start = draw(st.integers(FIRST_TS // step, (LAST_TS - count * step) // step)) * step
    result = []
    for i in range(count):
        low = draw(st.integers(1, largest // 2))
        high = draw(st.integers(low + 1, min(largest, low * 2 + 1)))
        open_, close = draw(st.integers(low, high)), draw(st.integers(low, high))
        pad = draw(st.integers(0, 2))
        prices = tuple(decimal_text(t, decimals, pad) for t in (open_, high, low, close))
        volume = decimal_text(draw(st.integers(0, volume_largest)), volume_decimals, 0)
        result.append(Bar(start + i * step, prices, volume))  # type: ignore[arg-type]
    return result


shapes = st.builds(
    Shape,
    order=st.permutations(range(6)).map(tuple) | st.permutations(range(7)).map(tuple),
    header_case=st.sampled_from(["lower", "upper", "title"]),
    timestamp_format=st.sampled_from(["iso-z", "iso-offset", "naive", "epoch-s", "epoch-ms"]),
    quoted=st.booleans(),
    spaces=st.booleans(),
    bom=st.booleans(),
    crlf=st.booleans(),
    trailing_blank_lines=st.integers(0, 2),
)


def timestamp_text(seconds: int, form: str) -> str:
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return {
        "iso-z": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "iso-offset": moment.isoformat(),
        "naive": moment.strftime("%Y-%m-%d %H:%M:%S"),
        "epoch-s": str(seconds),
        "epoch-ms": str(seconds * 1000),
    }[form]


def break_value(fields: list[str], kind: str) -> None:
    """Break one value rule in a bar's fields (in NAMES order)."""
    if kind == "not a number":
        fields[1] = "n/a"
    elif kind == "high below low":
        fields[2], fields[3] = fields[3], fields[2]
    elif kind == "unclosed quote":
        fields[4] = '"' + fields[4]
    elif kind == "zero price":
        fields[3] = "0"
    elif kind == "negative price":
        fields[3] = "-" + fields[3]
    elif kind == "float noise":
        fields[1] = repr(float(np.nextafter(float(fields[1]), np.inf)))
    elif kind in ("too early", "too late"):
        fields[0] = "1969-12-31T00:00:00Z" if kind == "too early" else "2201-01-01T00:00:00Z"
    elif kind == "thousands separator":
        fields[5] = "1,234.5"


def file_content(data: list[Bar], shape: Shape, corruption: str | None, at: int) -> bytes:
    """The file for ``data`` in ``shape``, with ``corruption`` applied to bar ``at``."""
    lines_fields = [
        [timestamp_text(bar.ts, shape.timestamp_format), *bar.prices, bar.volume, "SYM"]
        for bar in data
    ]
    if corruption is not None:
        break_value(lines_fields[at], corruption)

    def line(fields: list[str]) -> str:
        placed = [fields[i] for i in shape.order]
        if shape.quoted:
            placed = [f'"{field}"' for field in placed]
        return (", " if shape.spaces else ",").join(placed)

    case = {"lower": str.lower, "upper": str.upper, "title": str.title}[shape.header_case]
    body: list[str] = [line(fields) for fields in lines_fields]
    if corruption == "extra field":
        body[at] += ",1"
    elif corruption == "missing field":
        body[at] = body[at].rsplit(",", 1)[0]
    elif corruption == "duplicate row":
        body.insert(at, body[at])
    elif corruption == "unsorted rows":
        later = [timestamp_text(LAST_TS, shape.timestamp_format), *lines_fields[at][1:]]
        body.insert(at, line(later))
    elif corruption == "blank line inside":
        body.insert(at, "")
    newline = "\r\n" if shape.crlf else "\n"
    header = line([case(name) for name in NAMES])
    text = newline.join([header, *body]) + newline * (1 + shape.trailing_blank_lines)
    return (b"\xef\xbb\xbf" if shape.bom else b"") + text.encode()


def expected_precision(data: list[Bar]) -> int:
    return max(
        max(-Decimal(price).normalize().as_tuple().exponent, 0)  # type: ignore[operator]
        for bar in data
        for price in bar.prices
    )


@settings(max_examples=250, deadline=None)
@given(
    data=bars(),
    shape=shapes,
    corruption=st.none() | st.sampled_from(CORRUPTIONS),
    pick=st.integers(0),
)
def test_a_file_is_read_exactly_or_refused(
    data: list[Bar], shape: Shape, corruption: str | None, pick: int
) -> None:
    content = file_content(data, shape, corruption, pick % len(data))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bars.csv"
        path.write_bytes(content)
        if corruption is not None:
            with pytest.raises(DataValidationError) as refused:
                read_bars_csv(path)
            assert refused.value.message.startswith(f"{path}: ")
            return
        parsed = read_bars_csv(path)

    assert parsed.ts.tolist() == [bar.ts * NS for bar in data]
    for i, column in enumerate(("open", "high", "low", "close")):
        assert getattr(parsed, column).tolist() == [float(bar.prices[i]) for bar in data]
    assert parsed.volume.tolist() == [float(bar.volume) for bar in data]
    assert parsed.price_precision == expected_precision(data)
    # The precision writes every price back as the decimal it was read from.
    for i, column in enumerate(("open", "high", "low", "close")):
        written = [f"{value:.{parsed.price_precision}f}" for value in getattr(parsed, column)]
        assert [Decimal(text) for text in written] == [Decimal(bar.prices[i]) for bar in data]


@settings(max_examples=300, deadline=None)
@given(
    content=st.binary(max_size=200) | st.text(alphabet=',"\n\r 0123456789.-eE:TZab\t', max_size=200)
)
def test_arbitrary_bytes_after_a_header_never_crash(content: bytes | str) -> None:
    raw = content.encode() if isinstance(content, str) else content
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bars.csv"
        path.write_bytes(b"timestamp,open,high,low,close,volume\n" + raw)
        try:
            parsed = read_bars_csv(path)
        except DataValidationError as error:
            refusal = error.message
        else:
            refusal = None
    if refusal is not None:
        assert refusal.startswith(f"{path}: ")
        return
    # Whatever got through obeys every rule.
    assert len(parsed) > 0
    assert (np.diff(parsed.ts) > 0).all() and (parsed.ts >= 0).all()
    assert (parsed.low > 0).all() and (parsed.high >= parsed.low).all()
    assert (parsed.volume >= 0).all()
