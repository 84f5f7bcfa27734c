"""Checks on the bundled synthetic sample data in ``data/`` and its generator script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"
SCRIPT = REPO_ROOT / "scripts" / "generate_sample_data.py"
DAILY_FILES = ("AAPL_daily.csv", "SPY_daily.csv")
MINUTE_FILE = "AAPL_1min.csv"
ALL_FILES = (*DAILY_FILES, MINUTE_FILE)
EXCHANGE_TZ = "America/New_York"


def read_bars(name: str) -> pd.DataFrame:
    """Load a file with lower-case OHLCV columns and a tz-aware ``time`` column."""
    frame = pd.read_csv(DATA_DIR / name)
    frame.columns = [column.lower() for column in frame.columns]
    if name == MINUTE_FILE:
        # Mixed -04:00/-05:00 offsets (DST ends 2024-11-03) need utc=True to parse.
        frame["time"] = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_convert(EXCHANGE_TZ)
    else:
        frame["time"] = pd.to_datetime(frame["date"], format="%Y-%m-%d")
    return frame


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output_dir = tmp_path_factory.mktemp("sample_data")
    subprocess.run(
        [sys.executable, str(SCRIPT), "--output-dir", str(output_dir)],
        check=True,
        capture_output=True,
    )
    return output_dir


@pytest.fixture(scope="module")
def aapl_daily() -> pd.DataFrame:
    return read_bars("AAPL_daily.csv")


@pytest.fixture(scope="module")
def minute_bars() -> pd.DataFrame:
    return read_bars(MINUTE_FILE)


@pytest.mark.parametrize("name", ALL_FILES)
def test_regeneration_is_byte_identical_to_committed_file(regenerated: Path, name: str) -> None:
    assert (regenerated / name).read_bytes() == (DATA_DIR / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "header"),
    [
        *((name, "Date,Open,High,Low,Close,Adj Close,Volume") for name in DAILY_FILES),
        (MINUTE_FILE, "timestamp,open,high,low,close,volume"),
    ],
)
def test_header(name: str, header: str) -> None:
    with (DATA_DIR / name).open() as handle:
        assert handle.readline().rstrip("\n") == header


@pytest.mark.parametrize("name", ALL_FILES)
def test_ohlc_consistency(name: str) -> None:
    bars = read_bars(name)
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] > bars["low"]).all()
    assert (bars["low"] > 0).all()
    assert pd.api.types.is_integer_dtype(bars["volume"])
    assert (bars["volume"] > 0).all()


@pytest.mark.parametrize("name", ALL_FILES)
def test_timestamps_strictly_increasing(name: str) -> None:
    times = read_bars(name)["time"]
    assert times.is_monotonic_increasing
    assert times.is_unique


@pytest.mark.parametrize("name", DAILY_FILES)
def test_adj_close_equals_close(name: str) -> None:
    bars = read_bars(name)
    assert (bars["adj close"] == bars["close"]).all()


def test_daily_files_share_the_calendar(aapl_daily: pd.DataFrame) -> None:
    spy = read_bars("SPY_daily.csv")
    assert spy["date"].tolist() == aapl_daily["date"].tolist()
    assert aapl_daily["date"].iloc[0] == "2019-01-02"
    assert aapl_daily["date"].iloc[-1] == "2024-12-31"


@pytest.mark.parametrize(
    ("year", "count"),
    [(2019, 252), (2020, 253), (2021, 252), (2022, 251), (2023, 250), (2024, 252)],
)
def test_nyse_trading_days_per_year(aapl_daily: pd.DataFrame, year: int, count: int) -> None:
    assert (aapl_daily["time"].dt.year == year).sum() == count


def test_no_weekend_dates(aapl_daily: pd.DataFrame) -> None:
    assert (aapl_daily["time"].dt.day_of_week < 5).all()


@pytest.mark.parametrize(
    ("day", "is_trading_day"),
    [
        ("2020-04-10", False),  # Good Friday
        ("2024-03-29", False),  # Good Friday
        ("2020-07-03", False),  # Independence Day on Saturday, observed Friday
        ("2021-12-24", False),  # Christmas on Saturday, observed Friday
        ("2022-12-26", False),  # Christmas on Sunday, observed Monday
        ("2022-06-20", False),  # Juneteenth on Sunday, observed Monday
        ("2023-01-02", False),  # New Year's Day on Sunday, observed Monday
        ("2021-12-31", True),  # New Year's Day 2022 on Saturday is not observed
        ("2021-06-18", True),  # Juneteenth was not an NYSE holiday before 2022
        ("2024-11-29", True),  # early close, still a trading day
    ],
)
def test_holiday_edge_cases(aapl_daily: pd.DataFrame, day: str, is_trading_day: bool) -> None:
    assert (day in set(aapl_daily["date"])) is is_trading_day


def test_covid_crash_is_present() -> None:
    spy = read_bars("SPY_daily.csv").set_index("date")["close"]
    drawdown = spy["2020-03-01":"2020-04-30"].min() / spy["2020-01-01":"2020-02-29"].max() - 1
    assert -0.40 < drawdown < -0.25


def test_daily_returns_are_correlated(aapl_daily: pd.DataFrame) -> None:
    spy = read_bars("SPY_daily.csv")
    correlation = np.corrcoef(np.diff(np.log(aapl_daily["close"])), np.diff(np.log(spy["close"])))[
        0, 1
    ]
    assert 0.6 < correlation < 0.8


def test_minute_bars_per_session(minute_bars: pd.DataFrame) -> None:
    per_day = minute_bars.groupby(minute_bars["time"].dt.date.astype(str)).size()
    assert "2024-11-28" not in per_day.index  # Thanksgiving
    assert len(per_day) == 20
    assert per_day.pop("2024-11-29") == 210  # early close at 13:00 ET
    assert (per_day == 390).all()


def test_minute_session_bounds(minute_bars: pd.DataFrame) -> None:
    clock = minute_bars["time"].dt.strftime("%H:%M")
    sessions = clock.groupby(minute_bars["time"].dt.date.astype(str))
    assert (sessions.first() == "09:30").all()
    last = sessions.last()
    assert last.pop("2024-11-29") == "12:59"
    assert (last == "15:59").all()


def test_minute_timestamps_carry_dst_offsets(minute_bars: pd.DataFrame) -> None:
    assert minute_bars["timestamp"].iloc[0] == "2024-11-01T09:30:00-04:00"
    offsets = minute_bars["timestamp"].str[-6:]
    after_dst_end = minute_bars["time"] >= pd.Timestamp("2024-11-04", tz=EXCHANGE_TZ)
    assert (offsets[~after_dst_end] == "-04:00").all()
    assert (offsets[after_dst_end] == "-05:00").all()
