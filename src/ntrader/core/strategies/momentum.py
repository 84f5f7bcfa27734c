"""RSI momentum: buy when the RSI says oversold, sell when it says overbought.

The RSI is nautilus' ``RelativeStrengthIndex`` (O(1) per bar) with Wilder's smoothing, the
classic definition; nautilus reports it on a 0-1 scale, the parameters use 0-100.
"""

from __future__ import annotations

from nautilus_trader.indicators import RelativeStrengthIndex
from nautilus_trader.indicators.averages import MovingAverageType
from nautilus_trader.model.data import Bar

from ntrader.core.strategies.base import Bands, SignalStrategy, SignalStrategyConfig


class MomentumConfig(SignalStrategyConfig, frozen=True):
    rsi_period: int = 14
    entry_rsi_low: float = 30.0
    exit_rsi_high: float = 70.0


class Momentum(SignalStrategy):
    def __init__(self, config: MomentumConfig) -> None:
        super().__init__(config)
        if config.entry_rsi_low >= config.exit_rsi_high:
            raise ValueError("entry_rsi_low must be less than exit_rsi_high")
        self._rsi = RelativeStrengthIndex(config.rsi_period, MovingAverageType.WILDER)
        # The short side mirrors the long one around 50.
        self._bands = Bands(
            long_entry=config.entry_rsi_low,
            long_exit=config.exit_rsi_high,
            short_entry=100.0 - config.entry_rsi_low,
            short_exit=100.0 - config.exit_rsi_high,
        )

    def update_signal(self, bar: Bar) -> None:
        rsi = self._rsi
        rsi.handle_bar(bar)
        if rsi.initialized:
            self.follow_bands(bar, rsi.value * 100.0, self._bands)
