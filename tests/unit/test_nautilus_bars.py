"""Bars reach nautilus stamped at their close, so no strategy sees a bar early."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ntrader.core.nautilus_bars import close_times_ns, to_nautilus_bars
from ntrader.models.bars import BarArrays
from ntrader.models.enums import AssetClass, Timeframe
from ntrader.models.instrument import InstrumentSpec

AAPL = InstrumentSpec(symbol="AAPL", venue="NASDAQ")


def _ns(text: str) -> int:
    return pd.Timestamp(text).value


def test_daily_bars_close_at_the_new_york_session_close_across_dst() -> None:
    opens = np.array([_ns("2024-03-08T00:00Z"), _ns("2024-03-11T00:00Z")], dtype=np.int64)
    closes = close_times_ns(AAPL, Timeframe.DAILY, opens)
    assert closes.tolist() == [_ns("2024-03-08T21:00Z"), _ns("2024-03-11T20:00Z")]


def test_fx_daily_bars_close_at_the_five_pm_roll() -> None:
    eurusd = InstrumentSpec(symbol="EURUSD", venue="IDEALPRO", asset_class=AssetClass.FX)
    opens = np.array([_ns("2024-07-01T00:00Z")], dtype=np.int64)
    assert close_times_ns(eurusd, Timeframe.DAILY, opens).tolist() == [_ns("2024-07-01T21:00Z")]


def test_intraday_bars_close_one_bar_length_later() -> None:
    opens = np.array([_ns("2024-07-01T13:30Z")], dtype=np.int64)
    assert close_times_ns(AAPL, Timeframe.MINUTE_5, opens).tolist() == [_ns("2024-07-01T13:35Z")]


def test_nautilus_bars_keep_exact_prices_at_the_instrument_precision() -> None:
    spec = InstrumentSpec(symbol="AAPL", venue="NASDAQ", price_precision=4)
    data = BarArrays(
        ts=np.array([_ns("2024-07-01T13:30Z")], dtype=np.int64),
        open=np.array([100.1]),
        high=np.array([100.1234]),
        low=np.array([99.9999]),
        close=np.array([100.0001]),
        volume=np.array([1500.0]),
        price_precision=4,
    )
    (bar,) = to_nautilus_bars(spec, Timeframe.MINUTE_1, data)
    assert str(bar.open) == "100.1000"
    assert str(bar.high) == "100.1234"
    assert str(bar.low) == "99.9999"
    assert str(bar.close) == "100.0001"
    assert bar.ts_event == _ns("2024-07-01T13:31Z")
    assert str(bar.bar_type) == "AAPL.NASDAQ-1-MINUTE-LAST-EXTERNAL"
