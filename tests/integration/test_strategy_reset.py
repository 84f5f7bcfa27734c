"""A strategy's on_reset: one BacktestEngine run, reset and run again gives the same fills,
for every built-in and the plug-in example (indicators, signal state, pending next-open
orders, stops and take-profits all start again)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ntrader.core.runner import EngineSettings, InstrumentBars, build_engine
from ntrader.core.strategy_registry import BUILTIN_TYPES, StrategyRegistry, StrategyType
from ntrader.models.enums import Timeframe
from tests.integration.strategy_support import SPEC, daily_bars, engine_fills

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"
# Next-open fills, risk sizing with a stop, a take-profit and a trailing stop: every piece
# of state SignalStrategy keeps between bars is used.
SETTINGS = EngineSettings(take_profit_r=3.0, trailing_stop_atr=2.5)


def _closes() -> np.ndarray:
    """Swings up and down with noise: every strategy here enters and exits both ways."""
    rng = np.random.default_rng(5)
    bars = np.arange(260)
    swing = 12 * np.sin(bars / 9) + 6 * np.sin(bars / 23)
    return np.round(100 + swing + rng.normal(0, 1.2, bars.size), 2)


def _kinds() -> list[StrategyType]:
    (breakout,) = StrategyRegistry().load_path(EXAMPLES / "breakout.py")
    return [*BUILTIN_TYPES, breakout]


@pytest.mark.parametrize("kind", _kinds(), ids=lambda kind: kind.name)
def test_a_reset_engine_runs_again_with_identicalengine_fills(kind: StrategyType) -> None:
    parameters = kind.validate({"allow_short": True}).model_dump()
    inputs = [InstrumentBars(spec=SPEC, timeframe=Timeframe.DAILY, bars=daily_bars(_closes()))]
    engine = build_engine(kind, parameters, inputs, SETTINGS)
    try:
        engine.run()
        first = engine_fills(engine)
        engine.reset()
        engine.run()
        again = engine_fills(engine)
    finally:
        engine.dispose()
    assert len(first) >= 6  # entries, exits, stops or targets: the state was exercised
    assert again == first
