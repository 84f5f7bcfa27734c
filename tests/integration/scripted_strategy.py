"""A strategy whose every decision is scripted, and the quiet bars it trades on: every fill
price of a run is known in advance (the execution and allocation tests share them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from nautilus_trader.model.data import Bar

from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.core.strategy_registry import StrategyType
from ntrader.models.bars import BarArrays

SIGNAL_BAR = 20  # the scripted strategy goes long on this bar's close
RANGE = 2.0  # every quiet bar spans 2.00, so the ATR is exactly 2.00 when the signal comes


class ScriptedConfig(SignalStrategyConfig, frozen=True):
    long_at: int = SIGNAL_BAR
    flat_at: int = -1


class Scripted(SignalStrategy):
    """Long on bar ``long_at``, flat on bar ``flat_at``: decisions known in advance."""

    config: ScriptedConfig

    def on_reset(self) -> None:
        super().on_reset()
        self._bar = -1

    def update_signal(self, bar: Bar) -> None:
        self._bar += 1
        if self._bar == self.config.long_at:
            self.go_long(bar)
        elif self._bar == self.config.flat_at:
            self.go_flat()


SCRIPTED = StrategyType(
    name="scripted",
    aliases=(),
    description="",
    strategy_class=f"{__name__}:Scripted",
    config_class=f"{__name__}:ScriptedConfig",
)


def quiet_bars(count: int, price: float = 100.0) -> pd.DataFrame:
    """Flat bars at ``price``, each spanning RANGE, opening where the last one closed."""
    return pd.DataFrame(
        {
            "open": np.full(count, price),
            "high": np.full(count, price + RANGE / 2),
            "low": np.full(count, price - RANGE / 2),
            "close": np.full(count, price),
        }
    )


def to_arrays(frame: pd.DataFrame) -> BarArrays:
    days = pd.bdate_range("2023-01-02", periods=len(frame), tz="UTC").as_unit("ns")
    return BarArrays(
        ts=days.asi8.astype(np.int64),
        open=frame["open"].to_numpy(float, copy=True),
        high=frame["high"].to_numpy(float, copy=True),
        low=frame["low"].to_numpy(float, copy=True),
        close=frame["close"].to_numpy(float, copy=True),
        volume=np.full(len(frame), 1e6),
        price_precision=2,
    )
