"""Synthetic but realistic OHLCV bars for the benchmarks (deterministic: seeded numpy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ntrader.models.bars import BarArrays

NS_PER_MINUTE = 60 * 1_000_000_000
_SESSION_ZONE = "America/New_York"
_RTH_OPEN = pd.Timedelta(hours=9, minutes=30)
RTH_BARS_PER_DAY = 390  # 09:30-16:00 New York, one bar a minute


def consecutive_minutes(start: str, count: int) -> np.ndarray:
    """``count`` bar open times one minute apart from ``start`` (UTC), as int64 ns."""
    first = pd.Timestamp(start, tz="UTC").value
    return first + np.arange(count, dtype=np.int64) * NS_PER_MINUTE


def trading_days(year: int, count: int) -> pd.DatetimeIndex:
    """The first ``count`` weekdays of ``year`` (naive dates)."""
    days = pd.bdate_range(f"{year}-01-01", f"{year}-12-31")
    if count > len(days):
        raise ValueError(f"{year} has only {len(days)} weekdays")
    return days[:count]


def rth_minutes(days: pd.DatetimeIndex) -> np.ndarray:
    """Open times of the 390 regular-trading-hours minute bars of each day, UTC int64 ns."""
    opens = (days + _RTH_OPEN).tz_localize(_SESSION_ZONE).tz_convert("UTC")
    first = opens.as_unit("ns").asi8.astype(np.int64)
    offsets = np.arange(RTH_BARS_PER_DAY, dtype=np.int64) * NS_PER_MINUTE
    return (first[:, None] + offsets[None, :]).ravel()


def daily_opens(days: pd.DatetimeIndex) -> np.ndarray:
    """Daily bars are stamped at midnight UTC of their date, as ``data import`` stores them."""
    return days.tz_localize("UTC").as_unit("ns").asi8.astype(np.int64)


def random_walk_bars(
    ts: np.ndarray, *, seed: int, start_price: float = 100.0, step_vol: float = 0.0008
) -> BarArrays:
    """A geometric random walk: open = previous close, high/low around them, 2-decimal prices."""
    rng = np.random.default_rng(seed)
    count = ts.shape[0]
    log_returns = rng.normal(0.0, step_vol, count)
    close = np.round(start_price * np.exp(np.cumsum(log_returns)), 2)
    close = np.maximum(close, 0.01)
    open_ = np.concatenate([[start_price], close[:-1]])
    wick_up = np.abs(rng.normal(0.0, step_vol / 2, count)) * close
    wick_down = np.abs(rng.normal(0.0, step_vol / 2, count)) * close
    high = np.round(np.maximum(open_, close) + wick_up, 2)
    low = np.maximum(np.round(np.minimum(open_, close) - wick_down, 2), 0.01)
    volume = rng.integers(100, 50_000, count).astype(np.float64)
    return BarArrays(
        ts=np.ascontiguousarray(ts, dtype=np.int64),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        price_precision=2,
    )


def write_csv(bars: BarArrays, path: Path) -> Path:
    """``timestamp,open,high,low,close,volume`` with ISO UTC timestamps (2020-01-01T00:00:00Z)."""
    stamps = np.datetime_as_string(bars.ts.astype("datetime64[ns]"), unit="s")
    frame = pd.DataFrame(
        {
            "timestamp": np.char.add(stamps, "Z"),
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "volume": bars.volume.astype(np.int64),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.2f")
    return path
