"""Commission schedules and slippage prices, computed by hand (SPEC §7)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.test_kit.stubs.events import TestEventStubs
from nautilus_trader.test_kit.stubs.execution import TestExecStubs

from ntrader.core.fees import ScheduleFeeModel, order_commission
from ntrader.core.fill_models import slipped_price
from ntrader.core.nautilus_instruments import to_nautilus
from ntrader.models.execution import CommissionModel
from ntrader.models.instrument import InstrumentSpec

IBKR = CommissionModel.parse("ibkr")


@pytest.mark.parametrize(
    ("shares", "price", "expected"),
    [
        ("100", "50", "1"),  # 0.50 per share total: the 1.00 floor
        ("1000", "50", "5.000"),  # 0.005 x 1,000
        ("10", "5", "0.50"),  # floor 1.00, but capped at 1 % of 50.00
        ("100000", "0.50", "500.0000"),  # 500 per share vs 1 % of 50,000 = 500: equal
        ("100000", "0.20", "200.0000"),  # 1 % of 20,000 caps the 500
    ],
)
def test_ibkr_per_share_schedule(shares: str, price: str, expected: str) -> None:
    amount = order_commission(IBKR, Decimal(shares), Decimal(shares) * Decimal(price))
    assert amount == Decimal(expected)


def test_percentage_and_fixed_schedules() -> None:
    value = Decimal("12345.60")
    assert order_commission(CommissionModel.parse("pct:0.1"), Decimal(10), value) == Decimal(
        "12.345600"
    )
    assert order_commission(CommissionModel.parse("2.5"), Decimal(10), value) == Decimal("2.5")
    assert order_commission(CommissionModel.parse("2.5"), Decimal(0), Decimal(0)) == 0


def test_an_order_filled_in_parts_pays_what_it_pays_filled_whole() -> None:
    # 300 shares at 10.00 in three fills: 0.005/share would be 1.50 in all, each part alone
    # 0.50 (so a per-fill floor would charge 3.00); per order it is 1.50.
    instrument = to_nautilus(InstrumentSpec(symbol="PART", venue="NASDAQ"))
    model = ScheduleFeeModel(IBKR, USD)
    order = TestExecStubs.market_order(
        instrument=instrument, order_side=OrderSide.BUY, quantity=Quantity.from_int(300)
    )
    order.apply(TestEventStubs.order_submitted(order))
    order.apply(TestEventStubs.order_accepted(order))
    charged = []
    for number, price in enumerate(["10.00", "10.00", "10.00"]):
        part, px = Quantity.from_int(100), Price.from_str(price)
        commission = model.get_commission(order, part, px, instrument)
        charged.append(commission.as_decimal())
        order.apply(
            TestEventStubs.order_filled(
                order,
                instrument,
                last_qty=part,
                last_px=px,
                commission=commission,
                trade_id=TradeId(f"T-{number}"),
            )
        )
    assert charged == [Decimal("1.00"), Decimal("0.00"), Decimal("0.50")]
    assert sum(charged) == Decimal("1.50")


@pytest.mark.parametrize(
    ("price", "side", "bps", "expected"),
    [
        ("100.00", OrderSide.BUY, "25", "100.25"),
        ("100.00", OrderSide.SELL, "25", "99.75"),
        ("123.45", OrderSide.BUY, "10", "123.57"),  # 123.57345 -> nearest cent
        ("123.45", OrderSide.SELL, "10", "123.33"),  # 123.32655
        ("100.00", OrderSide.BUY, "0.5", "100.01"),  # 100.005: a tie rounds against a buyer
        ("100.00", OrderSide.SELL, "0.5", "99.99"),  # 99.995: ... and against a seller
        ("100.00", OrderSide.BUY, "0.4", "100.00"),  # under half a tick: no move
        ("100.00", OrderSide.BUY, "0", "100.00"),
    ],
)
def test_slipped_price(price: str, side: OrderSide, bps: str, expected: str) -> None:
    got = slipped_price(Decimal(price), side, Decimal(bps), Decimal("0.01"))
    assert got == Decimal(expected)
