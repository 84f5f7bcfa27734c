"""Intraday pullbacks in a daily uptrend: an example of a multi-timeframe ntrader strategy.

Run on intraday bars (1-minute, say), it buys a dip below the SMA of the last
``pullback_period`` closes while the daily trend is up: the last closed daily bar above the
SMA of the last ``trend_period`` daily closes. It sells when the close is back above the
intraday SMA, or the daily trend has turned. The daily bars come from the store when it
holds them for every day of the run, otherwise aggregated from the run's own bars; either
way a day's bar arrives only after that session has closed (docs/strategies.md).

Use it with ``--strategy-path examples/strategies/daily_trend_pullback.py``, then
``ntrader backtest run --strategy daily_trend_pullback --timeframe 1MIN ...``.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta
from nautilus_trader.model.data import Bar
from nautilus_trader.model.enums import PositionSide

from ntrader.core.indicators import RollingMean
from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.core.strategy_registry import register_strategy
from ntrader.models.enums import Timeframe


class PullbackConfig(SignalStrategyConfig, frozen=True):
    pullback_period: Annotated[
        int, Meta(ge=2, le=10_000, description="Intraday closes in the SMA a dip falls below.")
    ] = 20
    trend_period: Annotated[
        int, Meta(ge=1, le=10_000, description="Daily closes in the SMA of the trend.")
    ] = 10

    def higher_timeframe(self) -> Timeframe | None:
        return Timeframe.DAILY  # its bars go to on_higher_bar


@register_strategy(name="daily_trend_pullback", aliases=("pullback",), config=PullbackConfig)
class DailyTrendPullback(SignalStrategy):
    """Long on an intraday dip below its SMA while the daily close is above its own SMA."""

    config: PullbackConfig

    def on_reset(self) -> None:  # runs on creation and when an engine is reset
        super().on_reset()
        self._intraday = RollingMean(self.config.pullback_period)
        self._daily = RollingMean(self.config.trend_period)
        self._uptrend = False

    def on_higher_bar(self, bar: Bar) -> None:  # a daily bar, once its session has closed
        close = bar.close.as_double()
        self._daily.update(close)
        self._uptrend = self._daily.initialized and close > self._daily.value

    def update_signal(self, bar: Bar) -> None:  # every intraday bar, at its close
        close = bar.close.as_double()
        self._intraday.update(close)
        if not self._intraday.initialized:
            return
        long = self.position_side() is PositionSide.LONG
        if long and (close > self._intraday.value or not self._uptrend):
            self.go_flat()
        elif not long and self._uptrend and close < self._intraday.value:
            self.go_long(bar)
