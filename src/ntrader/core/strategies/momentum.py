"""RSI momentum: buy when the RSI says oversold, sell when it says overbought.

The RSI is nautilus' ``RelativeStrengthIndex`` (O(1) per bar) with Wilder's smoothing, the
classic definition; nautilus reports it on a 0-1 scale, the parameters use 0-100.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta
from nautilus_trader.indicators import RelativeStrengthIndex
from nautilus_trader.indicators.averages import MovingAverageType
from nautilus_trader.model.data import Bar

from ntrader.core.strategies.base import Bands, SignalStrategy, SignalStrategyConfig


class MomentumConfig(SignalStrategyConfig, frozen=True):
    rsi_period: Annotated[int, Meta(ge=2, le=10_000, description="Bars in the RSI.")] = 14
    entry_rsi_low: Annotated[
        float, Meta(gt=0.0, lt=100.0, description="Long below this RSI; below exit_rsi_high.")
    ] = 30.0
    exit_rsi_high: Annotated[
        float, Meta(gt=0.0, lt=100.0, description="Out of a long above this RSI.")
    ] = 70.0

    def __post_init__(self) -> None:
        if self.entry_rsi_low >= self.exit_rsi_high:
            raise ValueError(
                f"entry_rsi_low ({self.entry_rsi_low:g}) must be less than "
                f"exit_rsi_high ({self.exit_rsi_high:g})"
            )
        if self.allow_short and self.entry_rsi_low >= 50:
            raise ValueError(
                f"with allow_short, entry_rsi_low ({self.entry_rsi_low:g}) must be below 50, "
                "so the short entry (100 - entry_rsi_low) lies above the long entry"
            )


class Momentum(SignalStrategy):
    config: MomentumConfig
    market_orders_only = True

    def on_reset(self) -> None:
        super().on_reset()
        config = self.config
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

    def signal_snapshot(self) -> dict[str, float]:
        return {"rsi": self._rsi.value * 100.0}
