"""Commission schedules (docs/execution.md) as a nautilus fee model.

One model serves the three schedules of ``CommissionModel``: a fixed amount per order, an
amount per share (IBKR: 0.005 USD, at least 1 USD, at most 1 % of the trade value) and a
percentage of the trade value. Floors and caps apply per *order*, as brokers charge them, so
an order that fills in several parts pays what it would have paid in one: each fill is
charged the order's commission so far minus what its earlier fills were already charged.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from nautilus_trader.backtest.models import FeeModel
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Currency, Money, Price, Quantity
from nautilus_trader.model.orders import Order

from ntrader.models.execution import CommissionModel, CommissionType


def _decimal(value: float) -> Decimal:
    # Through str, so 0.005 is 0.005 and not the binary float's 0.005000000000000000104.
    return Decimal(str(value))


def order_commission(schedule: CommissionModel, quantity: Decimal, value: Decimal) -> Decimal:
    """The whole order's commission once ``quantity`` units worth ``value`` have filled."""
    if quantity <= 0:
        return Decimal(0)
    rate = _decimal(schedule.value)
    if schedule.type is CommissionType.FIXED:
        amount = rate
    elif schedule.type is CommissionType.PER_SHARE:
        amount = rate * quantity
    else:
        amount = rate / 100 * value
    if schedule.minimum is not None:
        amount = max(amount, _decimal(schedule.minimum))
    if schedule.maximum_pct is not None:
        # IBKR: the cap wins over the floor, so a tiny order never pays more than 1 %.
        amount = min(amount, _decimal(schedule.maximum_pct) / 100 * value)
    return amount


class ScheduleFeeModel(FeeModel):
    """Charges a ``CommissionModel`` in the account currency, rounded to its cents.

    The trade value of an instrument quoted in another currency (USDJPY: yen) is converted
    at the rate nautilus converts the fill at (core/fx.py), and the commission is charged
    in that quote currency: nautilus converts it back at the same rate. Charged in USD, the
    base currency of USDJPY, nautilus would take it out of the position's quantity, as for
    a crypto fee.
    """

    def __init__(self, schedule: CommissionModel, currency: Currency) -> None:
        super().__init__()
        self._schedule = schedule
        self._currency = currency
        self._cent = Decimal(1).scaleb(-currency.precision)
        # Asked for the quote-to-account rate of each fill, just before nautilus converts
        # it (core/fx.py RateFeed.rate_at_fill); None: the rate is unknown.
        self.rate_at_fill: Callable[[Instrument, Price], float | None] | None = None

    def get_commission(
        self, order: Order, fill_qty: Quantity, fill_px: Price, instrument: Instrument
    ) -> Money:
        # Called before the fill is applied: the order's filled quantity and average price
        # are those of its earlier fills.
        rate = self._rate(instrument, fill_px)
        multiplier = instrument.multiplier.as_decimal() * rate
        before_qty = order.filled_qty.as_decimal()
        before_value = before_qty * _decimal(order.avg_px) * multiplier
        after_qty = before_qty + fill_qty.as_decimal()
        after_value = before_value + fill_qty.as_decimal() * fill_px.as_decimal() * multiplier
        charged = self._round(order_commission(self._schedule, before_qty, before_value))
        total = self._round(order_commission(self._schedule, after_qty, after_value))
        if rate == 1:
            return Money(total - charged, self._currency)
        return Money((total - charged) / rate, instrument.quote_currency)

    def _rate(self, instrument: Instrument, fill_px: Price) -> Decimal:
        """Quote-to-account rate at the fill: a value in the quote currency times this is
        in the account currency."""
        if instrument.quote_currency == self._currency:
            return Decimal(1)
        rate = self.rate_at_fill(instrument, fill_px) if self.rate_at_fill else None
        if not rate:
            raise RuntimeError(
                f"no {instrument.quote_currency}/{self._currency} rate for the commission of "
                f"{instrument.id}"
            )
        return _decimal(rate)

    def _round(self, amount: Decimal) -> Decimal:
        return amount.quantize(self._cent, rounding=ROUND_HALF_UP)
