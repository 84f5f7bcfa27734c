from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ntrader.core.indicators import RollingMean
from ntrader.core.sizing import order_quantity
from ntrader.models.execution import SizingMode


def test_rolling_mean_matches_numpy_window_means() -> None:
    values = np.random.default_rng(3).normal(100, 5, 25_000)
    mean = RollingMean(50)
    got = []
    for value in values:
        mean.update(float(value))
        got.append(mean.value if mean.initialized else np.nan)
    expected = np.convolve(values, np.ones(50) / 50, mode="valid")
    assert np.allclose(np.array(got[49:]), expected, rtol=0, atol=1e-9)
    assert np.isnan(got[48])


def test_rolling_mean_rejects_zero_period() -> None:
    with pytest.raises(ValueError, match="period"):
        RollingMean(0)


def _quantity(mode: SizingMode, size: float, **kwargs: float | None) -> int:
    arguments: dict[str, float | None] = {"equity": 100_000, "price": 100.0, "stop_distance": 4.0}
    return order_quantity(mode=mode, size=size, **{**arguments, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "size", "kwargs", "expected"),
    [
        # risk 1 % = 1,000 / 4 = 250 shares, capped at 10 % = 100
        (SizingMode.RISK, 1.0, {}, 100),
        (SizingMode.RISK, 1.0, {"stop_distance": 20.0}, 50),  # 1,000 / 20, under the cap
        (SizingMode.RISK, 1.0, {"stop_distance": None}, 0),  # no stop, no risk budget
        (SizingMode.RISK, 1.0, {"stop_distance": 4.0, "max_position_fraction": 1.0}, 250),
        (SizingMode.PERCENT, 5.0, {}, 50),  # 5 % of 100,000 at 100
        (SizingMode.PERCENT, 100.0, {"max_position_fraction": 1.0}, 1_000),  # fully invested
        (SizingMode.PERCENT, 100.0, {}, 100),  # the 10 % cap still holds
        (SizingMode.FIXED, 30.0, {}, 30),
        (SizingMode.FIXED, 300.0, {}, 100),  # capped too
        (SizingMode.PERCENT, 5.0, {"price": 0.0}, 0),
        (SizingMode.PERCENT, 5.0, {"equity": 500.0, "price": 1_000.0}, 0),  # not one share
        # 3x gross: 295,000 open leaves 5,000 of room, 50 shares; at or past 3x, nothing.
        (SizingMode.PERCENT, 10.0, {"gross_exposure": 295_000.0}, 50),
        (SizingMode.PERCENT, 10.0, {"gross_exposure": 300_000.0}, 0),
        (SizingMode.PERCENT, 10.0, {"gross_exposure": 400_000.0}, 0),
    ],
)
def test_order_quantity_by_mode(
    mode: SizingMode, size: float, kwargs: dict[str, float | None], expected: int
) -> None:
    assert _quantity(mode, size, **kwargs) == expected


@given(
    mode=st.sampled_from(list(SizingMode)),
    size=st.floats(0.1, 300),
    equity=st.floats(1_000, 1e8),
    price=st.floats(0.01, 1e5),
    stop=st.floats(0.001, 1e3),
    cap=st.floats(0.01, 3.0),
    exposure=st.floats(0, 4e8),
)
def test_order_quantity_never_breaks_a_limit(
    mode: SizingMode,
    size: float,
    equity: float,
    price: float,
    stop: float,
    cap: float,
    exposure: float,
) -> None:
    quantity = order_quantity(
        mode=mode,
        size=size,
        equity=equity,
        price=price,
        stop_distance=stop,
        max_position_fraction=cap,
        gross_exposure=exposure,
    )
    assert quantity >= 0
    value = quantity * price
    tolerance = 1e-9 * equity
    assert value <= equity * cap + tolerance  # the position cap
    assert quantity == 0 or exposure + value <= 3 * equity + tolerance  # 3x gross
    if mode is SizingMode.RISK:
        assert quantity * stop <= equity * size / 100 + tolerance  # the risk budget
    elif mode is SizingMode.PERCENT:
        assert value <= equity * size / 100 + tolerance
    else:
        assert quantity <= size
