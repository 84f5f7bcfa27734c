"""Mean reversion in real nautilus runs, on closes whose z-scores are known in advance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ntrader.core import strategy_registry
from ntrader.core.errors import UserInputError
from ntrader.models.enums import TradeSide
from tests.integration.strategy_support import (
    assert_filled_at_closes,
    daily_bars,
    distance_to,
    run,
    simulate_bands,
    traded,
)

LOOKBACK = 10


def _closes() -> np.ndarray:
    """Calm wiggles around 100, a plunge that recovers, calm, a spike that fades, calm."""
    calm = [
        100 + 0.8 * np.sin(np.arange(n) * step + phase)
        for n, step, phase in ((30, 1.3, 0.0), (12, 1.1, 0.5), (12, 0.9, 1.0))
    ]
    plunge = [97.0, 96.5, 97.5, 99.4, 100.2, 100.9, 100.4]
    spike = [103.2, 103.9, 103.0, 101.5, 99.8, 99.1, 99.6]
    return np.round(np.concatenate([calm[0], plunge, calm[1], spike, calm[2]]), 2)


def _zscores(closes: np.ndarray) -> np.ndarray:
    """z-score of each close against the last LOOKBACK closes, by pandas (sample std)."""
    series = pd.Series(closes)
    window = series.rolling(LOOKBACK)
    return ((series - window.mean()) / window.std()).to_numpy()


@pytest.mark.parametrize(
    ("entry", "exit_", "allow_short", "expected_sides"),
    [
        (-2.0, 0.0, False, ["LONG"]),  # the SPEC defaults: only the plunge is extreme enough
        (-2.0, 0.0, True, ["LONG", "SHORT"]),  # and the spike, mirrored
        (-1.0, 0.5, False, None),  # looser bands: many round trips
        (-1.0, 0.5, True, None),
    ],
)
def test_enters_and_exits_on_the_bars_the_zscore_says(
    entry: float, exit_: float, allow_short: bool, expected_sides: list[str] | None
) -> None:
    closes = _closes()
    z = _zscores(closes)
    assert distance_to(z, entry, exit_, -entry, -exit_) > 1e-3
    expected = simulate_bands(z, entry, exit_, -entry, -exit_, allow_short=allow_short)
    if expected_sides is not None:
        assert [side for side, _, _ in expected] == expected_sides
    else:
        assert len(expected) >= 4

    result = run(
        "mean_reversion",
        {
            "lookback": LOOKBACK,
            "entry_zscore": entry,
            "exit_zscore": exit_,
            "allow_short": allow_short,
        },
        daily_bars(closes),
    )

    assert traded(result) == expected
    assert_filled_at_closes(result)


def test_short_round_trip_pnl_and_final_equity() -> None:
    closes = _closes()
    result = run("mean_reversion", {"lookback": LOOKBACK, "allow_short": True}, daily_bars(closes))
    shorts = [t for t in result.result.trades if t.side is TradeSide.SHORT]
    assert len(shorts) == 1
    short = shorts[0]
    # Without costs a short earns exactly quantity times the fall in price.
    assert short.pnl == pytest.approx(short.quantity * (short.entry_price - short.exit_price))
    assert short.pnl > 0
    closed_pnl = sum(t.pnl for t in result.result.trades if not t.is_open)
    assert result.result.final_equity == pytest.approx(100_000 + closed_pnl)


def test_no_signal_while_the_window_is_flat() -> None:
    # Twelve identical closes have no standard deviation: no z-score, no trade, even
    # though the next plunge would be infinitely many deviations away.
    closes = np.concatenate([np.full(12, 100.0), [95.0, 96.0, 99.0, 101.0]])
    result = run("mean_reversion", {"lookback": LOOKBACK}, daily_bars(closes))
    expected = simulate_bands(_zscores(closes), -2.0, 0.0, 2.0, 0.0, allow_short=False)
    assert len(expected) == 1  # the plunge, once the window has spread
    assert traded(result) == expected


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"entry_zscore": 0.5, "exit_zscore": 0.0}, "entry_zscore .* must be less than"),
        ({"lookback": 1}, "lookback"),
        ({"entry_zscore": 0.2, "exit_zscore": 0.5, "allow_short": True}, "must be negative"),
        ({"entry_z": -2}, "unknown parameter"),
    ],
)
def test_bad_parameters_are_refused(parameters: dict[str, object], message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        strategy_registry.resolve("meanrev").validate(parameters)


def test_defaults_are_the_spec_ones() -> None:
    params = strategy_registry.resolve("MEAN_REVERSION").validate({})
    assert params.model_dump() == {
        "allow_short": False,
        "lookback": 20,
        "entry_zscore": -2.0,
        "exit_zscore": 0.0,
    }
