from __future__ import annotations

import numpy as np
import pytest

from ntrader.core.indicators import RollingMean
from ntrader.core.sizing import risk_based_quantity


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


@pytest.mark.parametrize(
    ("equity", "price", "stop", "expected"),
    [
        (100_000, 100.0, 4.0, 100),  # risk 1 % = 1,000 / 4 = 250 shares, capped at 10 % = 100
        (100_000, 100.0, 20.0, 50),  # 1,000 / 20 = 50 shares, under the cap
        (100_000, 100.0, None, 100),  # no stop yet: the cap sizes it
        (100_000, 0.0, 1.0, 0),
        (500, 1_000.0, 1.0, 0),  # cannot afford one share within the cap
    ],
)
def test_risk_based_quantity(
    equity: float, price: float, stop: float | None, expected: int
) -> None:
    assert (
        risk_based_quantity(equity=equity, price=price, risk_fraction=0.01, stop_distance=stop)
        == expected
    )
