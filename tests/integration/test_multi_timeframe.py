"""A daily timeframe beside 1-minute bars, in real nautilus runs: aggregated from the
minutes or read from stored daily bars, a daily bar is seen only once its session has
closed, and the SMA crossover's trend filter enters only with the daily trend."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.data import Bar

from ntrader.core.errors import UserInputError
from ntrader.core.nautilus_bars import close_times_ns
from ntrader.core.runner import InstrumentBars
from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.core.strategy_registry import StrategyRegistry, StrategyType, resolve
from ntrader.models.backtest import BacktestConfig
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe
from ntrader.models.execution import CommissionModel, FillAt, SizingMode
from ntrader.models.instrument import InstrumentSpec
from ntrader.services.simulation import SimulationResult, simulate
from tests.integration.timeframe_support import (
    ZONE,
    bars_per_session,
    session_bars,
    stored_daily,
)

SPEC = InstrumentSpec(symbol="TEST", venue="NASDAQ")
FAST, SLOW, TREND = 5, 20, 2
# Daily levels: up, up, down, down, down, up, up. Eight sessions across the switch to
# daylight saving time (2024-03-10), when the 16:00 close moves from 21:00 to 20:00 UTC.
LEVELS = np.array([100.0, 102.0, 104.0, 103.0, 101.0, 99.0, 101.0, 104.0])
SESSIONS = pd.bdate_range("2024-03-04", periods=LEVELS.size)
MINUTES_PER_SESSION = bars_per_session(Timeframe.MINUTE_1)


def _minute_bars() -> BarArrays:
    return session_bars(LEVELS, SESSIONS[0], Timeframe.MINUTE_1)


# What the recording strategy saw: (time of the 1-minute bar, close time of the last daily
# bar it had been given, or 0 before the first).
SEEN: list[tuple[int, int]] = []


class RecorderConfig(SignalStrategyConfig, frozen=True):
    def higher_timeframe(self) -> Timeframe | None:
        return Timeframe.DAILY


class Recorder(SignalStrategy):
    """Trades nothing; notes the last daily bar it has been given at every 1-minute bar."""

    def __init__(self, config: RecorderConfig) -> None:
        super().__init__(config)
        self._last_daily = 0

    def on_higher_bar(self, bar: Bar) -> None:
        self._last_daily = bar.ts_event

    def update_signal(self, bar: Bar) -> None:
        SEEN.append((self.clock.timestamp_ns(), self._last_daily))


RECORDER = StrategyType(
    name="recorder",
    aliases=(),
    description="",
    strategy_class=f"{__name__}:Recorder",
    config_class=f"{__name__}:RecorderConfig",
)


def _run(
    kind: StrategyType,
    parameters: dict[str, Any],
    inputs: InstrumentBars,
    fill_at: FillAt = FillAt.CLOSE,
) -> SimulationResult:
    config = BacktestConfig(
        strategy_type=kind.name,
        parameters=kind.validate(parameters).model_dump(),
        instruments=(SPEC.instrument_id,),
        start=date(2024, 3, 1),
        end=date(2024, 3, 31),
        timeframe=Timeframe.MINUTE_1,
        commission=CommissionModel(value=0.0),
        fill_at=fill_at,
        sizing=SizingMode.PERCENT,
        position_pct=10.0,
    )
    return simulate(config, kind, [inputs])


def _inputs(stored: bool) -> InstrumentBars:
    minutes = _minute_bars()
    return InstrumentBars(
        spec=SPEC,
        timeframe=Timeframe.MINUTE_1,
        bars=minutes,
        higher=stored_daily(minutes) if stored else None,
    )


@pytest.mark.parametrize("stored", [False, True], ids=["aggregated", "stored"])
def test_a_daily_bar_is_seen_only_after_its_session_closed(stored: bool) -> None:
    SEEN.clear()
    _run(RECORDER, {}, _inputs(stored))
    minutes = _minute_bars()
    now = close_times_ns(SPEC, Timeframe.MINUTE_1, minutes.ts)
    assert [t for t, _ in SEEN] == now.tolist()
    session_closes = close_times_ns(SPEC, Timeframe.DAILY, stored_daily(minutes).ts)
    assert session_closes[0] == pd.Timestamp("2024-03-04 16:00", tz=ZONE).value
    assert session_closes[-1] == pd.Timestamp("2024-03-13 16:00", tz=ZONE).value
    session = np.repeat(np.arange(LEVELS.size), MINUTES_PER_SESSION)
    for (time, daily), day in zip(SEEN, session, strict=True):
        assert daily <= time
        # Through its last minute (16:00 itself), day D sees the close of day D-1 only.
        assert daily == (session_closes[day - 1] if day > 0 else 0)


def test_aggregated_and_stored_daily_bars_give_the_same_run() -> None:
    SEEN.clear()
    _run(RECORDER, {}, _inputs(stored=False))
    aggregated, SEEN[:] = list(SEEN), []
    _run(RECORDER, {}, _inputs(stored=True))
    assert aggregated == SEEN
    sma = resolve("sma_crossover")
    parameters = {
        "fast_period": FAST,
        "slow_period": SLOW,
        "trend_filter_period": TREND,
        "allow_short": True,
    }
    runs = [_run(sma, parameters, _inputs(stored)) for stored in (False, True)]
    assert runs[0].trades == runs[1].trades
    assert runs[0].metrics == runs[1].metrics


def _expected_trades(allow_short: bool) -> tuple[list[tuple[str, int, int | None]], int]:
    """The SMA crossover with the daily trend filter, written out independently: pandas
    SMAs on the minute closes, and at each crossing the daily SMA(TREND) of the sessions
    closed strictly before that minute (a session's daily bar follows its 16:00 minute).
    Returns the round trips and how many entries the filter blocked."""
    minutes = _minute_bars()
    closes = pd.Series(minutes.close)
    diff = (closes.rolling(FAST).mean() - closes.rolling(SLOW).mean()).to_numpy()
    assert np.nanmin(np.abs(diff)) > 1e-6  # no crossing sits on float noise
    daily_closes = stored_daily(minutes).close
    session = np.repeat(np.arange(LEVELS.size), MINUTES_PER_SESSION)
    trades: list[tuple[str, int, int | None]] = []
    position, previous, blocked = 0, 0.0, 0
    for bar in range(SLOW - 1, closes.size):
        state = np.sign(diff[bar])
        crossed = previous != 0 and state != previous
        previous = state
        if not crossed:
            continue
        seen = daily_closes[: session[bar]]
        trend = np.sign(seen[-1] - seen[-TREND:].mean()) if seen.size >= TREND else 0.0
        wanted = 1 if state > 0 else -1
        allowed = trend == wanted and (wanted == 1 or allow_short)
        blocked += int(trend != wanted and (wanted == 1 or allow_short))
        target = wanted if allowed else 0 if position == -wanted else position
        if target != position:
            if position != 0:
                side, entry, _ = trades[-1]
                trades[-1] = (side, entry, bar)
            if target != 0:
                trades.append(("LONG" if target == 1 else "SHORT", bar, None))
            position = target
    return trades, blocked


@pytest.mark.parametrize("allow_short", [False, True])
def test_trend_filter_enters_only_with_the_daily_trend(allow_short: bool) -> None:
    parameters = {
        "fast_period": FAST,
        "slow_period": SLOW,
        "trend_filter_period": TREND,
        "allow_short": allow_short,
    }
    result = _run(resolve("sma_crossover"), parameters, _inputs(stored=False))
    expected, blocked = _expected_trades(allow_short)
    assert _traded(result) == sorted(expected)
    # Not vacuous: the filter let some entries through and held others back.
    assert len(expected) >= 5 and blocked >= 5
    assert {side for side, _, _ in expected} == ({"LONG", "SHORT"} if allow_short else {"LONG"})


def _traded(result: SimulationResult) -> list[tuple[str, int, int | None]]:
    """The engine's round trips as (side, entry minute, exit minute or None)."""
    minutes = _minute_bars()
    index = {int(t): i for i, t in enumerate(close_times_ns(SPEC, Timeframe.MINUTE_1, minutes.ts))}

    def bar_of(when: Any) -> int:
        return index[pd.Timestamp(when).value]

    return sorted(
        (
            trade.side.value,
            bar_of(trade.entry_time),
            None if trade.exit_time is None else bar_of(trade.exit_time),
        )
        for trade in result.trades
    )


def test_with_next_open_fills_the_same_decisions_fill_at_the_following_open() -> None:
    """The daily bars change no fill: orders decided on a minute fill at the next minute's
    open (the next session's first one after 16:00), the same decisions as at the close."""
    parameters = {
        "fast_period": FAST,
        "slow_period": SLOW,
        "trend_filter_period": TREND,
        "allow_short": True,
    }
    kind = resolve("sma_crossover")
    at_close = _traded(_run(kind, parameters, _inputs(stored=False)))
    result = _run(kind, parameters, _inputs(stored=True), FillAt.NEXT_OPEN)
    minutes = _minute_bars()
    by_open = {int(t): i for i, t in enumerate(minutes.ts)}

    def decided_at(when: Any) -> int:
        return by_open[pd.Timestamp(when).value] - 1

    next_open = sorted(
        (
            trade.side.value,
            decided_at(trade.entry_time),
            None if trade.exit_time is None else decided_at(trade.exit_time),
        )
        for trade in result.trades
    )
    assert next_open == at_close
    for trade in result.trades:
        assert trade.entry_price == minutes.open[decided_at(trade.entry_time) + 1]


EXAMPLE = Path(__file__).resolve().parents[2] / "examples/strategies/daily_trend_pullback.py"


def test_the_documented_multi_timeframe_example_trades_its_rule() -> None:
    """examples/strategies/daily_trend_pullback.py (shown in docs/strategies.md), loaded as
    ``--strategy-path`` loads it, against its rule written out with pandas."""
    (kind,) = StrategyRegistry().load_path(EXAMPLE)
    assert kind.name == "daily_trend_pullback"
    pullback, trend = 30, 2
    result = _run(kind, {"pullback_period": pullback, "trend_period": trend}, _inputs(False))
    minutes = _minute_bars()
    closes = minutes.close
    mean = pd.Series(closes).rolling(pullback).mean().to_numpy()
    assert np.nanmin(np.abs(closes - mean)) > 1e-6  # no decision sits on float noise
    daily_closes = stored_daily(minutes).close
    session = np.repeat(np.arange(LEVELS.size), MINUTES_PER_SESSION)
    expected: list[tuple[str, int, int | None]] = []
    for bar in range(pullback - 1, closes.size):
        seen = daily_closes[: session[bar]]  # sessions closed before this minute
        uptrend = seen.size >= trend and seen[-1] > seen[-trend:].mean()
        long = bool(expected) and expected[-1][2] is None
        if long and (closes[bar] > mean[bar] or not uptrend):
            expected[-1] = ("LONG", expected[-1][1], bar)
        elif not long and uptrend and closes[bar] < mean[bar]:
            expected.append(("LONG", bar, None))
    assert _traded(result) == expected
    assert len(expected) >= 10
    # Entries only in the sessions after a higher daily close (LEVELS rise into sessions
    # 1, 2 and 6, which sessions 2, 3 and 7 see), none in the falling stretch between.
    assert {int(session[entry]) for _, entry, _ in expected} == {2, 3, 7}


def test_the_docs_show_the_example_as_it_is() -> None:
    """Every line of docs/strategies.md's multi-timeframe code block is in the tested file."""
    docs = (EXAMPLE.parents[2] / "docs" / "strategies.md").read_text()
    section = docs.split("### Multiple timeframes", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    source = EXAMPLE.read_text()
    lines = [line.split("  #")[0].rstrip() for line in block.splitlines() if line.strip()]
    assert len(lines) > 20
    assert [line for line in lines if line not in source] == []


def test_a_higher_timeframe_must_be_longer_than_the_runs() -> None:
    daily = InstrumentBars(spec=SPEC, timeframe=Timeframe.DAILY, bars=stored_daily(_minute_bars()))
    with pytest.raises(UserInputError, match="higher timeframe must be longer than the run's"):
        _run(resolve("sma_crossover"), {"trend_filter_period": 2}, daily)
