"""Instruments quoted in another currency than the account's (USDJPY on a USD account).

nautilus converts a fill's realised PnL, and an open position's unrealised PnL, into the
account currency with an exchange rate it reads from *quotes* in its cache
(``Cache.get_xrate``); ntrader feeds it bars and trade ticks only, so without help it finds
no rate, logs an error and leaves the JPY amounts out of the balance. ``RateFeed`` puts each
of the pair's own prices (every trade tick, every bar close) into the cache as a quote with
bid = ask, so nautilus marks open positions and the sizing converts at the pair's latest
price; each fill is converted at its own price (1 JPY = 1 / fill price USD), and the rate is
recorded so that ntrader's rebuilt equity uses the very same one (docs/execution.md,
"Currencies").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from nautilus_trader.common.actor import Actor
from nautilus_trader.model.data import Bar, BarType, QuoteTick, TradeTick
from nautilus_trader.model.enums import OrderSide, PriceType
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Currency, Price, Quantity

from ntrader.core.errors import UserInputError
from ntrader.models.instrument import InstrumentSpec


def needs_conversion(spec: InstrumentSpec, account_currency: str) -> bool:
    return spec.currency != account_currency


def check_convertible(specs: Sequence[InstrumentSpec], account_currency: str) -> None:
    """Refuse, before any run, an instrument whose amounts cannot be turned into the
    account currency from its own prices.

    A pair based in the account currency (USDJPY) converts with its own rate: 1 JPY is
    1 / USDJPY USD. A cross (EURGBP) or a stock quoted in EUR would need a second pair's
    prices, which the runner does not load.
    """
    for spec in specs:
        if not needs_conversion(spec, account_currency):
            continue
        if spec.is_fx and spec.base_currency == account_currency:
            continue
        pair = f"{spec.currency}{account_currency}"
        raise UserInputError(
            f"{spec.symbol} is quoted in {spec.currency}, not in the account currency "
            f"{account_currency}; converting its PnL needs the {pair} rate at every bar, "
            "and runs on instruments that need a second pair for the conversion are not "
            "supported",
            hint=f"Trade pairs quoted in {account_currency} (EURUSD, GBPUSD) or based in "
            f"{account_currency} (USDJPY, USDCHF), and leave {spec.symbol} out of --instruments.",
        )


def mark_rates(spec: InstrumentSpec, account_currency: str, prices: np.ndarray) -> np.ndarray:
    """Quote-to-account rates at ``prices`` of the instrument itself (1 when it is quoted
    in the account currency; 1 / price for a pair based in it)."""
    if not needs_conversion(spec, account_currency):
        return np.ones(prices.shape[0])
    with np.errstate(divide="ignore"):
        return np.where(prices > 0, 1.0 / prices, 0.0)


# nautilus converts a margin account's fill at the cache's latest quote, before the fill
# is published. The fee model, called by the matching engine just before the fill, quotes
# the fill's own price (``quote_fill``); once the fill is published the rate is recorded and
# the bar's (or tick's) quote is put back, so that positions stay marked at bar and tick prices.
_RECORD = 20
_RESTORE = 0


class RateFeed(Actor):
    """Puts the converted pairs' prices into nautilus' cache as quotes and records, for
    every fill of the run, the quote-to-account rate nautilus converted it with.

    Added before the strategies, so it sees each bar and tick before they do and a
    strategy sizing on a bar reads that bar's rate.
    """

    def __init__(
        self,
        specs: Sequence[InstrumentSpec],
        bar_types: Sequence[BarType],
        account_currency: str,
        with_ticks: bool,
    ) -> None:
        super().__init__()
        self._specs = {InstrumentId.from_str(s.instrument_id): s for s in specs}
        self._bar_types = list(bar_types)
        self._currency = Currency.from_str(account_currency)
        self._with_ticks = with_ticks
        self._size = Quantity.from_int(1)
        self._market: dict[InstrumentId, QuoteTick] = {}  # the latest bar or tick quote
        self.rates: dict[str, float] = {}  # fill_key -> quote-to-account rate

    def on_start(self) -> None:
        for bar_type in self._bar_types:
            self.subscribe_bars(bar_type)
        if self._with_ticks:
            for instrument_id in self._specs:
                self.subscribe_trade_ticks(instrument_id)
        # Every fill, converted or not: the rebuilt equity needs one rate per fill.
        self.msgbus.subscribe("events.order.*", self._record, priority=_RECORD)
        self.msgbus.subscribe("events.order.*", self._restore, priority=_RESTORE)

    def on_bar(self, bar: Bar) -> None:
        self._quote(bar.bar_type.instrument_id, bar.close, bar.ts_event)

    def on_trade_tick(self, tick: TradeTick) -> None:
        self._quote(tick.instrument_id, tick.price, tick.ts_event)

    def _quote(self, instrument_id: InstrumentId, price: Price, ts: int) -> None:
        quote = QuoteTick(instrument_id, price, price, self._size, self._size, ts, ts)
        self.cache.add_quote_tick(quote)
        self._market[instrument_id] = quote

    def quote_fill(self, instrument_id: InstrumentId, price: Price) -> None:
        """Quote a converted pair at the price it is about to fill at."""
        if instrument_id in self._specs:
            now = self.clock.timestamp_ns()
            quote = QuoteTick(instrument_id, price, price, self._size, self._size, now, now)
            self.cache.add_quote_tick(quote)

    def _record(self, event: object) -> None:
        if not isinstance(event, OrderFilled):
            return
        spec = self._specs.get(event.instrument_id)
        rate = 1.0
        if spec is not None:
            # The price type nautilus' AccountsManager asks for; bid = ask here anyway.
            xrate = self.cache.get_xrate(
                venue=Venue(spec.venue),
                from_currency=Currency.from_str(spec.currency),
                to_currency=self._currency,
                price_type=PriceType.BID if event.order_side == OrderSide.SELL else PriceType.ASK,
            )
            rate = float(xrate) if xrate else 0.0
        self.rates[fill_key(event.instrument_id.value, event.trade_id.value)] = rate

    def _restore(self, event: object) -> None:
        if isinstance(event, OrderFilled) and event.instrument_id in self._market:
            self.cache.add_quote_tick(self._market[event.instrument_id])


def fill_key(instrument_id: str, trade_id: str) -> str:
    return f"{instrument_id}|{trade_id}"
