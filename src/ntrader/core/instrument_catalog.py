"""Sensible defaults for well-known symbols, so ``--instrument SPY`` needs no more flags."""

from __future__ import annotations

from ntrader.models.enums import AssetClass
from ntrader.models.instrument import InstrumentSpec

DEFAULT_VENUE = "NASDAQ"
FX_VENUE = "IDEALPRO"

_ETFS_BY_VENUE = {
    "NYSE": ("SPY", "DIA", "IWM", "GLD", "TLT", "XLF", "XLE", "XLK", "VTI", "VOO", "EEM", "HYG"),
    "NASDAQ": ("QQQ", "TQQQ", "SQQQ"),
}
_NYSE_STOCKS = ("JPM", "XOM", "KO", "IBM", "GE", "WMT", "DIS", "BA", "V", "MA", "JNJ", "PG")
_FX_PAIRS = (
    "EURUSD",
    "USDJPY",
    "GBPUSD",
    "USDCHF",
    "AUDUSD",
    "USDCAD",
    "EURGBP",
    "EURJPY",
    "GBPJPY",
)


def default_spec(
    symbol: str,
    *,
    venue: str | None = None,
    asset_class: AssetClass | None = None,
    currency: str | None = None,
    price_precision: int = 2,
) -> InstrumentSpec:
    """The instrument a bare symbol most likely means; explicit arguments win."""
    symbol = symbol.strip().upper().replace("/", "")
    if symbol in _FX_PAIRS or asset_class is AssetClass.FX:
        return InstrumentSpec(
            symbol=symbol,
            venue=venue or FX_VENUE,
            asset_class=AssetClass.FX,
            currency=currency or symbol[3:6],
            price_precision=max(price_precision, 3 if symbol.endswith("JPY") else 5),
        )
    etf_venue = next((v for v, names in _ETFS_BY_VENUE.items() if symbol in names), None)
    default_venue = etf_venue or ("NYSE" if symbol in _NYSE_STOCKS else DEFAULT_VENUE)
    return InstrumentSpec(
        symbol=symbol,
        venue=venue or default_venue,
        asset_class=asset_class or (AssetClass.ETF if etf_venue else AssetClass.EQUITY),
        currency=currency or "USD",
        price_precision=price_precision,
    )


def is_fx_pair(symbol: str) -> bool:
    return symbol.strip().upper().replace("/", "") in _FX_PAIRS
