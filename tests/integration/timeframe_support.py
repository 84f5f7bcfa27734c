"""Crafted intraday bars over New York sessions and the daily bars a vendor would store
for them, shared by the multi-timeframe tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe

ZONE = "America/New_York"
SESSION_MINUTES = 390  # 09:30 to 16:00 New York


def bars_per_session(timeframe: Timeframe) -> int:
    return SESSION_MINUTES * 60 // timeframe.seconds


def session_bars(
    levels: np.ndarray, first_session: pd.Timestamp, timeframe: Timeframe
) -> BarArrays:
    """Intraday bars of consecutive business-day sessions from ``first_session``: each
    session's level plus a wave of 60 bars, so fast and slow SMAs cross many times in
    every daily trend."""
    sessions = pd.bdate_range(first_session, periods=levels.size)
    per_session = bars_per_session(timeframe)
    opens_local = [
        pd.date_range(
            f"{day.date()} 09:30", periods=per_session, freq=f"{timeframe.seconds}s", tz=ZONE
        )
        for day in sessions
    ]
    ts = pd.DatetimeIndex(np.concatenate(opens_local)).tz_convert("UTC").as_unit("ns").asi8
    bar = np.tile(np.arange(per_session), levels.size)
    level = np.repeat(levels, per_session)
    closes = np.round(level + 1.5 * np.sin(2 * np.pi * bar / 60) + bar / 400, 2)
    opens = np.concatenate([[closes[0]], closes[:-1]])
    return BarArrays(
        ts=ts.astype(np.int64),
        open=opens,
        high=np.round(np.maximum(opens, closes) + 0.05, 2),
        low=np.round(np.minimum(opens, closes) - 0.05, 2),
        close=closes,
        volume=np.full(closes.size, 1_000.0),
        price_precision=2,
    )


def stored_daily(intraday: BarArrays) -> BarArrays:
    """The daily bars a data vendor would store for these bars (pandas, by New York date),
    stamped at UTC midnight as the store keeps them."""
    frame = pd.DataFrame(
        {
            "open": intraday.open,
            "high": intraday.high,
            "low": intraday.low,
            "close": intraday.close,
            "volume": intraday.volume,
        },
        index=pd.to_datetime(intraday.ts, utc=True).tz_convert(ZONE),
    )
    days = frame.groupby(frame.index.date).agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    return BarArrays(
        ts=pd.DatetimeIndex(days.index).tz_localize("UTC").as_unit("ns").asi8.astype(np.int64),
        # Copies: nautilus needs writable buffers, pandas hands out read-only views.
        open=days["open"].to_numpy(copy=True),
        high=days["high"].to_numpy(copy=True),
        low=days["low"].to_numpy(copy=True),
        close=days["close"].to_numpy(copy=True),
        volume=days["volume"].to_numpy(copy=True),
        price_precision=2,
    )
