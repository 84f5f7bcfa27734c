"""Columnar bar data: the shape bars take between a file, the store and the engine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRICE_COLUMNS = ("open", "high", "low", "close")


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


def decimals_needed(values: np.ndarray, max_decimals: int = 9) -> int:
    """Smallest number of decimals that represents every value exactly (within float noise)."""
    if values.size == 0:
        return 0
    for decimals in range(max_decimals + 1):
        scaled = values * (10.0**decimals)
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-6):
            return decimals
    return max_decimals
