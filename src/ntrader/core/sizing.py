"""Position sizing: risk a fraction of equity per trade, never above the position cap."""

from __future__ import annotations

import math

MAX_POSITION_FRACTION = 0.10  # SPEC §5: no single position above 10 % of portfolio value


def risk_based_quantity(
    *,
    equity: float,
    price: float,
    risk_fraction: float,
    stop_distance: float | None,
    max_position_fraction: float = MAX_POSITION_FRACTION,
) -> int:
    """Whole units so that hitting the stop loses ``risk_fraction`` of equity.

    Without a stop distance yet (indicator warming up) the position cap alone sizes it.
    """
    if price <= 0 or equity <= 0:
        return 0
    cap = equity * max_position_fraction / price
    if stop_distance is None or stop_distance <= 0:
        return math.floor(cap)
    return math.floor(min(equity * risk_fraction / stop_distance, cap))
