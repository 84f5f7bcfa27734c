"""SMA crossover: long when the fast average crosses above the slow one, out when below."""

from __future__ import annotations

from nautilus_trader.model.data import Bar

from ntrader.core.indicators import RollingMean
from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig


class SmaCrossoverConfig(SignalStrategyConfig, frozen=True):
    fast_period: int = 12
    slow_period: int = 26
    entry_threshold: float = 0.0  # fast must exceed slow by this fraction to enter


class SmaCrossover(SignalStrategy):
    def __init__(self, config: SmaCrossoverConfig) -> None:
        super().__init__(config)
        if config.fast_period >= config.slow_period:
            raise ValueError("fast_period must be less than slow_period")
        self._fast = RollingMean(config.fast_period)
        self._slow = RollingMean(config.slow_period)
        self._threshold = config.entry_threshold
        self._was_above: bool | None = None

    def update_signal(self, bar: Bar) -> None:
        close = bar.close.as_double()
        self._fast.update(close)
        self._slow.update(close)
        if not self._slow.initialized:
            return
        fast, slow = self._fast.value, self._slow.value
        above = fast > slow * (1.0 + self._threshold)
        below = fast < slow * (1.0 - self._threshold)
        if above and self._was_above is False:
            self.go_long(bar)
        elif below and self._was_above is True:
            self.go_short(bar)
        if above or below:
            self._was_above = above
