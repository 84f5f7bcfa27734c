"""Indicators that cost O(1) per bar (nautilus' SimpleMovingAverage is O(period)).

All of them are pure Python with no nautilus import, so they are cheap to test and to reuse
in custom strategies.
"""

from __future__ import annotations

import math
from collections import deque


class RollingMean:
    """Simple moving average over the last ``period`` values, kept as a running sum."""

    __slots__ = ("_sum", "_updates", "_window", "period")

    # The running sum drifts by float rounding; re-summing now and then bounds the error.
    _RESUM_EVERY = 10_000

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError("period must be at least 1")
        self.period = period
        self._window: deque[float] = deque(maxlen=period)
        self._sum = 0.0
        self._updates = 0

    def update(self, value: float) -> None:
        if len(self._window) == self.period:
            self._sum -= self._window[0]
        self._window.append(value)
        self._sum += value
        self._updates += 1
        if self._updates % self._RESUM_EVERY == 0:
            self._sum = sum(self._window)

    @property
    def initialized(self) -> bool:
        return len(self._window) == self.period

    @property
    def value(self) -> float:
        return self._sum / len(self._window) if self._window else 0.0


class RollingStats:
    """Mean and sample standard deviation (ddof=1, as pandas' ``rolling().std()``) of the
    last ``period`` values.

    Kept with Welford's sliding-window update: the mean and the sum of squared deviations
    ``m2`` move by the difference between the value that enters and the one that leaves.
    Unlike a running sum of squares this does not cancel catastrophically when the values
    are large and their spread small (prices of 4,000 moving by cents). Rounding errors
    still accumulate in ``m2``, and they matter when a later window is nearly flat, so both
    are recomputed exactly from the window once every ``period`` updates: O(period) work
    every ``period`` bars, still O(1) per bar on average.
    """

    __slots__ = ("_m2", "_mean", "_updates", "_window", "period")

    def __init__(self, period: int) -> None:
        if period < 2:
            raise ValueError("period must be at least 2 (a standard deviation needs two values)")
        self.period = period
        self._window: deque[float] = deque(maxlen=period)
        self._mean = 0.0
        self._m2 = 0.0
        self._updates = 0

    def update(self, value: float) -> None:
        window = self._window
        if len(window) < self.period:
            # Growing: the classic Welford step.
            window.append(value)
            delta = value - self._mean
            self._mean += delta / len(window)
            self._m2 += delta * (value - self._mean)
        else:
            leaving = window[0]
            window.append(value)
            old_mean = self._mean
            self._mean = old_mean + (value - leaving) / self.period
            self._m2 += (value - leaving) * (value - self._mean + leaving - old_mean)
        self._updates += 1
        if self._updates % self.period == 0:
            self._recompute()

    def _recompute(self) -> None:
        mean = math.fsum(self._window) / len(self._window)
        self._mean = mean
        self._m2 = math.fsum((v - mean) ** 2 for v in self._window)

    @property
    def initialized(self) -> bool:
        return len(self._window) == self.period

    @property
    def mean(self) -> float:
        return self._mean

    @property
    def std(self) -> float:
        count = len(self._window)
        if count < 2:
            return 0.0
        # Rounding can leave m2 a hair below zero when every value is the same.
        return math.sqrt(max(self._m2, 0.0) / (count - 1))


class RollingExtremes:
    """Highest high and lowest low of the last ``period`` bars (a Donchian channel).

    Monotonic queues make each update amortised O(1): a value that can never again be the
    extreme (an older, lower high) is dropped as soon as a better one arrives.
    """

    __slots__ = ("_count", "_highs", "_lows", "period")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError("period must be at least 1")
        self.period = period
        self._count = 0
        # (bar number, value), values decreasing for highs and increasing for lows.
        self._highs: deque[tuple[int, float]] = deque()
        self._lows: deque[tuple[int, float]] = deque()

    def update(self, high: float, low: float) -> None:
        count = self._count
        highs, lows = self._highs, self._lows
        while highs and highs[-1][1] <= high:
            highs.pop()
        highs.append((count, high))
        while lows and lows[-1][1] >= low:
            lows.pop()
        lows.append((count, low))
        oldest = count - self.period + 1
        if highs[0][0] < oldest:
            highs.popleft()
        if lows[0][0] < oldest:
            lows.popleft()
        self._count = count + 1

    @property
    def initialized(self) -> bool:
        return self._count >= self.period

    @property
    def highest(self) -> float:
        return self._highs[0][1] if self._highs else math.nan

    @property
    def lowest(self) -> float:
        return self._lows[0][1] if self._lows else math.nan
