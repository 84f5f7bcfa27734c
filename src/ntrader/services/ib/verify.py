"""``ntrader data verify``: what is wrong with a stored series, checked against the calendar.

Gaps are session days (daily bars) or regular-hours bars (intraday) the exchange calendar
says should exist and the store lacks; weekends and holidays are not gaps, and a half day
ends at its early close. US equities follow the NYSE calendar (``exchange_calendars``' XNYS),
FX trades from Sunday 17:00 to Friday 17:00 New York. Bars outside the extended session
(04:00-20:00 New York for equities) or on a day the market was closed are reported, as are
unsound bars (``unsound_bars``: a high and low that do not bracket the open and close, a
price not above zero, ...). It reads the rows of the ``bars`` table, which SQL users may
edit; loads read the column blocks, and refuse unsound ones.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from ntrader.core.calendars import TradingCalendar, calendar_for
from ntrader.core.errors import NotFoundError, UserInputError
from ntrader.db.database import Database
from ntrader.models.bars import BarArrays, unsound_bars
from ntrader.models.enums import Timeframe
from ntrader.models.instrument import InstrumentSpec
from ntrader.services.ib.chunks import NEW_YORK, session_days, session_start
from ntrader.services.instruments import find_stored
from ntrader.utils.timeutil import NS_PER_SECOND

_EXAMPLES = 5
_EXTENDED_HOURS = (4, 20)  # New York hours of the US equity extended session


@dataclass(frozen=True, slots=True)
class Problem:
    check: str
    count: int
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    instrument_id: str
    timeframe: Timeframe
    first_day: date
    last_day: date
    bars: int
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    database: Database,
    instrument: str,
    timeframe: Timeframe,
    start: date | None = None,
    end: date | None = None,
) -> VerifyReport:
    if start and end and end < start:
        raise UserInputError(
            f"The end date {end} is before the start date {start}.", hint="Swap --start and --end."
        )
    with database.transaction() as repos:
        stored = find_stored(repos.instruments, instrument)
        lo = int(session_start(stored.spec.asset_class, start).timestamp()) if start else None
        hi = (
            int(session_start(stored.spec.asset_class, end + timedelta(days=1)).timestamp())
            if end
            else None
        )
        data = repos.bars.rows(
            stored,
            timeframe,
            (lo * NS_PER_SECOND) if lo is not None else np.iinfo(np.int64).min,
            (hi * NS_PER_SECOND) if hi is not None else np.iinfo(np.int64).max,
        )
    spec = stored.spec
    if data.is_empty:
        raise NotFoundError(
            f"No {timeframe.value} bars of {spec.instrument_id} are stored in that range.",
            hint="`ntrader data list` shows what is stored.",
        )
    days = _session_day_of(spec, timeframe, data.ts)
    first_day = start or days[0]
    last_day = end or days[-1]
    problems = [
        *_ohlc(data, timeframe),
        *_outside_hours(spec, timeframe, data, days),
        *_gaps(spec, timeframe, data, first_day, last_day),
    ]
    return VerifyReport(spec.instrument_id, timeframe, first_day, last_day, len(data), problems)


def _session_day_of(spec: InstrumentSpec, timeframe: Timeframe, ts: np.ndarray) -> list[date]:
    stamps = pd.DatetimeIndex(ts.astype("datetime64[ns]")).tz_localize(UTC)
    if timeframe is Timeframe.DAILY:
        return list(stamps.date)
    shift = pd.Timedelta(hours=7 if _is_fx(spec) else 0)
    return list((stamps.tz_convert(NEW_YORK) + shift).date)


def _is_fx(spec: InstrumentSpec) -> bool:
    return calendar_for(spec.asset_class) is TradingCalendar.WEEKDAYS


def _when(ts_ns: int, timeframe: Timeframe) -> str:
    stamp = datetime.fromtimestamp(ts_ns / NS_PER_SECOND, UTC)
    return stamp.date().isoformat() if timeframe is Timeframe.DAILY else f"{stamp:%Y-%m-%d %H:%M}Z"


def _examples(ts: np.ndarray, timeframe: Timeframe) -> list[str]:
    return [_when(int(t), timeframe) for t in ts[:_EXAMPLES]]


def _ohlc(data: BarArrays, timeframe: Timeframe) -> list[Problem]:
    bad = unsound_bars(data)
    if not bad.any():
        return []
    return [Problem("unsound bars (OHLC)", int(bad.sum()), _examples(data.ts[bad], timeframe))]


def _outside_hours(
    spec: InstrumentSpec, timeframe: Timeframe, data: BarArrays, days: list[date]
) -> list[Problem]:
    open_days = set(session_days(spec.asset_class, min(days), max(days)))
    outside = np.array([day not in open_days for day in days])
    if timeframe is not Timeframe.DAILY and not _is_fx(spec):
        local = pd.DatetimeIndex(data.ts.astype("datetime64[ns]")).tz_localize(UTC)
        hours = local.tz_convert(NEW_YORK).hour.to_numpy()
        outside |= (hours < _EXTENDED_HOURS[0]) | (hours >= _EXTENDED_HOURS[1])
    if not outside.any():
        return []
    return [
        Problem(
            "bars outside trading hours",
            int(outside.sum()),
            _examples(data.ts[outside], timeframe),
        )
    ]


def _gaps(
    spec: InstrumentSpec, timeframe: Timeframe, data: BarArrays, first: date, last: date
) -> list[Problem]:
    expected = _expected_times(spec, timeframe, data, first, last)
    missing = np.setdiff1d(expected, data.ts.astype(np.int64), assume_unique=True)
    if missing.size == 0:
        return []
    step = timeframe.seconds * NS_PER_SECOND
    starts = np.flatnonzero(np.concatenate([[True], np.diff(missing) != step]))
    ends = np.concatenate([starts[1:], [missing.size]]) - 1
    ranges = [
        _when(int(missing[s]), timeframe)
        if s == e
        else f"{_when(int(missing[s]), timeframe)}..{_when(int(missing[e]), timeframe)}"
        for s, e in zip(starts[:_EXAMPLES], ends[:_EXAMPLES], strict=True)
    ]
    return [Problem("gaps (missing bars)", int(missing.size), ranges)]


def _expected_times(
    spec: InstrumentSpec, timeframe: Timeframe, data: BarArrays, first: date, last: date
) -> np.ndarray:
    """Open times (UTC ns) of the bars the calendar says exist from ``first`` to ``last``."""
    days = session_days(spec.asset_class, first, last)
    if timeframe is Timeframe.DAILY:
        return np.array(
            [int(pd.Timestamp(day).tz_localize(UTC).value) for day in days], dtype=np.int64
        )
    step = timeframe.seconds * NS_PER_SECOND
    if _is_fx(spec):
        bounds = [
            (
                session_start(spec.asset_class, day),
                session_start(spec.asset_class, day + timedelta(days=1)),
            )
            for day in days
        ]
        spans = [
            (int(a.timestamp()) * NS_PER_SECOND, int(b.timestamp()) * NS_PER_SECOND)
            for a, b in bounds
        ]
    else:
        spans = _regular_hours(first, last)
        if _on_the_hour(timeframe, data.ts):
            # All-hours hourly bars start on the hour (09:00-10:00 holds the 09:30 open).
            spans = [(a - a % step, b) for a, b in spans]
    if not spans:
        return np.empty(0, dtype=np.int64)
    return np.concatenate([np.arange(a, b, step, dtype=np.int64) for a, b in spans])


def _on_the_hour(timeframe: Timeframe, ts: np.ndarray) -> bool:
    hour = 3600 * NS_PER_SECOND
    return timeframe is Timeframe.HOUR_1 and bool(np.mean(ts % hour == 0) > 0.5)


def _regular_hours(first: date, last: date) -> list[tuple[int, int]]:
    """NYSE regular sessions (open, close in UTC ns), early closes included."""
    import exchange_calendars

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        calendar = exchange_calendars.get_calendar(
            "XNYS", start=f"{first.year}-01-01", end=f"{last.year}-12-31"
        )
    schedule = calendar.schedule.loc[str(first) : str(last)]
    return [(int(row.open.value), int(row.close.value)) for row in schedule.itertuples()]
