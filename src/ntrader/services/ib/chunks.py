"""Splitting a fetch into the requests IB allows, and which session days a range holds.

IB caps a historical request's duration by bar size (1 day of 1-minute bars, a week of
5-minute bars, a month of hourly bars, a year of daily bars). A fetch is cut into chunks of
whole session days within those caps; each chunk is one request and one transaction, and a
chunk counts as stored when every session day in it has bars, so a second run asks only
for the rest.

A session day of a US equity runs from midnight to midnight in New York; an FX session day
runs from the 17:00 New York roll on the day before (as daily FX bars do).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from ntrader.core.calendars import TradingCalendar, calendar_for, trading_days
from ntrader.models.enums import AssetClass, Timeframe

NEW_YORK = ZoneInfo("America/New_York")

MAX_CHUNK_DAYS = {
    Timeframe.MINUTE_1: 1,
    Timeframe.MINUTE_5: 7,
    Timeframe.HOUR_1: 30,
    Timeframe.DAILY: 365,
}
BAR_SIZE = {
    Timeframe.MINUTE_1: "1 min",
    Timeframe.MINUTE_5: "5 mins",
    Timeframe.HOUR_1: "1 hour",
    Timeframe.DAILY: "1 day",
}


@dataclass(frozen=True, slots=True)
class DayChunk:
    """Session days ``first`` to ``last`` inclusive: one historical request."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def duration(self) -> str:
        """IB's duration string for the request."""
        return f"{self.days} D"


def split_days(start: date, end: date, timeframe: Timeframe) -> list[DayChunk]:
    """Consecutive chunks covering ``start``..``end`` exactly, each within IB's cap."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    step = MAX_CHUNK_DAYS[timeframe]
    chunks = []
    first = start
    while first <= end:
        last = min(first + timedelta(days=step - 1), end)
        chunks.append(DayChunk(first, last))
        first = last + timedelta(days=1)
    return chunks


def session_days(asset_class: AssetClass, first: date, last: date) -> list[date]:
    """The days the instrument trades from ``first`` to ``last`` inclusive."""
    calendar = calendar_for(asset_class)
    return [d.date() for d in trading_days(calendar, first, last)]


def session_start(asset_class: AssetClass, day: date) -> datetime:
    """When session day ``day`` begins (UTC)."""
    if calendar_for(asset_class) is TradingCalendar.WEEKDAYS:
        opens = datetime.combine(day - timedelta(days=1), time(17), NEW_YORK)
    else:
        opens = datetime.combine(day, time(0), NEW_YORK)
    return opens.astimezone(UTC)


def chunk_window(asset_class: AssetClass, chunk: DayChunk) -> tuple[datetime, datetime]:
    """The chunk's [start, end) in UTC."""
    return (
        session_start(asset_class, chunk.first),
        session_start(asset_class, chunk.last + timedelta(days=1)),
    )


def days_of_bars(asset_class: AssetClass, timeframe: Timeframe, ts_ns: np.ndarray) -> set[date]:
    """The session days stored bars (open times in UTC nanoseconds) belong to."""
    if ts_ns.size == 0:
        return set()
    if timeframe is Timeframe.DAILY:  # stored at the session day's UTC midnight
        days = ts_ns.astype("datetime64[ns]").astype("datetime64[D]")
        return {d.item() for d in np.unique(days)}
    import pandas as pd

    shift = pd.Timedelta(hours=7 if calendar_for(asset_class) is TradingCalendar.WEEKDAYS else 0)
    local = pd.DatetimeIndex(ts_ns.astype("datetime64[ns]")).tz_localize(UTC)
    return set((local.tz_convert(NEW_YORK) + shift).normalize().unique().date)
