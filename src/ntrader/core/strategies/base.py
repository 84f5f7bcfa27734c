"""Shared plumbing for ntrader's strategies: sizing, entries and exits."""

from __future__ import annotations

from nautilus_trader.config import StrategyConfig
from nautilus_trader.indicators import AverageTrueRange
from nautilus_trader.indicators.averages import MovingAverageType
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide, PositionSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.trading.strategy import Strategy

from ntrader.core.sizing import risk_based_quantity


class SignalStrategyConfig(StrategyConfig, frozen=True):
    """What every ntrader strategy needs besides its own signal parameters."""

    instrument_id: InstrumentId
    bar_type: BarType
    risk_pct: float = 1.0  # % of equity at risk per trade (stop distance from ATR)
    atr_period: int = 14
    atr_multiple: float = 2.0
    allow_short: bool = False


class SignalStrategy(Strategy):
    """A strategy that turns a per-bar signal into market orders on one instrument.

    Subclasses update their indicators in ``update_signal`` and call ``go_long``,
    ``go_short`` or ``go_flat``; this class sizes and sends the orders.
    """

    def __init__(self, config: SignalStrategyConfig) -> None:
        super().__init__(config)
        self._signal_config = config
        self._atr = AverageTrueRange(config.atr_period, MovingAverageType.WILDER)
        self.instrument: Instrument | None = None

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self._signal_config.instrument_id)
        if self.instrument is None:
            self.log.error(f"instrument {self._signal_config.instrument_id} not in the cache")
            self.stop()
            return
        self.subscribe_bars(self._signal_config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        self._atr.handle_bar(bar)
        self.update_signal(bar)

    def update_signal(self, bar: Bar) -> None:
        raise NotImplementedError

    def on_stop(self) -> None:
        self.cancel_all_orders(self._signal_config.instrument_id)

    def _position_side(self) -> PositionSide:
        instrument_id = self._signal_config.instrument_id
        if self.portfolio.is_net_long(instrument_id):
            return PositionSide.LONG
        if self.portfolio.is_net_short(instrument_id):
            return PositionSide.SHORT
        return PositionSide.FLAT

    def go_long(self, bar: Bar) -> None:
        side = self._position_side()
        if side is PositionSide.SHORT:
            self.go_flat()
        if side is not PositionSide.LONG:
            self._enter(OrderSide.BUY, bar)

    def go_short(self, bar: Bar) -> None:
        side = self._position_side()
        if side is PositionSide.LONG:
            self.go_flat()
        if self._signal_config.allow_short and side is not PositionSide.SHORT:
            self._enter(OrderSide.SELL, bar)

    def go_flat(self) -> None:
        self.close_all_positions(self._signal_config.instrument_id)

    def _enter(self, side: OrderSide, bar: Bar) -> None:
        assert self.instrument is not None
        account = self.portfolio.account(self._signal_config.instrument_id.venue)
        equity = account.balance_total(self.instrument.quote_currency).as_double()
        stop_distance = (
            self._atr.value * self._signal_config.atr_multiple if self._atr.initialized else None
        )
        quantity = risk_based_quantity(
            equity=equity,
            price=bar.close.as_double(),
            risk_fraction=self._signal_config.risk_pct / 100.0,
            stop_distance=stop_distance,
        )
        if quantity < 1:
            return
        order = self.order_factory.market(
            instrument_id=self._signal_config.instrument_id,
            order_side=side,
            quantity=self.instrument.make_qty(quantity),
            time_in_force=TimeInForce.GTC,
        )
        self.submit_order(order)
