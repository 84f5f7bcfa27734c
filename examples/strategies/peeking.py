"""A deliberately cheating strategy: a BAD example, kept to show what the look-ahead check
catches. Never write a strategy like this.

It buys when the *next* bar closes higher and gets out when it closes lower: perfect
foresight, and a backtest that looks wonderful. nautilus hands a strategy one bar at a time,
so it cannot see the next bar through its API; but a plug-in runs inside ntrader's process,
and this one reaches past the API: at start it walks up the Python call stack to the
runner's frame and takes the bar arrays the run was loaded with, all of them, future
included. Any plug-in that reads bars from somewhere other than ``on_bar`` (the call stack,
a global cache, the files or store the run was loaded from) can cheat the same way, often
by accident, say through a centred moving average or a forward-filled join.

``ntrader backtest lookahead --strategy-path examples/strategies/peeking.py --strategy
peeking ...`` flags it: the last bar before each cut sees a next close in the full run and
none in the run cut short there. docs/lookahead.md explains the check.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from nautilus_trader.model.data import Bar

from ntrader.core.nautilus_bars import close_times_ns
from ntrader.core.runner import InstrumentBars
from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.core.strategy_registry import register_strategy


class PeekingConfig(SignalStrategyConfig, frozen=True):
    """No parameters of its own."""


@register_strategy(name="peeking", config=PeekingConfig)
class Peeking(SignalStrategy):
    """Long when the next bar closes higher, flat when it closes lower (it cheats)."""

    config: PeekingConfig

    def on_reset(self) -> None:
        super().on_reset()
        self._close_times = np.empty(0, dtype=np.int64)
        self._closes = np.empty(0)
        self._next_close = math.nan

    def on_start(self) -> None:
        super().on_start()
        bars = self._all_bars_of_the_run()
        self._close_times = close_times_ns(bars.spec, bars.timeframe, bars.bars.ts)
        self._closes = bars.bars.close

    def _all_bars_of_the_run(self) -> InstrumentBars:
        """The cheat: the runner's own bar arrays, found on the call stack."""
        wanted = self.config.instrument_id.value
        frame = sys._getframe(1)
        while frame is not None:
            for value in frame.f_locals.values():
                if isinstance(value, list | tuple):
                    for item in value:
                        if isinstance(item, InstrumentBars) and item.spec.instrument_id == wanted:
                            return item
            frame = frame.f_back
        raise RuntimeError(f"the bars of {wanted} are not on the call stack")

    def update_signal(self, bar: Bar) -> None:
        index = int(np.searchsorted(self._close_times, bar.ts_event)) + 1
        self._next_close = float(self._closes[index]) if index < self._closes.size else math.nan
        close = bar.close.as_double()
        if self._next_close > close:
            self.go_long(bar)
        elif self._next_close < close:
            self.go_flat()

    def signal_snapshot(self) -> dict[str, float]:
        return {"next_close": self._next_close}
