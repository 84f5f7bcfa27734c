"""Mean reversion: buy a close far below its recent mean, sell once it has come back.

The signal is the z-score of the close against the mean and sample standard deviation of
the last ``lookback`` closes (the current one included).
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta
from nautilus_trader.model.data import Bar

from ntrader.core.indicators import RollingStats
from ntrader.core.strategies.base import Bands, SignalStrategy, SignalStrategyConfig


class MeanReversionConfig(SignalStrategyConfig, frozen=True):
    lookback: Annotated[
        int, Meta(ge=2, le=10_000, description="Closes in the rolling mean and deviation.")
    ] = 20
    entry_zscore: Annotated[
        float,
        Meta(ge=-10.0, le=10.0, description="Long below this z-score; below exit_zscore."),
    ] = -2.0
    exit_zscore: Annotated[
        float, Meta(ge=-10.0, le=10.0, description="Out of a long above this z-score.")
    ] = 0.0

    def __post_init__(self) -> None:
        if self.entry_zscore >= self.exit_zscore:
            raise ValueError(
                f"entry_zscore ({self.entry_zscore:g}) must be less than "
                f"exit_zscore ({self.exit_zscore:g})"
            )
        if self.allow_short and self.entry_zscore >= 0:
            raise ValueError(
                f"with allow_short, entry_zscore ({self.entry_zscore:g}) must be negative, "
                "so the short entry (its mirror above zero) lies above the long entry"
            )


class MeanReversion(SignalStrategy):
    config: MeanReversionConfig
    market_orders_only = True

    def on_reset(self) -> None:
        super().on_reset()
        config = self.config
        self._stats = RollingStats(config.lookback)
        # The short side mirrors the long one around zero.
        self._bands = Bands(
            long_entry=config.entry_zscore,
            long_exit=config.exit_zscore,
            short_entry=-config.entry_zscore,
            short_exit=-config.exit_zscore,
        )

    def update_signal(self, bar: Bar) -> None:
        close = bar.close.as_double()
        stats = self._stats
        stats.update(close)
        if not stats.initialized:
            return
        std = stats.std
        if std == 0.0:
            return  # every close the same: no z-score, no signal
        self.follow_bands(bar, (close - stats.mean) / std, self._bands)

    def signal_snapshot(self) -> dict[str, float]:
        return {"mean": self._stats.mean, "std": self._stats.std}
