"""Columnar bar data: the shape bars take between a file, the store and the engine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ntrader.models.enums import Timeframe

PRICE_COLUMNS = ("open", "high", "low", "close")
# A bar's float columns, and with its time every column a store or a file holds.
VALUE_COLUMNS = (*PRICE_COLUMNS, "volume")
BAR_COLUMNS = ("ts", *VALUE_COLUMNS)

# nautilus' limits (nautilus_trader.model.objects in its 128-bit build: FIXED_PRECISION,
# PRICE_MAX, QUANTITY_MAX). Copied rather than imported: importing nautilus costs ~0.7 s, which
# commands that only read or write bars should not pay; a unit test checks they still match.
MAX_DECIMALS = 16
PRICE_MAX = 17_014_118_346_046.0
QUANTITY_MAX = 34_028_236_692_093.0
# Bars are stored as float64, which keeps every decimal of up to 15 significant digits exactly
# (DBL_DIG); a 16th digit may already be rounded away.
MAX_SIGNIFICANT_DIGITS = 15
_SIGNIFICANT_LIMIT = 10.0**MAX_SIGNIFICANT_DIGITS


@dataclass(frozen=True, slots=True)
class BarArrays:
    """OHLCV bars as parallel numpy arrays.

    ``ts`` is the bar's open time in UTC nanoseconds since the epoch (int64), strictly
    increasing. Prices and volume are float64; ``price_precision`` is the number of
    decimals the prices need (the largest seen), so they round back exactly.
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    price_precision: int

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @property
    def is_empty(self) -> bool:
        return len(self) == 0

    def slice(self, start: int, stop: int) -> BarArrays:
        return BarArrays(
            ts=self.ts[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
            price_precision=self.price_precision,
        )


def unsound_bars(bars: BarArrays) -> np.ndarray:
    """Mask of the bars no import lets in: a price not above zero or above nautilus'
    ``PRICE_MAX``, a high and low that do not bracket the open and close, a volume below zero
    or above ``QUANTITY_MAX``, or any value that is not a finite number (NaN fails every
    comparison, and an infinity fails a bound)."""
    with np.errstate(invalid="ignore"):
        sound = (
            (bars.low > 0)
            & (bars.high <= PRICE_MAX)
            & (bars.high >= np.maximum(bars.open, bars.close))
            & (bars.low <= np.minimum(bars.open, bars.close))
            & (bars.volume >= 0)
            & (bars.volume <= QUANTITY_MAX)
        )
    return ~sound


def broken_rule(bars: BarArrays) -> str | None:
    """How ``bars`` read back from a store or a cache differ from what ntrader writes (times
    strictly increasing, every bar sound), or None when they do not."""
    ts = bars.ts
    if len(ts) > 1 and not (ts[1:] > ts[:-1]).all():
        return "bar times are not strictly increasing"
    unsound = np.flatnonzero(unsound_bars(bars))
    if unsound.size == 0:
        return None
    first = np.datetime_as_string(np.datetime64(int(ts[unsound[0]]), "ns"), unit="s")
    return (
        f"{unsound.size} of {len(ts)} bars are not sound (a price not above zero, high and "
        f"low not bracketing open and close, a negative volume, or a value that is not a "
        f"number), the first at {first}Z"
    )


def exact_at(values: np.ndarray, decimals: int) -> np.ndarray:
    """Mask of the values that ``decimals`` decimals write exactly, in at most 15 digits.

    A float64 parsed from a decimal text is that text's nearest double. It is written exactly
    with ``k`` decimals when ``n = round(x * 10**k)`` has at most ``MAX_SIGNIFICANT_DIGITS``
    digits and ``n / 10**k`` (one correctly rounded division of exact operands) is ``x`` again:
    then ``x`` is the nearest double to the decimal ``n / 10**k``, and formatting it with ``k``
    decimals, or nautilus scaling it by ``10**k``, gives that decimal back. Below 10**15 the
    product ``x * 10**k`` is off by far less than 0.5, so ``n`` is found exactly; and a value
    exact at ``k`` stays exact at every larger ``k`` while its ``n`` stays below 10**15.
    """
    scale = 10.0**decimals  # exact in float64 up to 10**22
    with np.errstate(invalid="ignore"):
        scaled = np.round(values * scale)
        return (np.abs(scaled) < _SIGNIFICANT_LIMIT) & (scaled / scale == values)


def decimals_of(values: np.ndarray) -> np.ndarray:
    """Per value, the fewest decimals that write it exactly (``exact_at``), or -1 if none do."""
    result = np.full(values.shape, -1, dtype=np.int8)
    pending = np.flatnonzero(np.isfinite(values))
    remaining = values[pending]
    for decimals in range(MAX_DECIMALS + 1):
        exact = exact_at(remaining, decimals)
        result[pending[exact]] = decimals
        pending, remaining = pending[~exact], remaining[~exact]
        if pending.size == 0:
            break
    return result


@dataclass(frozen=True, slots=True)
class BarCoverage:
    """What the store holds of one instrument at one timeframe (nanosecond bounds)."""

    instrument_id: str
    timeframe: Timeframe
    rows: int
    first_ts: int
    last_ts: int


@dataclass(frozen=True, slots=True)
class Exactness:
    """How a group of columns sharing one precision (the prices of a bar) can be written.

    ``decimals`` is the fewest decimals that write every exactly writable value; per column,
    ``inexact`` lists the values no count of decimals writes exactly and ``too_long`` those
    that are exact on their own but need more than 15 digits at ``decimals``.
    """

    decimals: int
    inexact: list[np.ndarray]
    too_long: list[np.ndarray]


def exactness(columns: list[np.ndarray]) -> Exactness:
    """Check finite columns in about one pass: most values need the decimals a sample needs."""
    sample = np.concatenate([column[:: max(1, column.size // 1024)] for column in columns])
    guess = max(int(decimals_of(sample).max(initial=0)), 0)
    misses = [np.flatnonzero(~exact_at(column, guess)) for column in columns]
    needs = [decimals_of(column[miss]) for column, miss in zip(columns, misses, strict=True)]
    decimals = max([guess, *(int(need.max(initial=0)) for need in needs)])
    inexact = [miss[need < 0] for miss, need in zip(misses, needs, strict=True)]
    if decimals != guess:
        misses = [np.flatnonzero(~exact_at(column, decimals)) for column in columns]
    too_long = [np.setdiff1d(miss, bad) for miss, bad in zip(misses, inexact, strict=True)]
    return Exactness(decimals, inexact, too_long)


def decimal_texts(columns: list[np.ndarray], min_decimals: int = 0) -> list[list[str]]:
    """The columns as decimal texts that read back to the very same floats.

    All columns get one number of decimals (at least ``min_decimals``): the fewest that write
    every value exactly. A value that no number of decimals writes exactly (float noise from
    another source) is written with all its digits instead of being rounded silently, so that
    reading it back refuses it, naming its line.
    """
    decimals = max(exactness(columns).decimals, min_decimals)
    result = []
    for column in columns:
        texts = [f"{value:.{decimals}f}" for value in column.tolist()]
        for i in np.flatnonzero(~exact_at(column, decimals)):
            texts[i] = np.format_float_positional(column[i], unique=True, trim="-")
        result.append(texts)
    return result
