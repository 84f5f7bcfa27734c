"""How market orders fill: whole, at the market price moved against the trader by slippage.

nautilus asks a ``FillModel`` for the order book an order should fill against. Bars carry no
depth, so the book offered here holds exactly the order's size at one price: the current
ask (buys) or bid (sells) moved by ``slippage_bps`` basis points against the trader, rounded
to the nearest tick (a tie rounds against the trader too). With zero slippage that is the
bar's price itself; nautilus' own L1 book would instead fill whatever exceeds the bar's
volume one tick worse, an artefact of how it builds a book from bars.

Other order types (limit, stop) keep nautilus' own fill rules.
"""

from __future__ import annotations

from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal

from nautilus_trader.backtest.models import FillModel
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BookOrder
from nautilus_trader.model.enums import BookType, OrderSide, OrderType
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price
from nautilus_trader.model.orders import Order


def slipped_price(price: Decimal, side: OrderSide, bps: Decimal, tick: Decimal) -> Decimal:
    """``price`` moved ``bps`` basis points against a ``side`` order, on the ``tick`` grid."""
    buying = side == OrderSide.BUY
    moved = price * (1 + bps / 10_000) if buying else price * (1 - bps / 10_000)
    ticks = (moved / tick).quantize(
        Decimal(1), rounding=ROUND_HALF_UP if buying else ROUND_HALF_DOWN
    )
    return ticks * tick


class SlippageFillModel(FillModel):
    """Fills market orders whole at the slipped price and remembers the unslipped one.

    ``reference_prices`` maps each market order to the price it would have filled at without
    slippage, so the run can report what slippage cost.
    """

    def __init__(self, slippage_bps: float) -> None:
        super().__init__()
        self._bps = Decimal(str(slippage_bps))
        self.reference_prices: dict[ClientOrderId, Price] = {}

    def get_orderbook_for_fill_simulation(
        self, instrument: Instrument, order: Order, best_bid: Price, best_ask: Price
    ) -> OrderBook | None:
        if order.order_type != OrderType.MARKET:
            return None
        buying = order.side == OrderSide.BUY
        reference = best_ask if buying else best_bid
        self.reference_prices[order.client_order_id] = reference
        price = slipped_price(
            reference.as_decimal(),
            order.side,
            self._bps,
            instrument.price_increment.as_decimal(),
        )
        book = OrderBook(instrument_id=instrument.id, book_type=BookType.L2_MBP)
        # A resting order on the side the market order takes from, as big as the order.
        resting_side = OrderSide.SELL if buying else OrderSide.BUY
        book.add(
            BookOrder(resting_side, instrument.make_price(price), order.leaves_qty, 1),
            0,
        )
        return book
