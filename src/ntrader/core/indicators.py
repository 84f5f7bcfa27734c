"""Indicators that cost O(1) per bar (nautilus' SimpleMovingAverage is O(period))."""

from __future__ import annotations

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
