"""Enumerations shared by models, storage and the CLI."""

from __future__ import annotations

from enum import StrEnum


class Timeframe(StrEnum):
    """Bar length. The value is what the store and the CLI use."""

    MINUTE_1 = "1MIN"
    MINUTE_5 = "5MIN"
    HOUR_1 = "1HOUR"
    DAILY = "DAILY"

    @property
    def seconds(self) -> int:
        return _TIMEFRAME_SECONDS[self]

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        """Accept the canonical value and common spellings (``1m``, ``1-MINUTE``, ``1D``)."""
        key = text.strip().upper().replace("-", "").replace("_", "").replace(" ", "")
        found = _TIMEFRAME_ALIASES.get(key)
        if found is None:
            known = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown timeframe {text!r}; use one of {known}")
        return found


_TIMEFRAME_SECONDS = {
    Timeframe.MINUTE_1: 60,
    Timeframe.MINUTE_5: 300,
    Timeframe.HOUR_1: 3600,
    Timeframe.DAILY: 86400,
}

_TIMEFRAME_ALIASES = {
    **{t.value: t for t in Timeframe},
    "1M": Timeframe.MINUTE_1,
    "1MINUTE": Timeframe.MINUTE_1,
    "5M": Timeframe.MINUTE_5,
    "5MINUTE": Timeframe.MINUTE_5,
    "1H": Timeframe.HOUR_1,
    "1HOUR": Timeframe.HOUR_1,
    "60MIN": Timeframe.HOUR_1,
    "1D": Timeframe.DAILY,
    "1DAY": Timeframe.DAILY,
    "D": Timeframe.DAILY,
    "DAY": Timeframe.DAILY,
}


class AssetClass(StrEnum):
    EQUITY = "EQUITY"
    ETF = "ETF"
    FX = "FX"
    FUTURE = "FUTURE"
    OPTION = "OPTION"
    CRYPTO = "CRYPTO"  # trades around the clock, every day (docs/metrics.md)


class RunStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"


class StrategyStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


class TradeSide(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"


class ReportType(StrEnum):
    HTML = "HTML"
    CSV = "CSV"
    JSON = "JSON"
    TEXT = "TEXT"


class FillAt(StrEnum):
    """When a market order from a signal on bar t fills (docs/execution.md)."""

    NEXT_OPEN = "next-open"  # at the open of bar t+1: the price a trader could get
    CLOSE = "close"  # at the close of bar t itself: optimistic, chosen knowingly


class Allocation(StrEnum):
    """How a run on several instruments shares its capital (docs/execution.md)."""

    EQUAL = "equal"  # each venue's account holds capital / n per instrument traded there
    SHARED = "shared"  # one pool: every entry sizes against the whole portfolio's equity


class SizingMode(StrEnum):
    """How each entry is sized; each mode has its own size field in BacktestConfig."""

    RISK = "risk"  # % of equity lost if the stop (ATR distance) is hit
    PERCENT = "percent"  # % of equity put into the position
    FIXED = "fixed"  # a number of units
