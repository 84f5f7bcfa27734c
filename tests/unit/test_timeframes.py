"""Higher-timeframe bars made from the run's bars: each holds only bars that closed by its
own close, session-aligned across daylight saving time, and sums up like pandas does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntrader.core.errors import UserInputError
from ntrader.core.nautilus_bars import close_times_ns
from ntrader.core.timeframes import aggregate, check_higher, covers, period_keys
from ntrader.models.bars import BarArrays
from ntrader.models.enums import AssetClass, Timeframe
from ntrader.models.instrument import InstrumentSpec

AAPL = InstrumentSpec(symbol="AAPL", venue="NASDAQ")
EURUSD = InstrumentSpec(symbol="EURUSD", venue="IDEALPRO", asset_class=AssetClass.FX)


def _ns(text: str) -> int:
    return pd.Timestamp(text).value


def _day(text: str) -> int:
    return pd.Timestamp(text, tz="UTC").value


@pytest.mark.parametrize(
    ("spec", "minute_open", "session"),
    [
        # Winter: 16:00 New York is 21:00 UTC; the minute closing at 16:00 is that day's.
        (AAPL, "2024-03-08T20:59Z", "2024-03-08"),
        (AAPL, "2024-03-08T21:00Z", "2024-03-11"),  # after Friday's close: Monday
        # Summer time from 2024-03-10: 16:00 New York is 20:00 UTC.
        (AAPL, "2024-03-11T19:59Z", "2024-03-11"),
        (AAPL, "2024-03-11T20:00Z", "2024-03-12"),
        (AAPL, "2024-03-12T13:30Z", "2024-03-12"),
        # FX rolls at 17:00 New York: Sunday evening trading is Monday's session.
        (EURUSD, "2024-07-07T21:00Z", "2024-07-08"),
        (EURUSD, "2024-07-08T20:59Z", "2024-07-08"),
        (EURUSD, "2024-07-08T21:00Z", "2024-07-09"),
    ],
)
def test_a_minute_belongs_to_the_first_session_closing_at_or_after_it(
    spec: InstrumentSpec, minute_open: str, session: str
) -> None:
    keys = period_keys(spec, Timeframe.MINUTE_1, np.array([_ns(minute_open)]), Timeframe.DAILY)
    assert keys.tolist() == [_day(session)]


def test_intraday_periods_are_whole_hours() -> None:
    opens = np.array([_ns("2024-07-01T13:30Z"), _ns("2024-07-01T13:55Z"), _ns("2024-07-01T14:00Z")])
    keys = period_keys(AAPL, Timeframe.MINUTE_5, opens, Timeframe.HOUR_1)
    assert keys.tolist() == [_ns("2024-07-01T13:00Z")] * 2 + [_ns("2024-07-01T14:00Z")]


@pytest.mark.parametrize(
    ("base", "higher"), [(Timeframe.DAILY, Timeframe.DAILY), (Timeframe.HOUR_1, Timeframe.MINUTE_5)]
)
def test_a_higher_timeframe_not_longer_than_the_runs_is_refused(
    base: Timeframe, higher: Timeframe
) -> None:
    with pytest.raises(UserInputError) as caught:
        check_higher(base, higher)
    assert caught.value.message == (
        f"The strategy needs {higher.value} bars as its higher timeframe, but the run's "
        f"timeframe is {base.value}; the higher timeframe must be longer than the run's."
    )
    assert caught.value.hint and "--timeframe" in caught.value.hint


# Minutes of three weeks around the switch to summer time, pre-market to after-hours.
_WINDOW = pd.date_range("2024-03-04T09:00Z", "2024-03-23T01:00Z", freq="1min")


@settings(max_examples=60, deadline=None)
@given(
    picks=st.sets(st.integers(0, _WINDOW.size - 1), min_size=1, max_size=400),
    fx=st.booleans(),
)
def test_aggregated_bars_hold_only_bars_that_closed_by_their_close(
    picks: set[int], fx: bool
) -> None:
    spec = EURUSD if fx else AAPL
    opens = _WINDOW.as_unit("ns").asi8[sorted(picks)].astype(np.int64)
    rng = np.random.default_rng(len(picks))
    closes = np.round(100 + rng.normal(0, 1, opens.size).cumsum(), 2)
    bars = BarArrays(
        ts=opens,
        open=np.round(closes + 0.1, 2),
        high=np.round(closes + 0.5, 2),
        low=np.round(closes - 0.5, 2),
        close=closes,
        volume=rng.integers(1, 1_000, opens.size).astype(np.float64),
        price_precision=2,
    )
    daily = aggregate(spec, Timeframe.MINUTE_1, bars, Timeframe.DAILY)
    keys = period_keys(spec, Timeframe.MINUTE_1, opens, Timeframe.DAILY)
    minute_close = close_times_ns(spec, Timeframe.MINUTE_1, opens)
    session_close = close_times_ns(spec, Timeframe.DAILY, keys)
    # No bar is counted in a daily bar that closes before it (the look-ahead) ...
    assert np.all(minute_close <= session_close)
    # ... nor held back past the first session close it reaches (a day late), and the
    # days are weekdays (Friday evening trading is Monday's).
    days = keys.astype("datetime64[ns]").astype("datetime64[D]")
    assert np.all(np.is_busday(days))
    previous = np.busday_offset(days, -1).astype("datetime64[ns]").astype(np.int64)
    assert np.all(minute_close > close_times_ns(spec, Timeframe.DAILY, previous))
    frame = pd.DataFrame(
        {
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": closes,
            "volume": bars.volume,
            "key": keys,
        }
    )
    expected = frame.groupby("key").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    assert daily.ts.tolist() == expected.index.tolist()
    for column in ("open", "high", "low", "close", "volume"):
        assert getattr(daily, column).tolist() == expected[column].tolist()
    assert covers(spec, Timeframe.MINUTE_1, bars, Timeframe.DAILY, daily)
    if len(daily) > 1:
        gap = daily.slice(1, len(daily))
        assert not covers(spec, Timeframe.MINUTE_1, bars, Timeframe.DAILY, gap)
