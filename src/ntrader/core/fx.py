"""Instruments quoted in another currency than the account's (USDJPY on a USD account).

nautilus converts a fill's realised PnL, and an open position's unrealised PnL, into the
account currency with an exchange rate it reads from *quotes* in its cache
(``Cache.get_xrate``); ntrader feeds it bars and trade ticks only, so without help it finds
no rate, logs an error and leaves the JPY amounts out of the balance. ``RateFeed`` puts each
of the pair's own prices (every trade tick, every bar close) into the cache as a quote with
bid = ask, so nautilus marks open positions and the sizing converts at the pair's latest
price; each fill is converted at its own price (1 JPY = 1 / fill price USD), and the rate is
recorded so that ntrader's rebuilt equity uses the very same one. A cross (EURGBP)
converts with a second pair's prices (GBPUSD), loaded for them alone (docs/execution.md,
"Currencies").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from nautilus_trader.common.actor import Actor
from nautilus_trader.model.data import Bar, BarType, QuoteTick, TradeTick
from nautilus_trader.model.enums import OrderSide, PriceType
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Currency, Price, Quantity

from ntrader.core.errors import UserInputError
from ntrader.models.instrument import InstrumentSpec


def needs_conversion(spec: InstrumentSpec, account_currency: str) -> bool:
    return spec.currency != account_currency


def converts_itself(spec: InstrumentSpec, account_currency: str) -> bool:
    """A pair based in the account currency (USDJPY) converts with its own rate:
    1 JPY = 1 / USDJPY USD."""
    return spec.is_fx and spec.base_currency == account_currency


def conversion_pairs(spec: InstrumentSpec, account_currency: str) -> tuple[str, str] | None:
    """The pairs whose prices convert ``spec``'s quote currency to the account currency
    (GBPUSD, or USDGBP), or None when it needs no second pair."""
    if not needs_conversion(spec, account_currency) or converts_itself(spec, account_currency):
        return None
    return (f"{spec.currency}{account_currency}", f"{account_currency}{spec.currency}")


def check_convertible(
    specs: Sequence[InstrumentSpec],
    account_currency: str,
    available: Sequence[InstrumentSpec] = (),
) -> None:
    """Refuse, before any run, an instrument whose amounts cannot be turned into the
    account currency: a cross (EURGBP) needs GBPUSD or USDGBP among ``available`` (the
    conversion pairs loaded for the run) or among the run's own instruments."""
    present = {(s.symbol, s.venue) for s in [*specs, *available] if s.is_fx}
    for spec in specs:
        pairs = conversion_pairs(spec, account_currency)
        if pairs is None or any((pair, spec.venue) in present for pair in pairs):
            continue
        raise UserInputError(
            f"{spec.symbol} is quoted in {spec.currency}; import {pairs[0]} (or {pairs[1]}) "
            f"DAILY bars to convert it to {account_currency}",
            hint=f"`ntrader data import --file {pairs[0]}.csv --instrument {pairs[0]}` "
            f"(on {spec.venue}, covering the backtest's period), then run it again.",
        )


def rate_path(
    spec: InstrumentSpec,
    account_currency: str,
    times: np.ndarray,
    own_closes: np.ndarray,
    quotes: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Quote-to-account rates at ``times`` (bar closes), as nautilus' cache holds them.

    1 when the instrument is quoted in the account currency; 1 / its own close for a pair
    based in it; otherwise from the conversion pair's quotes (``quotes``: symbol ->
    (times, prices) in the order nautilus sees them), its latest at or before each time.
    """
    if not needs_conversion(spec, account_currency):
        return np.ones(times.shape[0])
    if converts_itself(spec, account_currency):
        return _inverse(own_closes)
    pairs = conversion_pairs(spec, account_currency)
    assert pairs is not None
    for pair, invert in zip(pairs, (False, True), strict=True):
        if pair in quotes:
            quote_ts, prices = quotes[pair]
            index = np.searchsorted(quote_ts, times, side="right") - 1
            rates = np.where(index >= 0, prices[np.maximum(index, 0)], 0.0)
            return _inverse(rates) if invert else rates
    raise UserInputError(f"no conversion pair for {spec.symbol}")  # check_convertible ran


def _inverse(prices: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(prices > 0, 1.0 / np.where(prices > 0, prices, 1.0), 0.0)


# nautilus converts a margin account's fill at the cache's latest quote, before the fill
# is published. The fee model, called by the matching engine just before the fill, quotes
# the fill's own price (``rate_at_fill``); once the fill is published the rate is recorded and
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
        quoted: Sequence[BarType],
        account_currency: str,
        with_ticks: bool,
    ) -> None:
        """``specs``: the instruments converted; ``quoted``: the bars to quote (theirs and
        their conversion pairs')."""
        super().__init__()
        self._specs = {InstrumentId.from_str(s.instrument_id): s for s in specs}
        self._bar_types = list(quoted)
        self._currency = Currency.from_str(account_currency)
        self._with_ticks = with_ticks
        self._size = Quantity.from_int(1)
        self._market: dict[InstrumentId, QuoteTick] = {}  # the latest bar or tick quote
        self.rates: dict[str, float] = {}  # fill_key -> quote-to-account rate

    def on_start(self) -> None:
        for bar_type in self._bar_types:
            self.subscribe_bars(bar_type)
        if self._with_ticks:
            for bar_type in self._bar_types:
                self.subscribe_trade_ticks(bar_type.instrument_id)
        # Every fill, converted or not: the rebuilt equity needs one rate per fill.
        self.msgbus.subscribe("events.order.*", self._record, priority=_RECORD)
        self.msgbus.subscribe("events.order.*", self._restore, priority=_RESTORE)

    def on_stop(self) -> None:
        """Nothing to release (the engine drops the subscriptions); defined because nautilus
        warns on every run about an actor without one."""

    def on_bar(self, bar: Bar) -> None:
        self._quote(bar.bar_type.instrument_id, bar.close, bar.ts_event)

    def on_trade_tick(self, tick: TradeTick) -> None:
        self._quote(tick.instrument_id, tick.price, tick.ts_event)

    def _quote(self, instrument_id: InstrumentId, price: Price, ts: int) -> None:
        quote = QuoteTick(instrument_id, price, price, self._size, self._size, ts, ts)
        self.cache.add_quote_tick(quote)
        self._market[instrument_id] = quote

    def rate_at_fill(self, instrument: Instrument, price: Price) -> float | None:
        """The quote-to-account rate a fill of ``instrument`` at ``price`` converts at, told
        by the fee model just before nautilus converts the fill: a pair based in the
        account currency is first quoted at that price, so the fill converts at its own."""
        spec = self._specs.get(instrument.id)
        if spec is None:
            return 1.0
        if converts_itself(spec, self._currency.code):
            now = self.clock.timestamp_ns()
            quote = QuoteTick(instrument.id, price, price, self._size, self._size, now, now)
            self.cache.add_quote_tick(quote)
        rate = self.cache.get_xrate(
            instrument.id.venue, instrument.quote_currency, self._currency, PriceType.MID
        )
        return float(rate) if rate else None

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
