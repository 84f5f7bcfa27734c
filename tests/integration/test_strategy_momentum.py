"""RSI momentum in real nautilus runs, on closes whose RSI levels are known in advance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ntrader.core import strategy_registry
from ntrader.core.errors import UserInputError
from tests.integration.strategy_support import (
    assert_filled_at_closes,
    daily_bars,
    distance_to,
    run,
    simulate_bands,
    traded,
)


def _closes() -> np.ndarray:
    """Four noisy legs (down, up, down, up) of 25-30 bars: the RSI visits both extremes."""
    rng = np.random.default_rng(7)
    legs = [(-0.6, 25), (0.7, 25), (-0.5, 25), (0.6, 30)]
    steps = np.concatenate([drift + rng.normal(0.0, 0.9, count) for drift, count in legs])
    return np.round(100 + np.cumsum(steps), 2)


def _rsi(closes: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RSI (0-100) by pandas: gains and losses smoothed with alpha = 1/period,
    starting from the first bar's zero change; defined once ``period`` bars are in."""
    change = pd.Series(closes).diff().fillna(0.0)
    gain = change.clip(lower=0).ewm(alpha=1 / period, adjust=False).mean().to_numpy()
    loss = (-change.clip(upper=0)).ewm(alpha=1 / period, adjust=False).mean().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(loss == 0, 100.0, 100.0 - 100.0 / (1.0 + gain / loss))
    value[: period - 1] = np.nan
    return value


@pytest.mark.parametrize(
    ("period", "low", "high", "allow_short", "expected_sides"),
    [
        (14, 30.0, 70.0, False, ["LONG", "LONG"]),  # the SPEC defaults
        (14, 30.0, 70.0, True, ["LONG", "SHORT", "LONG", "SHORT"]),  # reversing at extremes
        (5, 20.0, 80.0, False, None),  # a faster, wider RSI
        (5, 20.0, 80.0, True, None),
    ],
)
def test_enters_and_exits_on_the_bars_the_rsi_says(
    period: int, low: float, high: float, allow_short: bool, expected_sides: list[str] | None
) -> None:
    closes = _closes()
    rsi = _rsi(closes, period)
    assert distance_to(rsi, low, high, 100 - low, 100 - high) > 1e-3
    expected = simulate_bands(rsi, low, high, 100 - low, 100 - high, allow_short=allow_short)
    if expected_sides is not None:
        assert [side for side, _, _ in expected] == expected_sides
    else:
        assert len(expected) >= 2

    result = run(
        "rsi",
        {
            "rsi_period": period,
            "entry_rsi_low": low,
            "exit_rsi_high": high,
            "allow_short": allow_short,
        },
        daily_bars(closes),
    )

    assert traded(result) == expected
    assert_filled_at_closes(result)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"entry_rsi_low": 70, "exit_rsi_high": 30}, "entry_rsi_low .* must be less than"),
        ({"entry_rsi_low": 0}, "entry_rsi_low"),
        ({"exit_rsi_high": 100}, "exit_rsi_high"),
        ({"rsi_period": 1}, "rsi_period"),
        ({"entry_rsi_low": 55, "exit_rsi_high": 80, "allow_short": True}, "below 50"),
    ],
)
def test_bad_parameters_are_refused(parameters: dict[str, object], message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        strategy_registry.resolve("momentum").validate(parameters)


def test_defaults_are_the_spec_ones() -> None:
    params = strategy_registry.resolve("MOMENTUM").validate({})
    assert params.model_dump() == {
        "allow_short": False,
        "rsi_period": 14,
        "entry_rsi_low": 30.0,
        "exit_rsi_high": 70.0,
    }
