"""A second, higher timeframe of the run's own instrument (docs/strategies.md).

The higher bars come from the store when it holds them for every period the run's bars
touch, and are otherwise aggregated here from the run's bars. Either way they reach the
strategy stamped at their close (a daily bar at the session close, core/nautilus_bars.py),
so a strategy never sees a bar before it has closed.

nautilus' own time-bar aggregator is not used: it cuts daily bars at a fixed UTC offset
(``time_bars_origin_offset``), which cannot follow New York's daylight saving time, so its
"day" would end at 15:00 or 16:00 depending on the season.
"""

from __future__ import annotations

import numpy as np

from ntrader.core.errors import UserInputError
from ntrader.core.nautilus_bars import close_times_ns, session_days_ns
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe
from ntrader.models.instrument import InstrumentSpec


def check_higher(base: Timeframe, higher: Timeframe) -> None:
    """Refuse a higher timeframe that is not longer than the run's own."""
    if higher.seconds <= base.seconds:
        raise UserInputError(
            f"The strategy needs {higher.value} bars as its higher timeframe, but the run's "
            f"timeframe is {base.value}; the higher timeframe must be longer than the run's.",
            hint="Run on shorter bars (e.g. --timeframe 1MIN), or turn off the option that "
            "needs the higher timeframe (e.g. trend_filter_period).",
        )


def period_keys(
    spec: InstrumentSpec, base: Timeframe, ts: np.ndarray, higher: Timeframe
) -> np.ndarray:
    """For each bar (open times ``ts``), the open time of the higher bar it belongs to, in
    the store's convention (daily: the session day's UTC midnight)."""
    check_higher(base, higher)
    if higher is Timeframe.DAILY:
        return session_days_ns(spec, close_times_ns(spec, base, ts))
    length = np.int64(higher.seconds * 1_000_000_000)
    # Every intraday timeframe divides the longer ones, so no bar straddles two periods.
    return (ts.astype(np.int64) // length) * length


def aggregate(
    spec: InstrumentSpec, base: Timeframe, bars: BarArrays, higher: Timeframe
) -> BarArrays:
    """The higher-timeframe bars made of ``bars``: first open, highest high, lowest low,
    last close and total volume of each period."""
    keys = period_keys(spec, base, bars.ts, higher)
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    ends = np.concatenate([starts[1:], [keys.size]]) - 1
    return BarArrays(
        ts=keys[starts],
        open=bars.open[starts],
        high=np.maximum.reduceat(bars.high, starts),
        low=np.minimum.reduceat(bars.low, starts),
        close=bars.close[ends],
        volume=np.add.reduceat(bars.volume, starts),
        price_precision=bars.price_precision,
    )


def covers(
    spec: InstrumentSpec, base: Timeframe, bars: BarArrays, higher: Timeframe, stored: BarArrays
) -> bool:
    """Whether ``stored`` higher bars exist for every period that ``bars`` touch."""
    needed = np.unique(period_keys(spec, base, bars.ts, higher))
    return bool(np.isin(needed, _store_keys(higher, stored.ts)).all())


def visible_span(
    spec: InstrumentSpec, base: Timeframe, bars: BarArrays, higher: Timeframe, found: BarArrays
) -> BarArrays:
    """The higher bars that close while the run's bars are being played, from the first
    bar's close to the last one's: nautilus executes orders on the first bar type it sees
    for an instrument, which must be the run's own, and a bar closing after the run's last
    bar could not be acted on."""
    closes = close_times_ns(spec, higher, found.ts)
    base_closes = close_times_ns(spec, base, bars.ts[[0, -1]])
    first = int(np.searchsorted(closes, base_closes[0], side="left"))
    last = int(np.searchsorted(closes, base_closes[1], side="right"))
    return found.slice(first, last)


def _store_keys(higher: Timeframe, ts: np.ndarray) -> np.ndarray:
    if higher is Timeframe.DAILY:
        day = np.int64(86_400 * 1_000_000_000)
        return (ts.astype(np.int64) // day) * day
    return ts.astype(np.int64)
