"""The fast path for 2024-01-02T09:30:00Z timestamps agrees with pandas' parser or steps aside.

Its answer must be what the general path (pandas' ISO-8601 parser, in UTC) gives, or None,
so that every refusal and its message still come from the general path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntrader.core.errors import DataValidationError
from ntrader.services.csv_loader import _utc_seconds_to_ns, read_bars_csv


def _two_digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda value: f"{value:02d}")


# Fields drawn past their valid ranges (month 13, day 31 of April, hour 24, second 60...).
_STAMPS = st.builds(
    lambda year, month, day, hour, minute, second, end: (
        f"{year}-{month}-{day}T{hour}:{minute}:{second}{end}"
    ),
    st.integers(1900, 2299).map(str),
    _two_digits(0, 13),
    _two_digits(0, 32),
    _two_digits(0, 25),
    _two_digits(0, 61),
    _two_digits(0, 61),
    st.sampled_from(["Z", "Z", "Z", "z", "+00:00", ""]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_STAMPS, min_size=1, max_size=5))
def test_agrees_with_pandas_or_declines(texts: list[str]) -> None:
    fast = _utc_seconds_to_ns(pa.array(texts, type=pa.string()))
    if fast is None:
        return
    expected = pd.to_datetime(pd.Series(texts), format="ISO8601", utc=True, errors="coerce")
    assert not expected.isna().any()
    assert fast.tolist() == expected.array.as_unit("ns").asi8.tolist()


def test_declines_a_day_past_the_month_end() -> None:
    texts = pa.array(["2024-01-02T09:30:00Z", "2023-02-29T09:30:00Z"])
    assert _utc_seconds_to_ns(texts) is None
    assert _utc_seconds_to_ns(texts.slice(0, 1)) is not None


def test_a_file_with_a_day_past_the_month_end_is_refused_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-02T09:30:00Z,1,2,0.5,1.5,10\n"
        "2024-02-30T09:30:00Z,1,2,0.5,1.5,10\n"
    )
    with pytest.raises(DataValidationError, match="cannot be parsed on line 3 "):
        read_bars_csv(path)


def test_a_clean_file_reads_as_utc(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-02T09:30:00Z,1,2,0.5,1.5,10\n"
        "2024-01-02T09:31:00Z,1,2,0.5,1.5,10\n"
    )
    bars = read_bars_csv(path)
    assert bars.ts.tolist() == [1_704_187_800 * 10**9, 1_704_187_860 * 10**9]


def test_every_day_from_1970_to_2199_agrees_with_pandas() -> None:
    days = pd.date_range("1970-01-01", "2199-12-31", freq="D", unit="ns")
    stamps = days + pd.to_timedelta(np.arange(days.size) % 86_400, unit="s")
    texts = stamps.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    assert _utc_seconds_to_ns(pa.array(texts)).tolist() == stamps.asi8.tolist()
