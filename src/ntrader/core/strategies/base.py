"""Shared plumbing for ntrader's strategies: timing, sizing, entries, stops and exits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Annotated, Any, ClassVar

import numpy as np
from msgspec import Meta
from nautilus_trader.common.events import TimeEvent
from nautilus_trader.config import StrategyConfig
from nautilus_trader.indicators import AverageTrueRange
from nautilus_trader.indicators.averages import MovingAverageType
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import (
    AccountType,
    OrderSide,
    OrderType,
    PositionSide,
    PriceType,
    TimeInForce,
)
from nautilus_trader.model.events import OrderFilled, PositionClosed, PositionEvent
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId, PositionId, Venue
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Currency, Money
from nautilus_trader.model.orders import LimitOrder, Order, StopMarketOrder
from nautilus_trader.trading.strategy import Strategy

from ntrader.core.fees import order_commission
from ntrader.core.sizing import order_quantity
from ntrader.models.enums import Timeframe
from ntrader.models.execution import CommissionModel, SizingMode


class SignalStrategyConfig(StrategyConfig, frozen=True):
    """What every ntrader strategy needs besides its own signal parameters.

    A strategy's config subclasses this and declares its parameters as fields with defaults,
    bounds and a description (``Annotated[int, Meta(ge=1, description=...)]``); the
    registry derives validation, help and schemas from them. Rules between parameters go in
    ``__post_init__`` (raise ValueError), reading parameter fields only: the registry also
    runs it on the parameters alone, with the runner's fields unset. Every field here but
    ``allow_short`` is set by the runner, not by users.
    """

    instrument_id: InstrumentId
    bar_type: BarType
    sizing: SizingMode = SizingMode.RISK
    position_size: float = 1.0  # risk % per trade, % of equity, or units (see sizing)
    max_position_pct: float = 10.0  # one position's value at most this % of equity
    atr_period: int = 14
    stop_atr: float | None = 2.0  # protective stop at entry -/+ this many ATRs (None: none)
    take_profit_r: float | None = None  # limit at entry +/- this many times the stop distance
    trailing_stop_atr: float | None = None  # stop trailed this many ATRs behind the close
    allow_short: Annotated[
        bool, Meta(description="Also trade the short side (a margin account, no leverage).")
    ] = False
    # Bars of a higher timeframe, given by the runner when the parameters ask for one.
    higher_bar_type: BarType | None = None
    # Size against the whole portfolio (every venue's account), not this venue's account.
    shared_equity: bool = False
    # Keep a SignalRecord of every bar (services/lookahead.py compares them across runs).
    record_signals: bool = False

    def higher_timeframe(self) -> Timeframe | None:
        """The second timeframe these parameters need (its bars go to the strategy's
        ``on_higher_bar``), or None."""
        return None


@dataclass(frozen=True, slots=True)
class ExecutionContext:
    """How the run executes, given by the runner (not strategy parameters).

    ``open_times_ns`` are the instrument's bar open times (calendar, not prices): with them,
    an order decided on a bar is sent at the next bar's open; without, at once (same close).
    """

    open_times_ns: np.ndarray | None = None
    slippage_bps: float = 0.0
    commission: CommissionModel | None = None
    # The venue does not match orders against bars (see ``market_orders_only``): a resting
    # order would never fill, so sending one is an error.
    bars_unmatched: bool = False


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """What the strategy made of one bar: the side it asked for on it (``go_long``:
    "long", ``go_short``: "short", ``go_flat``: "flat"; None: no call) and its indicator
    values after the bar (the ATR and the strategy's ``signal_snapshot``)."""

    ts: int  # the bar's ts_event, ns
    decision: str | None
    values: dict[str, float]


@dataclass(slots=True)
class _Protection:
    """The exits guarding one open position."""

    side: OrderSide  # the position's entry side
    stop: StopMarketOrder


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
    """A strategy that turns a per-bar signal into orders on one instrument.

    Subclasses update their indicators in ``update_signal`` and call ``go_long``,
    ``go_short``, ``go_flat`` or ``follow_bands``; this class sizes and sends the orders: at
    the next bar's open (default) or at the signal bar's close, with a protective stop,
    take-profit and trailing stop as configured (docs/execution.md). ``submit_limit`` and
    ``submit_stop`` place other orders. One that overrides ``on_position_event`` or
    ``on_order_filled`` must call ``super()``. When the parameters ask for a higher
    timeframe, each of its bars goes to ``on_higher_bar`` once it has closed.
    """

    config: SignalStrategyConfig
    # Set True in a strategy's own class body when it only ever calls ``go_long``,
    # ``go_short``, ``go_flat`` or ``follow_bands`` (market orders). A run of it that fills
    # at the next open and has no stop, take-profit or trailing stop then needs nautilus to
    # match no order against the bars: the opening trades move the market, and the venue
    # skips four price updates a bar (docs/performance.md). Not inherited: a subclass
    # declares it for itself.
    market_orders_only: ClassVar[bool] = False

    def __init__(self, config: SignalStrategyConfig) -> None:
        super().__init__(config)
        self._execution = ExecutionContext()
        # Numbers the next-open alerts; never reset, so a name stays unique on a reused clock.
        self._alerts = 0
        self.on_reset()

    def on_reset(self) -> None:
        """Back to the state of a new strategy: indicators, signal state, pending orders and
        stops. It runs once from ``__init__`` and again whenever nautilus resets the strategy
        (``engine.reset()``), so a subclass builds its indicators and signal state here,
        calling ``super().on_reset()`` first."""
        self._atr = AverageTrueRange(self.config.atr_period, MovingAverageType.WILDER)
        self.instrument: Instrument | None = None
        self._side = PositionSide.FLAT
        self._pending: list[Callable[[], None]] = []
        # Entry order -> (price it was sized at, stop distance): its stop goes in on the fill.
        self._entries: dict[ClientOrderId, tuple[float, float]] = {}
        self._protections: dict[PositionId, _Protection] = {}
        self._decision: str | None = None
        self.signal_records: list[SignalRecord] = []

    @property
    def allow_short(self) -> bool:
        return self.config.allow_short

    def set_execution(self, execution: ExecutionContext) -> None:
        self._execution = execution

    def submit_order(self, order: Order, *args: Any, **kwargs: Any) -> None:
        if self._execution.bars_unmatched and order.order_type != OrderType.MARKET:
            raise RuntimeError(
                f"{type(self).__name__} declares market_orders_only but sent a "
                f"{order.order_type.name} order, which this run's venue would never fill."
            )
        super().submit_order(order, *args, **kwargs)

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.config.instrument_id)
        if self.instrument is None:
            self.log.error(f"instrument {self.config.instrument_id} not in the cache")
            self.stop()
            return
        self.subscribe_bars(self.config.bar_type)
        if self.config.higher_bar_type is not None:
            self.subscribe_bars(self.config.higher_bar_type)

    def on_bar(self, bar: Bar) -> None:
        if bar.bar_type == self.config.higher_bar_type:
            self.on_higher_bar(bar)
            return
        self._atr.handle_bar(bar)
        if self._protections and self.config.trailing_stop_atr is not None:
            self._trail(bar)
        if not self.config.record_signals:
            self.update_signal(bar)
            return
        self._decision = None
        self.update_signal(bar)
        snapshot = {name: float(value) for name, value in self.signal_snapshot().items()}
        values = {"atr": self._atr.value, **snapshot}
        self.signal_records.append(SignalRecord(bar.ts_event, self._decision, values))

    def update_signal(self, bar: Bar) -> None:
        raise NotImplementedError

    def signal_snapshot(self) -> dict[str, float]:
        """The strategy's indicator values after the current bar, by name; recorded with
        each bar when ``record_signals`` is set, so the look-ahead check can see a value
        that depends on later bars. Override to expose your indicators."""
        return {}

    def on_higher_bar(self, bar: Bar) -> None:
        """A closed bar of the higher timeframe, before any of the run's bars after it."""

    def on_stop(self) -> None:
        self.cancel_all_orders(self.config.instrument_id)

    def on_position_event(self, event: PositionEvent) -> None:
        # Positions change only through these events, so the side is worked out here once
        # rather than asked of the portfolio on every bar. The cache already holds the change.
        net = sum(
            position.signed_qty
            for position in self.cache.positions_open(
                instrument_id=self.config.instrument_id, strategy_id=self.id
            )
        )
        self._side = (
            PositionSide.LONG if net > 0 else PositionSide.SHORT if net < 0 else PositionSide.FLAT
        )
        if isinstance(event, PositionClosed):
            # nautilus cancels a closed position's reduce-only orders; forget them here.
            self._protections.pop(event.position_id, None)

    def on_order_filled(self, event: OrderFilled) -> None:
        entry = self._entries.get(event.client_order_id)
        if entry is None:
            return
        order = self.cache.order(event.client_order_id)
        if order is None or not order.is_closed:
            return  # the stop covers the whole entry once it has filled
        del self._entries[event.client_order_id]
        self._protect(event.position_id, order, *entry)

    def position_side(self) -> PositionSide:
        """Where this strategy stands on its instrument (net of its open positions)."""
        return self._side

    def go_long(self, bar: Bar) -> None:
        """Long, reversing a short first; nothing when already long."""
        side = self._side
        if side is PositionSide.SHORT:
            self.go_flat()
        if side is not PositionSide.LONG:
            self._when_due(lambda: self._enter(OrderSide.BUY))
        self._decision = "long"

    def go_short(self, bar: Bar) -> None:
        """Short when allowed, reversing a long first; either way, out of a long."""
        side = self._side
        if side is PositionSide.LONG:
            self.go_flat()
        if self.config.allow_short and side is not PositionSide.SHORT:
            self._when_due(lambda: self._enter(OrderSide.SELL))
        self._decision = "short"

    def go_flat(self) -> None:
        self._when_due(lambda: self.close_all_positions(self.config.instrument_id))
        self._decision = "flat"

    def follow_bands(self, bar: Bar, value: float, bands: Bands) -> None:
        """Act on ``value``: an entry signal wins (and reverses an opposite position);
        otherwise an exit signal closes the position it concerns."""
        side = self._side
        if value < bands.long_entry:
            self.go_long(bar)
        elif self.config.allow_short and value > bands.short_entry:
            self.go_short(bar)
        elif (side is PositionSide.LONG and value > bands.long_exit) or (
            side is PositionSide.SHORT and value < bands.short_exit
        ):
            self.go_flat()

    def submit_limit(self, side: OrderSide, quantity: float, price: float) -> LimitOrder:
        """A GTC limit order, matched by nautilus against the following bars."""
        assert self.instrument is not None
        order = self.order_factory.limit(
            instrument_id=self.config.instrument_id,
            order_side=side,
            quantity=self.instrument.make_qty(quantity),
            price=self.instrument.make_price(price),
            time_in_force=TimeInForce.GTC,
        )
        self.submit_order(order)
        return order

    def submit_stop(
        self,
        side: OrderSide,
        quantity: float,
        trigger: float,
        position_id: PositionId | None = None,
    ) -> StopMarketOrder:
        """A GTC stop-market order; with ``position_id`` it only reduces that position.

        nautilus fills it at the trigger when a bar trades through it, or at the open when
        the bar gaps past it.
        """
        assert self.instrument is not None
        order = self.order_factory.stop_market(
            instrument_id=self.config.instrument_id,
            order_side=side,
            quantity=self.instrument.make_qty(quantity),
            trigger_price=self.instrument.make_price(trigger),
            time_in_force=TimeInForce.GTC,
            reduce_only=position_id is not None,
        )
        self.submit_order(order, position_id=position_id)
        return order

    def _when_due(self, action: Callable[[], None]) -> None:
        """Run ``action`` now (fills at this close) or at the next bar's open."""
        open_times = self._execution.open_times_ns
        if open_times is None:
            action()
            return
        if not self._pending:
            now = self.clock.timestamp_ns()
            index = int(np.searchsorted(open_times, now, side="left"))
            if index == open_times.size:
                return  # a signal on the last bar: there is no next open to trade at
            self._alerts += 1
            self.clock.set_time_alert_ns(
                f"next-open-{self._alerts}", int(open_times[index]), self._at_open
            )
        self._pending.append(action)

    def _at_open(self, _event: TimeEvent) -> None:
        actions, self._pending = self._pending, []
        for action in actions:
            action()

    def _market_price(self) -> float:
        """The last price: this bar's close, or at an open the open (the venue's last trade)."""
        price = self.cache.price(self.config.instrument_id, PriceType.LAST)
        return price.as_double() if price is not None else 0.0

    def _enter(self, side: OrderSide) -> None:
        assert self.instrument is not None
        config = self.config
        venue = config.instrument_id.venue
        account = self.portfolio.account(venue)
        currency = account.base_currency or self.instrument.quote_currency
        # Equity marks open positions to market, the same way for cash and margin accounts.
        equity, exposure = self._equity_and_exposure(currency)
        price = self._market_price()
        stop_distance = None
        if config.stop_atr is not None:
            if not self._atr.initialized:
                return  # a stop was asked for and cannot be placed until the ATR is ready
            stop_distance = self._atr.value * config.stop_atr
        # Sizing compares amounts with the equity: prices of a pair quoted in another
        # currency (USDJPY: yen) are converted at the pair's current rate (core/fx.py).
        rate = self._account_rate(currency)
        quantity = order_quantity(
            mode=config.sizing,
            size=config.position_size,
            equity=equity,
            price=price * rate,
            stop_distance=stop_distance * rate if stop_distance is not None else None,
            max_position_fraction=config.max_position_pct / 100.0,
            gross_exposure=exposure,
        )
        if account.type == AccountType.CASH and side == OrderSide.BUY:
            quantity = min(quantity, self._affordable(account.balance_free(currency), price * rate))
        if quantity < 1:
            return
        order = self.order_factory.market(
            instrument_id=config.instrument_id,
            order_side=side,
            quantity=self.instrument.make_qty(quantity),
            time_in_force=TimeInForce.GTC,
        )
        if stop_distance is not None:
            self._entries[order.client_order_id] = (price, stop_distance)
        self.submit_order(order)

    def _equity_and_exposure(self, currency: Currency) -> tuple[float, float]:
        """Equity and gross exposure that sizing works against: this venue's account, or
        with a shared pool (``--allocation shared``) every venue's together."""
        venues = [self.config.instrument_id.venue]
        if self.config.shared_equity:
            venues = sorted({Venue(a.id.get_issuer()) for a in self.cache.accounts()}, key=str)
        equity = exposure = 0.0
        for venue in venues:
            money = self.portfolio.equity(venue).get(currency)
            gross = (self.portfolio.net_exposures(venue) or {}).get(currency)
            equity += money.as_double() if money is not None else 0.0
            exposure += gross.as_double() if gross is not None else 0.0
        return equity, exposure

    def _account_rate(self, currency: Currency) -> float:
        """Quote-to-account rate now; 0 when nautilus has none (nothing is then bought)."""
        assert self.instrument is not None
        if self.instrument.quote_currency == currency:
            return 1.0
        rate = self.cache.get_xrate(
            self.config.instrument_id.venue,
            self.instrument.quote_currency,
            currency,
            PriceType.MID,
        )
        return float(rate) if rate else 0.0

    def _affordable(self, free: Money | None, price: float) -> int:
        """Units a cash account can pay for, slippage and commission included."""
        if free is None or price <= 0:
            return 0
        cash = Decimal(str(free.as_double()))
        fill = Decimal(str(price)) * (1 + Decimal(str(self._execution.slippage_bps)) / 10_000)
        schedule = self._execution.commission
        quantity = int(cash / fill)
        while quantity > 0 and schedule is not None:
            cost = quantity * fill + order_commission(schedule, Decimal(quantity), quantity * fill)
            if cost <= cash:
                break
            quantity -= 1
        return quantity

    def _protect(
        self, position_id: PositionId, entry: Order, price: float, distance: float
    ) -> None:
        """The stop (and take-profit) of a new position, reduce-only so nautilus cancels the
        rest once one of them, or a signal, closes it."""
        config = self.config
        long = entry.side == OrderSide.BUY
        exit_side = OrderSide.SELL if long else OrderSide.BUY
        quantity = entry.filled_qty.as_double()
        sign = 1.0 if long else -1.0
        stop = self.submit_stop(
            exit_side, quantity, self._away(price - sign * distance, long), position_id
        )
        self._protections[position_id] = _Protection(side=entry.side, stop=stop)
        if config.take_profit_r is not None:
            assert self.instrument is not None
            target = self._away(price + sign * config.take_profit_r * distance, not long)
            order = self.order_factory.limit(
                instrument_id=config.instrument_id,
                order_side=exit_side,
                quantity=self.instrument.make_qty(quantity),
                price=self.instrument.make_price(target),
                time_in_force=TimeInForce.GTC,
                reduce_only=True,
            )
            self.submit_order(order, position_id=position_id)

    def _away(self, price: float, down: bool) -> float:
        """``price`` on the tick grid, rounded down (or up): never nearer to the market."""
        assert self.instrument is not None
        tick = self.instrument.price_increment.as_decimal()
        ticks = (Decimal(str(price)) / tick).to_integral_value(
            rounding=ROUND_FLOOR if down else ROUND_CEILING
        )
        return float(ticks * tick)

    def _trail(self, bar: Bar) -> None:
        """Move each stop to the close -/+ N ATRs when that is tighter (never looser)."""
        if not self._atr.initialized:
            return
        assert self.config.trailing_stop_atr is not None
        offset = self._atr.value * self.config.trailing_stop_atr
        close = bar.close.as_double()
        for protection in self._protections.values():
            stop = protection.stop
            if not stop.is_open:
                continue
            long = protection.side == OrderSide.BUY
            current = stop.trigger_price.as_double()
            wanted = self._away(close - offset if long else close + offset, long)
            if (long and wanted > current) or (not long and wanted < current):
                assert self.instrument is not None
                self.modify_order(stop, trigger_price=self.instrument.make_price(wanted))
