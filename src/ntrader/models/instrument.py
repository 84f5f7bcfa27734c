"""Instrument: what a symbol is, where it trades and how its prices are quoted."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ntrader.models.bars import MAX_DECIMALS
from ntrader.models.enums import AssetClass

CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD")


class InstrumentSpec(BaseModel):
    """One tradable instrument. ``instrument_id`` reads like ``AAPL.NASDAQ``."""

    model_config = ConfigDict(frozen=True)

    symbol: str = Field(min_length=1, max_length=32)
    venue: str = Field(min_length=1, max_length=32)
    asset_class: AssetClass = AssetClass.EQUITY
    currency: str = "USD"
    price_precision: int = Field(default=2, ge=0, le=MAX_DECIMALS)
    lot_size: float = Field(default=1.0, gt=0)
    trading_hours: dict[str, str] | None = None
    margin_requirement: float | None = Field(default=None, gt=0)

    @field_validator("symbol", "venue")
    @classmethod
    def _upper(cls, value: str) -> str:
        value = value.strip().upper()
        if "." in value or " " in value:
            raise ValueError("must not contain dots or spaces")
        return value

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in CURRENCIES:
            raise ValueError(f"unsupported currency {value!r}; use one of {', '.join(CURRENCIES)}")
        return value

    @property
    def instrument_id(self) -> str:
        return f"{self.symbol}.{self.venue}"

    @property
    def tick_size(self) -> float:
        return 10.0**-self.price_precision

    @property
    def is_fx(self) -> bool:
        return self.asset_class is AssetClass.FX

    @property
    def base_currency(self) -> str | None:
        """For an FX pair such as EURUSD, the base (EUR); None otherwise."""
        return self.symbol[:3] if self.is_fx else None
