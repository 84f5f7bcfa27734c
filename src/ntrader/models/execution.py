"""How orders are charged and filled: commission models and slippage."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ntrader.models.enums import Allocation, FillAt, SizingMode

__all__ = [
    "Allocation",
    "CommissionModel",
    "CommissionType",
    "FillAt",
    "SizingMode",
    "parse_multiple",
]


class CommissionType(StrEnum):
    FIXED = "fixed"  # currency per order
    PER_SHARE = "per_share"  # currency per share/unit, with a floor and a cap
    PERCENTAGE = "percentage"  # % of the trade's value


class CommissionModel(BaseModel):
    """A commission schedule. ``per_share`` defaults to IBKR's fixed pricing."""

    # An infinite amount passes ``ge=0`` and would reach nautilus as an overflow.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    type: CommissionType = CommissionType.FIXED
    value: float = Field(default=1.0, ge=0)
    minimum: float | None = Field(default=None, ge=0, description="Floor per order.")
    maximum_pct: float | None = Field(
        default=None, gt=0, le=100, description="Cap per order, as % of the trade value."
    )

    @model_validator(mode="after")
    def _ibkr_defaults(self) -> CommissionModel:
        if self.type is CommissionType.PER_SHARE:
            # IBKR fixed pricing: 0.005 USD/share, at least 1 USD, at most 1 % of trade value.
            if self.minimum is None:
                object.__setattr__(self, "minimum", 1.0)
            if self.maximum_pct is None:
                object.__setattr__(self, "maximum_pct", 1.0)
        return self

    @classmethod
    def parse(cls, text: str) -> CommissionModel:
        """CLI shorthand: ``1.0`` (fixed per order), ``per_share:0.005``, ``ibkr``,
        ``percentage:0.1`` (``pct:0.1``)."""
        cleaned = text.strip().lower()
        if cleaned == "ibkr":
            return cls(type=CommissionType.PER_SHARE, value=0.005)
        kind, sep, amount = cleaned.partition(":")
        if not sep:
            return cls(type=CommissionType.FIXED, value=float(kind))
        aliases = {"pct": CommissionType.PERCENTAGE, "percent": CommissionType.PERCENTAGE}
        commission_type = aliases.get(kind) or CommissionType(kind)
        return cls(type=commission_type, value=float(amount))

    def describe(self) -> str:
        if self.type is CommissionType.FIXED:
            return f"{self.value:g} per order"
        if self.type is CommissionType.PERCENTAGE:
            return f"{self.value:g}% of value"
        return f"{self.value:g}/share (min {self.minimum:g}, max {self.maximum_pct:g}%)"


def parse_multiple(text: str | float, unit: str) -> float:
    """``atr:2`` (for ``unit`` "atr") as 2.0; a bare positive number is accepted too."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        kind, sep, amount = str(text).strip().lower().partition(":")
        if not sep:
            kind, amount = unit, kind
        if kind != unit:
            raise ValueError(f"{text!r} must read {unit}:N (a multiple of the {unit.upper()})")
        try:
            value = float(amount)
        except ValueError:
            raise ValueError(f"{text!r} must read {unit}:N with N a number") from None
    if not 0 < value <= 100:  # also refuses nan and inf
        raise ValueError(f"{text!r}: the multiple must be above 0 and at most 100")
    return value
