"""SMA crossover: long when the fast average crosses above the slow one, out when below.

With ``trend_filter_period`` it enters only with the daily trend: longs while the last
closed daily bar is above the SMA of that many daily closes, shorts while below. Exits
are never filtered: a crossing against the trend still closes the position it opposes.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta
from nautilus_trader.model.data import Bar
from nautilus_trader.model.enums import PositionSide

from ntrader.core.indicators import RollingMean
from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.models.enums import Timeframe


class SmaCrossoverConfig(SignalStrategyConfig, frozen=True):
    fast_period: Annotated[
        int, Meta(ge=1, le=10_000, description="Bars in the fast SMA; less than slow_period.")
    ] = 12
    slow_period: Annotated[int, Meta(ge=2, le=10_000, description="Bars in the slow SMA.")] = 26
    entry_threshold: Annotated[
        float,
        Meta(ge=0.0, lt=1.0, description="Fraction by which fast must exceed slow to enter."),
    ] = 0.0
    trend_filter_period: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=10_000,
                description="Enter only with the daily trend: the SMA of this many daily "
                "closes (intraday runs only); unset: no filter.",
            ),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:
        if self.fast_period >= self.slow_period:
            raise ValueError(
                f"fast_period ({self.fast_period}) must be less than "
                f"slow_period ({self.slow_period})"
            )

    def higher_timeframe(self) -> Timeframe | None:
        return Timeframe.DAILY if self.trend_filter_period is not None else None


class SmaCrossover(SignalStrategy):
    config: SmaCrossoverConfig
    market_orders_only = True

    def on_reset(self) -> None:
        super().on_reset()
        config = self.config
        self._fast = RollingMean(config.fast_period)
        self._slow = RollingMean(config.slow_period)
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
        threshold = self.config.entry_threshold
        above = fast > slow * (1.0 + threshold)
        below = fast < slow * (1.0 - threshold)
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

    def signal_snapshot(self) -> dict[str, float]:
        return {"fast_sma": self._fast.value, "slow_sma": self._slow.value}
