"""Our instrument specs as nautilus instruments."""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.model.currencies import USD
from nautilus_trader.model.identifiers import InstrumentId, Symbol
from nautilus_trader.model.instruments import CurrencyPair, Equity, Instrument
from nautilus_trader.model.objects import Currency, Price, Quantity

from ntrader.models.instrument import InstrumentSpec


def to_nautilus(spec: InstrumentSpec) -> Instrument:
    instrument_id = InstrumentId.from_str(spec.instrument_id)
    price_increment = Price(10**-spec.price_precision, spec.price_precision)
    if spec.is_fx:
        return CurrencyPair(
            instrument_id=instrument_id,
            raw_symbol=Symbol(f"{spec.symbol[:3]}/{spec.symbol[3:]}"),
            base_currency=Currency.from_str(spec.symbol[:3]),
            quote_currency=Currency.from_str(spec.currency),
            price_precision=spec.price_precision,
            size_precision=0,
            price_increment=price_increment,
            size_increment=Quantity.from_int(1),
            lot_size=Quantity.from_int(int(spec.lot_size)),
            max_quantity=None,
            min_quantity=Quantity.from_int(1),
            max_price=None,
            min_price=None,
            margin_init=Decimal("0.03"),
            margin_maint=Decimal("0.03"),
            maker_fee=Decimal(0),
            taker_fee=Decimal(0),
            ts_event=0,
            ts_init=0,
        )
    return Equity(
        instrument_id=instrument_id,
        raw_symbol=Symbol(spec.symbol),
        currency=Currency.from_str(spec.currency) if spec.currency != "USD" else USD,
        price_precision=spec.price_precision,
        price_increment=price_increment,
        lot_size=Quantity.from_int(int(spec.lot_size)),
        ts_event=0,
        ts_init=0,
    )
