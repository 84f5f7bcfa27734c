"""The custom-strategy example (examples/strategies/breakout.py), loaded from its file the way
``--strategy-path`` loads it, in real nautilus runs on bars whose breakouts are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ntrader.core.errors import UserInputError
from ntrader.core.strategy_registry import StrategyRegistry, StrategyType
from tests.integration.strategy_support import assert_filled_at_closes, daily_bars, run, traded

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"
ENTRY, EXIT = 8, 4


@pytest.fixture(scope="module")
def breakout() -> StrategyType:
    registry = StrategyRegistry()
    (kind,) = registry.load_path(EXAMPLES / "breakout.py")
    assert registry.resolve("breakout") is kind
    return kind


def _closes() -> np.ndarray:
    """A range, a rally out of it, a slide back, a range, a slump, a recovery."""
    rng = np.random.default_rng(11)
    legs = [(0.0, 20), (0.9, 15), (-0.9, 15), (0.0, 15), (-0.9, 15), (0.9, 15)]
    steps = np.concatenate([drift + rng.normal(0.0, 0.5, count) for drift, count in legs])
    return np.round(100 + np.cumsum(steps), 2)


def _expected(closes: np.ndarray, allow_short: bool) -> list[tuple[str, int, int | None]]:
    """Channels of the *previous* bars' highs and lows by pandas; the rule written out."""
    data = daily_bars(closes)
    highs, lows = pd.Series(data.high), pd.Series(data.low)
    entry_high = highs.rolling(ENTRY).max().shift(1).to_numpy()
    entry_low = lows.rolling(ENTRY).min().shift(1).to_numpy()
    exit_high = highs.rolling(EXIT).max().shift(1).to_numpy()
    exit_low = lows.rolling(EXIT).min().shift(1).to_numpy()
    trades: list[tuple[str, int, int | None]] = []
    position = 0
    for bar in range(ENTRY, closes.size):
        close = closes[bar]
        target = position
        if close > entry_high[bar]:
            target = 1
        elif allow_short and close < entry_low[bar]:
            target = -1
        elif (position == 1 and close < exit_low[bar]) or (
            position == -1 and close > exit_high[bar]
        ):
            target = 0
        if target != position:
            if position:
                trades[-1] = (trades[-1][0], trades[-1][1], bar)
            if target:
                trades.append(("LONG" if target == 1 else "SHORT", bar, None))
            position = target
    return trades


@pytest.mark.parametrize("allow_short", [False, True])
def test_breakouts_enter_and_exit_on_the_expected_bars(
    breakout: StrategyType, allow_short: bool
) -> None:
    closes = _closes()
    expected = _expected(closes, allow_short)
    sides = {side for side, _, _ in expected}
    assert sides == ({"LONG", "SHORT"} if allow_short else {"LONG"})

    result = run(
        breakout,
        {"entry_period": ENTRY, "exit_period": EXIT, "allow_short": allow_short},
        daily_bars(closes),
    )

    assert traded(result) == expected
    assert_filled_at_closes(result)


def test_its_parameters_are_validated(breakout: StrategyType) -> None:
    assert breakout.validate({}).model_dump() == {
        "allow_short": False,
        "entry_period": 20,
        "exit_period": 10,
    }
    with pytest.raises(UserInputError, match=r"exit_period .* must not exceed"):
        breakout.validate({"entry_period": 5, "exit_period": 10})
