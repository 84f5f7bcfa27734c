"""SMA crossover: long when the fast average crosses above the slow one, out when below.

With ``trend_filter_period`` it enters only with the daily trend: longs while the last
closed daily bar is above the SMA of that many daily closes, shorts while below. Exits
are never filtered: a crossing against the trend still closes the position it opposes.
"""

from __future__ import annotations

from nautilus_trader.model.data import Bar
from nautilus_trader.model.enums import PositionSide

from ntrader.core.indicators import RollingMean
from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig


class SmaCrossoverConfig(SignalStrategyConfig, frozen=True):
    fast_period: int = 12
    slow_period: int = 26
    entry_threshold: float = 0.0  # fast must exceed slow by this fraction to enter
    trend_filter_period: int | None = None


class SmaCrossover(SignalStrategy):
    def __init__(self, config: SmaCrossoverConfig) -> None:
        super().__init__(config)
        if config.fast_period >= config.slow_period:
            raise ValueError("fast_period must be less than slow_period")
        self._fast = RollingMean(config.fast_period)
        self._slow = RollingMean(config.slow_period)
        self._threshold = config.entry_threshold
        self._was_above: bool | None = None
        period = config.trend_filter_period
        self._trend = RollingMean(period) if period is not None else None
        # +1 longs allowed, -1 shorts allowed, 0 neither (no trend known yet, or flat).
        self._trend_sign = 0

    def on_higher_bar(self, bar: Bar) -> None:
        if self._trend is None:
            return
        close = bar.close.as_double()
        self._trend.update(close)
        if self._trend.initialized:
            mean = self._trend.value
            self._trend_sign = 1 if close > mean else -1 if close < mean else 0

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
            if self._trend is None or self._trend_sign > 0:
                self.go_long(bar)
            elif self.position_side() is PositionSide.SHORT:
                self.go_flat()
        elif below and self._was_above is True:
            if self._trend is None or self._trend_sign < 0:
                self.go_short(bar)
            elif self.position_side() is PositionSide.LONG:
                self.go_flat()
        if above or below:
            self._was_above = above
