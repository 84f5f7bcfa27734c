"""Deterministic synthetic bars for `run-simple` and tests: a sine wave on an upward drift."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ntrader.models.bars import BarArrays


def sine_wave_bars(
    count: int = 750,
    *,
    start: str = "2020-01-02",
    base_price: float = 100.0,
    amplitude: float = 8.0,
    period: int = 60,
    drift_per_bar: float = 0.04,
) -> BarArrays:
    """Business-day bars whose closes follow ``base + drift*i + amplitude*sin(2πi/period)``.

    Open is the previous close; the high/low straddle both by a fixed fraction, so every
    OHLC rule holds. Same arguments, same bars.
    """
    index = np.arange(count, dtype=np.float64)
    close = np.round(
        base_price + drift_per_bar * index + amplitude * np.sin(2 * np.pi * index / period), 2
    )
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.round(np.maximum(open_, close) * 0.004, 2) + 0.01
    days = pd.bdate_range(start=start, periods=count, tz="UTC")
    return BarArrays(
        ts=days.as_unit("ns").asi8.astype(np.int64),
        open=open_,
        high=np.maximum(open_, close) + spread,
        low=np.minimum(open_, close) - spread,
        close=close,
        volume=np.full(count, 1_000_000.0),
        price_precision=2,
    )
