"""A run streams its bars and opening trades into nautilus a chunk at a time: the engine must
see exactly what it sees holding them all (``build_engine``), in the same order, ties and
chunk boundaries included, and must not be sent to request any of it from a data client."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.core.data import Data

from ntrader.core import runner
from ntrader.core.runner import EngineSettings, InstrumentBars, build_engine
from ntrader.core.strategy_registry import resolve
from ntrader.models.enums import Timeframe
from ntrader.models.instrument import InstrumentSpec
from tests.integration.strategy_support import engine_fills
from tests.integration.timeframe_support import session_bars

SPEC = InstrumentSpec(symbol="TEST", venue="NASDAQ")
OTHER = InstrumentSpec(symbol="OTHER", venue="NYSE")
# Next-open fills (opening trades tie with the previous bar's close) and a daily trend filter
# (higher bars tie with the session's last minute bar): three series meet at shared times.
SMA = resolve("sma_crossover")
PARAMETERS = SMA.validate({"trend_filter_period": 3, "allow_short": True}).model_dump()
SETTINGS = EngineSettings(trailing_stop_atr=2.5)


def _inputs() -> list[InstrumentBars]:
    first = pd.Timestamp("2024-01-02")
    levels = 100 + 8 * np.sin(np.arange(12) / 2)
    return [
        InstrumentBars(SPEC, Timeframe.MINUTE_5, session_bars(levels, first, Timeframe.MINUTE_5)),
        InstrumentBars(
            OTHER, Timeframe.MINUTE_5, session_bars(levels[::-1], first, Timeframe.MINUTE_5)
        ),
    ]


def _played(data: list[Data]) -> list[tuple[str, int, str]]:
    return [(type(item).__name__, item.ts_init, repr(item)) for item in data]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """An odd chunk size, so that chunk boundaries fall between objects sharing a time."""
    monkeypatch.setattr(runner, "STREAM_CHUNK", 97)


@pytest.mark.usefixtures("small_chunks")
def test_the_stream_plays_every_object_in_the_order_of_the_whole_sorted_data() -> None:
    held = build_engine(SMA, PARAMETERS, _inputs(), SETTINGS)
    engine, _, _, series = runner._build(SMA, PARAMETERS, _inputs(), SETTINGS)
    try:
        stream = runner._Stream(series)
        streamed = [item for chunk in stream._chunks() for item in chunk]
        expected = _played(held.data)
        assert len(series) == 6  # bars, daily bars, opening trades; two instruments
        assert _played(streamed) == expected
        assert (stream.start_ns, stream.end_ns) == (expected[0][1], expected[-1][1])
    finally:
        held.dispose()
        engine.dispose()


@pytest.mark.usefixtures("small_chunks")
def test_a_streamed_engine_fills_as_the_engine_holding_its_data_and_requests_nothing() -> None:
    held = build_engine(SMA, PARAMETERS, _inputs(), SETTINGS)
    engine, _, _, series = runner._build(SMA, PARAMETERS, _inputs(), SETTINGS)
    try:
        held.run()
        stream = runner._Stream(series)
        stream.attach(engine)
        assert engine.data == []  # the objects are made as the run reaches them
        engine.run(start=stream.start_ns, end=stream.end_ns)
        assert len(engine_fills(held)) >= 10
        assert engine_fills(engine) == engine_fills(held)
        assert engine.iteration == held.iteration
        # Each series is known to the engine as its own data, so the strategies' bar
        # subscriptions are not turned into requests to the venue's (empty) data client.
        assert engine.kernel.data_engine.request_count == held.kernel.data_engine.request_count
        assert held.kernel.data_engine.request_count == 0
    finally:
        held.dispose()
        engine.dispose()
