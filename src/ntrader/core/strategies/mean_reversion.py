"""Mean reversion: buy a close far below its recent mean, sell once it has come back.

The signal is the z-score of the close against the mean and sample standard deviation of
the last ``lookback`` closes (the current one included).
"""

from __future__ import annotations

from nautilus_trader.model.data import Bar

from ntrader.core.indicators import RollingStats
from ntrader.core.strategies.base import Bands, SignalStrategy, SignalStrategyConfig


class MeanReversionConfig(SignalStrategyConfig, frozen=True):
    lookback: int = 20
    entry_zscore: float = -2.0
    exit_zscore: float = 0.0


class MeanReversion(SignalStrategy):
    def __init__(self, config: MeanReversionConfig) -> None:
        super().__init__(config)
        if config.entry_zscore >= config.exit_zscore:
            raise ValueError("entry_zscore must be less than exit_zscore")
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
