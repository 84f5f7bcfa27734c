"""Shared plumbing for ntrader's strategies: sizing, entries and exits."""

from __future__ import annotations

from dataclasses import dataclass

from nautilus_trader.config import StrategyConfig
from nautilus_trader.indicators import AverageTrueRange
from nautilus_trader.indicators.averages import MovingAverageType
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide, PositionSide, TimeInForce
from nautilus_trader.model.events import PositionEvent
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


@dataclass(frozen=True, slots=True)
class Bands:
    """Thresholds on an oscillator (a z-score, an RSI): where to enter and leave each side.

    Long below ``long_entry``, out of a long above ``long_exit``; short above
    ``short_entry``, out of a short below ``short_exit`` (when shorting is allowed).
    """

    long_entry: float
    long_exit: float
    short_entry: float
    short_exit: float


class SignalStrategy(Strategy):
    """A strategy that turns a per-bar signal into market orders on one instrument.

    Subclasses update their indicators in ``update_signal`` and call ``go_long``,
    ``go_short``, ``go_flat`` or ``follow_bands``; this class sizes and sends the orders.
    One that overrides ``on_position_event`` must call ``super()``: it keeps
    ``position_side`` current.
    """

    def __init__(self, config: SignalStrategyConfig) -> None:
        super().__init__(config)
        self._signal_config = config
        self._atr = AverageTrueRange(config.atr_period, MovingAverageType.WILDER)
        self.instrument: Instrument | None = None
        self._side = PositionSide.FLAT

    @property
    def allow_short(self) -> bool:
        return self._signal_config.allow_short

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

    def on_position_event(self, event: PositionEvent) -> None:
        # Positions change only through these events, so the side is worked out here once
        # rather than asked of the portfolio on every bar. The cache already holds the change.
        net = sum(
            position.signed_qty
            for position in self.cache.positions_open(
                instrument_id=self._signal_config.instrument_id, strategy_id=self.id
            )
        )
        self._side = (
            PositionSide.LONG if net > 0 else PositionSide.SHORT if net < 0 else PositionSide.FLAT
        )

    def position_side(self) -> PositionSide:
        """Where this strategy stands on its instrument (net of its open positions)."""
        return self._side

    def go_long(self, bar: Bar) -> None:
        """Long, reversing a short first; nothing when already long."""
        side = self._side
        if side is PositionSide.SHORT:
            self.go_flat()
        if side is not PositionSide.LONG:
            self._enter(OrderSide.BUY, bar)

    def go_short(self, bar: Bar) -> None:
        """Short when allowed, reversing a long first; either way, out of a long."""
        side = self._side
        if side is PositionSide.LONG:
            self.go_flat()
        if self._signal_config.allow_short and side is not PositionSide.SHORT:
            self._enter(OrderSide.SELL, bar)

    def go_flat(self) -> None:
        self.close_all_positions(self._signal_config.instrument_id)

    def follow_bands(self, bar: Bar, value: float, bands: Bands) -> None:
        """Act on ``value``: an entry signal wins (and reverses an opposite position);
        otherwise an exit signal closes the position it concerns."""
        side = self._side
        if value < bands.long_entry:
            self.go_long(bar)
        elif self._signal_config.allow_short and value > bands.short_entry:
            self.go_short(bar)
        elif (side is PositionSide.LONG and value > bands.long_exit) or (
            side is PositionSide.SHORT and value < bands.short_exit
        ):
            self.go_flat()

    def _enter(self, side: OrderSide, bar: Bar) -> None:
        assert self.instrument is not None
        venue = self._signal_config.instrument_id.venue
        account = self.portfolio.account(venue)
        currency = account.base_currency or self.instrument.quote_currency
        # Equity marks open positions to market, the same way for cash and margin accounts.
        equity = self.portfolio.equity(venue).get(currency)
        exposure = (self.portfolio.net_exposures(venue) or {}).get(currency)
        stop_distance = (
            self._atr.value * self._signal_config.atr_multiple if self._atr.initialized else None
        )
        quantity = risk_based_quantity(
            equity=equity.as_double() if equity is not None else 0.0,
            price=bar.close.as_double(),
            risk_fraction=self._signal_config.risk_pct / 100.0,
            stop_distance=stop_distance,
            gross_exposure=exposure.as_double() if exposure is not None else 0.0,
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
