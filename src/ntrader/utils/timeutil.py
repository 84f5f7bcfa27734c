"""Time conversions used across the store (nanoseconds since the epoch, UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime

NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND


def date_to_ns(day: date) -> int:
    """Midnight UTC at the start of ``day``."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * NS_PER_SECOND


def ns_to_datetime(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns / NS_PER_SECOND, tz=UTC)
