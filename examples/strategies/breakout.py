"""Donchian channel breakout: an example of a custom ntrader strategy.

Long when the close breaks above the highest high of the previous ``entry_period`` bars; out
when it breaks below the lowest low of the previous ``exit_period`` bars (the classic
"turtle" rule). With ``allow_short`` the mirror image trades the downside.

Use it with ``NTRADER_STRATEGY_PATH=examples/strategies`` (or ``--strategy-path``), then
``ntrader backtest run --strategy donchian_breakout ...``. See docs/strategies.md.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta
from nautilus_trader.model.data import Bar
from nautilus_trader.model.enums import PositionSide

from ntrader.core.indicators import RollingExtremes
from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.core.strategy_registry import register_strategy


class BreakoutConfig(SignalStrategyConfig, frozen=True):
    """The parameters users may set (with allow_short), and what the strategy receives."""

    entry_period: Annotated[
        int, Meta(ge=2, le=10_000, description="Bars whose highest high a close must break.")
    ] = 20
    exit_period: Annotated[
        int,
        Meta(ge=1, le=10_000, description="Bars whose lowest low ends a long; ≤ entry_period."),
    ] = 10

    def __post_init__(self) -> None:
        if self.exit_period > self.entry_period:
            raise ValueError(
                f"exit_period ({self.exit_period}) must not exceed "
                f"entry_period ({self.entry_period})"
            )


@register_strategy(
    name="donchian_breakout",
    aliases=("breakout", "donchian"),
    config=BreakoutConfig,
)
class DonchianBreakout(SignalStrategy):
    """Long on a close above the N-bar high; out on a close below the M-bar low."""

    config: BreakoutConfig

    def on_reset(self) -> None:  # runs on creation and when an engine is reset
        super().on_reset()
        self._entry_channel = RollingExtremes(self.config.entry_period)
        self._exit_channel = RollingExtremes(self.config.exit_period)

    def update_signal(self, bar: Bar) -> None:
        close = bar.close.as_double()
        entry, exit_ = self._entry_channel, self._exit_channel
        # Compare with the channels of the bars before this one, then add this bar.
        if entry.initialized:
            if close > entry.highest:
                self.go_long(bar)
            elif close < entry.lowest and self.allow_short:
                self.go_short(bar)
            elif close < exit_.lowest or close > exit_.highest:
                side = self.position_side()
                if (side is PositionSide.LONG and close < exit_.lowest) or (
                    side is PositionSide.SHORT and close > exit_.highest
                ):
                    self.go_flat()
        entry.update(bar.high.as_double(), bar.low.as_double())
        exit_.update(bar.high.as_double(), bar.low.as_double())
