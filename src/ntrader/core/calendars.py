"""Which days an instrument trades, and how many of them make a year (docs/metrics.md).

US equities and ETFs follow the NYSE's sessions (``exchange_calendars``' XNYS, which ships
its holiday rules in the package: nothing is fetched at run time), FX trades 24/5 (every
weekday) and crypto 24/7 (every day). ``exchange_calendars`` takes a quarter of a second to
import and up to a second to build the NYSE's calendar, which every backtest of US equities
would pay: the sessions of each span of years are kept on disk instead, in the data dir's
``cache`` folder, keyed by ``exchange_calendars``' version (a new release may correct a
holiday), and built only when no such file is there.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from ntrader.models.enums import AssetClass
from ntrader.utils.logging import get_logger
from ntrader.utils.settings import get_settings

_log = get_logger(__name__)


class TradingCalendar(StrEnum):
    XNYS = "XNYS"  # NYSE/NASDAQ sessions: weekdays less the exchange's holidays
    WEEKDAYS = "24/5"  # FX: every weekday
    EVERY_DAY = "24/7"  # crypto: every day of the year


# US-listed futures and options keep the NYSE's holidays closely enough for a daily curve.
_CALENDAR_OF = {
    AssetClass.EQUITY: TradingCalendar.XNYS,
    AssetClass.ETF: TradingCalendar.XNYS,
    AssetClass.FUTURE: TradingCalendar.XNYS,
    AssetClass.OPTION: TradingCalendar.XNYS,
    AssetClass.FX: TradingCalendar.WEEKDAYS,
    AssetClass.CRYPTO: TradingCalendar.EVERY_DAY,
}

# Fixed by the calendar's definition: 52 weeks of five days, and every day of a common year.
_FIXED_PERIODS = {TradingCalendar.WEEKDAYS: 260.0, TradingCalendar.EVERY_DAY: 365.0}


def calendar_for(asset_class: AssetClass) -> TradingCalendar:
    return _CALENDAR_OF[asset_class]


def trading_days(calendar: TradingCalendar, start: date, end: date) -> pd.DatetimeIndex:
    """The calendar's days from ``start`` to ``end`` inclusive, as naive midnights."""
    every_day = pd.date_range(start, end, freq="D")
    if calendar is TradingCalendar.EVERY_DAY:
        return every_day
    if calendar is TradingCalendar.WEEKDAYS:
        return every_day[every_day.day_of_week < 5]
    sessions = _xnys_sessions(start.year, end.year)
    return sessions[(sessions >= pd.Timestamp(start)) & (sessions <= pd.Timestamp(end))]


@cache
def _xnys_sessions(first_year: int, last_year: int) -> pd.DatetimeIndex:
    path = sessions_cache_file(first_year, last_year)
    days = _read_sessions(path, first_year, last_year)
    if days is None:
        days = build_xnys_days(first_year, last_year)
        _write_sessions(path, days)
    return pd.DatetimeIndex(days.astype("datetime64[ns]"))


def build_xnys_days(first_year: int, last_year: int) -> np.ndarray:
    """The NYSE's sessions from ``exchange_calendars`` (``datetime64[D]``), built afresh."""
    import exchange_calendars

    with warnings.catch_warnings():
        # exchange_calendars 4.13 trips pandas' own deprecation notices; nothing to act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        calendar = exchange_calendars.get_calendar(
            "XNYS", start=f"{first_year}-01-01", end=f"{last_year}-12-31"
        )
    return calendar.sessions.tz_localize(None).to_numpy().astype("datetime64[D]")


def sessions_cache_file(first_year: int, last_year: int) -> Path:
    """Where the NYSE's sessions of these years are kept (see the module's docstring)."""
    name = f"xnys-sessions-{version('exchange_calendars')}-{first_year}-{last_year}.npy"
    return get_settings().data_dir.expanduser() / "cache" / name


def _read_sessions(path: Path, first_year: int, last_year: int) -> np.ndarray | None:
    """The cached sessions, or None when the file is missing or not what this module
    wrote (they are then built again and the file replaced)."""
    try:
        days = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError):
        days = None
    if not (
        isinstance(days, np.ndarray)
        and days.dtype == np.dtype("datetime64[D]")
        and days.ndim == 1
        and days.size > 0
        and bool(np.all(days[1:] > days[:-1]))
        and days[0] >= np.datetime64(f"{first_year}-01-01")
        and days[-1] <= np.datetime64(f"{last_year}-12-31")
    ):
        _log.warning("calendar.cache_ignored", path=str(path))
        return None
    return days


def _write_sessions(path: Path, days: np.ndarray) -> None:
    """Keep ``days`` in ``path``, written whole or not at all (another run may be reading
    it); a cache that cannot be written only costs the next run the build."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as file:
            temporary = Path(file.name)
            np.save(file, days, allow_pickle=False)
        os.replace(temporary, path)
    except OSError as exc:
        _log.info("calendar.cache_unwritable", path=str(path), error=str(exc))
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def periods_per_year(calendar: TradingCalendar, start: date, end: date) -> float:
    """Trading days in an average year of the run: for the NYSE, its sessions in the whole
    calendar years the run touches, divided by their number (250 to 253 a year)."""
    fixed = _FIXED_PERIODS.get(calendar)
    if fixed is not None:
        return fixed
    years = end.year - start.year + 1
    sessions = trading_days(calendar, date(start.year, 1, 1), date(end.year, 12, 31))
    return len(sessions) / years


@dataclass(frozen=True, slots=True)
class Annualisation:
    """The calendar a run's returns are annualised on, and its trading days per year."""

    calendar: TradingCalendar
    periods_per_year: float

    def as_dict(self) -> dict[str, str | float]:
        return {"calendar": self.calendar.value, "periods_per_year": self.periods_per_year}


def annualisation_for(asset_classes: Iterable[AssetClass], start: date, end: date) -> Annualisation:
    """A portfolio's equity curve has a point on the union of its instruments' days; the
    calendars nest (NYSE sessions within weekdays within every day), so that union is the
    densest calendar's days, and the run is annualised on that calendar."""
    calendars = {calendar_for(asset_class) for asset_class in asset_classes}
    if not calendars:
        raise ValueError("a run needs at least one instrument to pick its calendar")
    return max(
        (Annualisation(c, periods_per_year(c, start, end)) for c in calendars),
        key=lambda a: a.periods_per_year,
    )
