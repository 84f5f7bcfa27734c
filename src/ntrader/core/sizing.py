"""Position sizing: risk a fraction of equity per trade, within the position and leverage caps."""

from __future__ import annotations

import math

MAX_POSITION_FRACTION = 0.10  # SPEC §5: no single position above 10 % of portfolio value
MAX_GROSS_LEVERAGE = 3.0  # SPEC §5: margin used at most 3x account value


def risk_based_quantity(
    *,
    equity: float,
    price: float,
    risk_fraction: float,
    stop_distance: float | None,
    max_position_fraction: float = MAX_POSITION_FRACTION,
    gross_exposure: float = 0.0,
    max_gross_leverage: float = MAX_GROSS_LEVERAGE,
) -> int:
    """Whole units so that hitting the stop loses ``risk_fraction`` of equity.

    Without a stop distance yet (indicator warming up) the position cap alone sizes it.
    ``gross_exposure`` is the value of the positions already open (longs plus shorts); the
    new one may only take the total up to ``max_gross_leverage`` times equity.
    """
    if price <= 0 or equity <= 0:
        return 0
    cap = min(equity * max_position_fraction, equity * max_gross_leverage - gross_exposure) / price
    if stop_distance is not None and stop_distance > 0:
        cap = min(equity * risk_fraction / stop_distance, cap)
    return max(math.floor(cap), 0)
