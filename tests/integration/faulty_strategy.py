"""A plug-in strategy that fails on request, as source text (the run-failure tests, in-process
and through the CLI, load it as --strategy-path would)."""

from __future__ import annotations

# A plug-in strategy (loaded as --strategy-path would load it) that fails on request.
FAULTY_STRATEGY = '''
"""A strategy that fails where and how its parameters say."""

from __future__ import annotations

import sys

from nautilus_trader.model.data import Bar
from nautilus_trader.model.enums import OrderSide, TimeInForce

from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.core.strategy_registry import register_strategy


class FaultyConfig(SignalStrategyConfig, frozen=True):
    fail_in: str = "nowhere"
    how: str = "raise"
    at_bar: int = 5
    all_in: bool = False


@register_strategy(name="faulty", config=FaultyConfig)
class Faulty(SignalStrategy):
    """Buys on the second bar, then fails where it is told to."""

    def __init__(self, config: FaultyConfig) -> None:
        super().__init__(config)
        self._bars = 0
        self._fail_if("__init__")

    def _fail_if(self, handler: str) -> None:
        if self.config.fail_in != handler:
            return
        if self.config.how == "exit":
            sys.exit(3)  # FAIL-EXIT
        raise ValueError(f"faulty strategy gave up in {handler}")  # FAIL-RAISE

    def on_start(self) -> None:
        super().on_start()
        self._fail_if("on_start")

    def on_position_opened(self, event: object) -> None:
        self._fail_if("on_position_opened")

    def update_signal(self, bar: Bar) -> None:
        self._bars += 1
        if self._bars == 2:
            if self.config.all_in:
                # Every dollar of the cash account: the slipped fill takes it below zero.
                quantity = self.instrument.make_qty(int(self._equity() / bar.close.as_double()))
                self.submit_order(
                    self.order_factory.market(
                        instrument_id=self.instrument.id,
                        order_side=OrderSide.BUY,
                        quantity=quantity,
                        time_in_force=TimeInForce.GTC,
                    )
                )
            else:
                self.go_long(bar)
        if self._bars == self.config.at_bar:
            self._fail_if("on_bar")

    def _equity(self) -> float:
        account = self.portfolio.account(self.instrument.id.venue)
        return account.balance_total(account.base_currency).as_double()
'''


def raise_line(marker: str) -> int:
    """The 1-based line of the strategy module that carries ``marker``."""
    for number, line in enumerate(FAULTY_STRATEGY.splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(marker)
