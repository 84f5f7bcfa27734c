"""Orders nautilus refuses never vanish silently: the run says how many and why."""

from __future__ import annotations

import numpy as np
import pytest
from nautilus_trader.model.data import Bar
from nautilus_trader.model.enums import OrderSide

from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.core.strategy_registry import StrategyType
from ntrader.services.backtest_service import refused_orders_warning
from tests.integration.strategy_support import daily_bars, run


class ConfusedConfig(SignalStrategyConfig, frozen=True):
    order_at: int = 5


class Confused(SignalStrategy):
    """Sends a sell while flat, which a cash account rejects (no short selling), then a
    buy on the next bar."""

    config: ConfusedConfig

    def on_reset(self) -> None:
        super().on_reset()
        self._bar = -1

    def update_signal(self, bar: Bar) -> None:
        self._bar += 1
        if self._bar in (self.config.order_at, self.config.order_at + 1):
            assert self.instrument is not None
            first = self._bar == self.config.order_at
            order = self.order_factory.market(
                instrument_id=self.config.instrument_id,
                order_side=OrderSide.SELL if first else OrderSide.BUY,
                quantity=self.instrument.make_qty(10),
            )
            self.submit_order(order)


CONFUSED = StrategyType(
    name="confused",
    aliases=(),
    description="",
    strategy_class=f"{__name__}:Confused",
    config_class=f"{__name__}:ConfusedConfig",
)


def test_a_denied_order_is_reported_with_its_reason() -> None:
    engine = run(CONFUSED, {}, daily_bars(np.linspace(100.0, 110.0, 30)))
    (refused,) = engine.result.refused_orders
    assert refused.status == "REJECTED", refused
    assert refused.side == "SELL"
    assert refused.quantity == "10"
    assert refused.ts == int(engine.time_of(5).timestamp() * 1e9)
    assert refused.reason.startswith("SHORT SELLING not permitted on a CASH account")
    # The affordable order on the next bar went through: one trade.
    assert len(engine.result.trades) == 1
    warning = refused_orders_warning(engine.result.refused_orders)
    assert warning is not None
    assert warning.startswith("nautilus refused 1 order (1 rejected by the venue)")
    assert "SELL 10 TEST.NASDAQ on 2023-01-09 21:00 UTC" in warning
    assert refused.reason in warning


@pytest.mark.parametrize("strategy", ["sma_crossover", "mean_reversion", "momentum"])
def test_the_built_in_strategies_send_no_order_nautilus_refuses(strategy: str) -> None:
    rng = np.random.default_rng(7)
    closes = np.round(100 * np.exp(np.cumsum(rng.normal(0.0, 0.02, 300))), 2)
    engine = run(strategy, {}, daily_bars(closes))
    assert engine.result.trades
    assert engine.result.refused_orders == ()
    assert refused_orders_warning(()) is None
