"""Position sizing: by risk, by a share of equity or a fixed quantity, within the caps."""

from __future__ import annotations

import math

from ntrader.models.execution import SizingMode

MAX_POSITION_FRACTION = 0.10  # no single position above 10 % of portfolio value
MAX_GROSS_LEVERAGE = 3.0  # margin used at most 3x the account value


def order_quantity(
    *,
    mode: SizingMode,
    size: float,
    equity: float,
    price: float,
    stop_distance: float | None,
    max_position_fraction: float = MAX_POSITION_FRACTION,
    gross_exposure: float = 0.0,
    max_gross_leverage: float = MAX_GROSS_LEVERAGE,
) -> int:
    """Whole units for a new position.

    ``size`` is what the mode says: % of equity lost at the stop (risk), % of equity in the
    position (percent), or units (fixed). Every mode stays under the position cap and takes
    the gross exposure (longs plus shorts already open) up to ``max_gross_leverage`` times
    equity at most. Risk sizing without a stop distance (ATR still warming up) buys nothing:
    a risk budget means nothing without a stop.
    """
    if price <= 0 or equity <= 0:
        return 0
    cap = min(equity * max_position_fraction, equity * max_gross_leverage - gross_exposure) / price
    if mode is SizingMode.RISK:
        if stop_distance is None or stop_distance <= 0:
            return 0
        wanted = equity * size / 100.0 / stop_distance
    elif mode is SizingMode.PERCENT:
        wanted = equity * size / 100.0 / price
    else:
        wanted = size
    return max(math.floor(min(wanted, cap)), 0)
