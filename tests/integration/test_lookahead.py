"""The look-ahead check (services/lookahead.py) in real nautilus runs on the bundled AAPL and
SPY daily bars: the built-in strategies pass, the cheating example is caught on the exact
bars it cheats on, and the signal recorder changes nothing about a run."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ntrader.core import strategy_registry
from ntrader.core.errors import UserInputError
from ntrader.core.nautilus_bars import close_times_ns
from ntrader.core.runner import EngineOutput, Fills, InstrumentBars, StrategyError, run_engine
from ntrader.core.strategies.base import SignalRecord
from ntrader.db.database import Database
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import Timeframe
from ntrader.services.backtest_service import BacktestService
from ntrader.services.lookahead import (
    _before,
    check_lookahead,
    compare_runs,
    cut_points,
    find_lookahead,
)
from ntrader.services.run_history import RunHistory
from ntrader.services.simulation import engine_settings
from ntrader.utils.timeutil import ns_to_datetime
from tests.integration.strategy_support import SPEC, daily_bars

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"
# SQLite only: the check reads the store once, like a run; PostgreSQL adds nothing here.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _config(strategy: str, *instruments: str) -> BacktestConfig:
    return BacktestConfig(
        strategy_type=strategy,
        instruments=instruments,
        start=date(2020, 1, 1),
        end=date(2020, 12, 31),
    )


@sqlite_only
def test_the_built_in_strategies_pass(database: Database) -> None:
    for strategy in ("sma_crossover", "momentum", "mean_reversion"):
        result = check_lookahead(database, _config(strategy, "AAPL", "SPY"), cuts=4)
        assert not result.biased, (strategy, result.findings[:5])
        assert len(result.cut_times) == 4
        assert result.bars == 2 * 253
        # Each cut compares every bar before it, on both instruments.
        assert result.bars_compared > 4 * 2 * 50
    # The check's runs are not backtests: none is stored.
    assert RunHistory(database).list() == []


@sqlite_only
def test_the_peeking_strategy_is_caught_on_the_last_bar_before_each_cut(
    database: Database,
) -> None:
    strategy_registry.load_path(EXAMPLES / "peeking.py")
    result = check_lookahead(database, _config("peeking", "AAPL"), cuts=5)
    assert result.biased
    bars = BacktestService(database).load(_config("peeking", "AAPL")).inputs[0]
    closes = close_times_ns(bars.spec, bars.timeframe, bars.bars.ts)
    expected = set()
    for cut in result.cut_times:
        last = int(np.searchsorted(bars.bars.ts, int(cut.timestamp() * 1e9))) - 1
        next_close = repr(float(bars.bars.close[last + 1]))
        expected.add((ns_to_datetime(int(closes[last])), cut, "next_close", next_close, "nan"))
    found = {
        (f.bar_time, f.cut_time, f.value, f.full, f.truncated)
        for f in result.findings
        if f.value != "decision"
    }
    assert found == expected
    # A decision can differ too, and only on those same bars.
    assert {(f.bar_time, f.cut_time) for f in result.findings} == {e[:2] for e in expected}


@sqlite_only
def test_the_recorder_changes_nothing_about_a_run(database: Database) -> None:
    config = _config("sma_crossover", "AAPL", "SPY")
    inputs = BacktestService(database).load(config).inputs
    kind = strategy_registry.resolve("sma_crossover")
    parameters = kind.validate({}).model_dump()
    off = run_engine(kind, parameters, inputs, engine_settings(config))
    on = run_engine(kind, parameters, inputs, engine_settings(config, record_signals=True))
    assert off.signals == {}
    assert on.trades == off.trades and len(on.trades) > 0
    for column in ("instrument_id", "ts", "signed_qty", "price", "commission"):
        np.testing.assert_array_equal(getattr(on.fills, column), getattr(off.fills, column))
    assert on.account_equity == off.account_equity
    # One record per bar, each with the strategy's indicators and the ATR.
    assert {key: len(records) for key, records in on.signals.items()} == {
        item.spec.instrument_id: len(item.bars) for item in inputs
    }
    last = on.signals[inputs[0].spec.instrument_id][-1]
    assert set(last.values) == {"atr", "fast_sma", "slow_sma"}
    decisions = {r.decision for records in on.signals.values() for r in records}
    assert decisions <= {None, "long", "short", "flat"} and "long" in decisions


@pytest.mark.parametrize("cuts", [0, -1, -(10**9)])
def test_fewer_than_one_cut_is_refused(cuts: int) -> None:
    with pytest.raises(UserInputError, match="at least 1"):
        find_lookahead(_config("sma_crossover", "TEST"), [_instrument(40)], cuts=cuts)


@sqlite_only
def test_more_cuts_than_bars_is_refused(database: Database) -> None:
    with pytest.raises(UserInputError, match="more than the 252 bars") as refused:
        check_lookahead(database, _config("sma_crossover", "AAPL"), cuts=253)
    assert "252 cuts or fewer" in (refused.value.hint or "")


def _instrument(count: int, offset: int = 0) -> InstrumentBars:
    bars = daily_bars(np.linspace(100.0, 110.0, count + offset))
    return InstrumentBars(SPEC, Timeframe.DAILY, bars.slice(offset, count + offset))


@given(bars=st.integers(2, 60), cuts=st.integers(1, 80), offset=st.integers(0, 5))
def test_cut_points_are_distinct_bar_times_every_instrument_has_bars_before(
    bars: int, cuts: int, offset: int
) -> None:
    inputs = [_instrument(bars), _instrument(bars, offset)]
    later_start = int(inputs[1].bars.ts[0])
    candidates = np.unique(np.concatenate([i.bars.ts for i in inputs]))
    candidates = candidates[candidates > later_start]
    if cuts > candidates.size:
        with pytest.raises(UserInputError, match="more than the"):
            cut_points(inputs, cuts)
        return
    points = cut_points(inputs, cuts)
    assert np.all(np.diff(points) > 0) and np.isin(points, candidates).all()
    assert np.all(points > later_start)
    # Every cut is used: as many as asked for, none lost to rounding.
    assert points.size == cuts


def test_a_cut_keeps_the_higher_bars_before_it_only() -> None:
    item = _instrument(30)
    higher = daily_bars(np.linspace(1.0, 2.0, 30))
    shortened = _before(replace(item, higher=higher), int(item.bars.ts[10]))
    assert len(shortened.bars) == 10
    assert shortened.higher is not None and len(shortened.higher) == 10


def _output(fills: list[tuple[int, float, float]], records: list[SignalRecord]) -> EngineOutput:
    def column(index: int, dtype: type) -> np.ndarray:
        return np.array([fill[index] for fill in fills], dtype=dtype)

    zeros = np.zeros(len(fills))
    return EngineOutput(
        trades=[],
        fills=Fills(
            instrument_id=np.array([SPEC.instrument_id] * len(fills), dtype=object),
            ts=column(0, np.int64),
            signed_qty=column(1, np.float64),
            price=column(2, np.float64),
            commission=zeros,
            rate=zeros + 1.0,
            realized=zeros,
            open_cost=zeros,
        ),
        account_equity={},
        open_positions={},
        engine_seconds=0.0,
        signals={SPEC.instrument_id: records},
    )


def test_fills_differ_only_before_the_shortened_runs_last_close() -> None:
    item = _instrument(10)
    shortened = replace(item, bars=item.bars.slice(0, 5))
    closes = close_times_ns(SPEC, Timeframe.DAILY, item.bars.ts)
    records = [SignalRecord(int(ts), None, {"atr": 1.0}) for ts in closes]
    cut = ns_to_datetime(int(item.bars.ts[5]))
    # The full run also fills at the last kept bar's close and later: not compared.
    full = _output([(int(closes[1]), 10.0, 101.0), (int(closes[4]), -10.0, 104.0)], records)
    same = _output([(int(closes[1]), 10.0, 101.0)], records[:5])
    assert compare_runs(full, same, [shortened], cut) == (5, [])
    # A fill before it at another price is flagged, with both runs' fills.
    moved = _output([(int(closes[1]), 10.0, 100.5)], records[:5])
    count, findings = compare_runs(full, moved, [shortened], cut)
    assert count == 5
    assert [(f.bar_time, f.value, f.full, f.truncated) for f in findings] == [
        (ns_to_datetime(int(closes[1])), "fill", "+10 @ 101", "+10 @ 100.5")
    ]
    # One missing from the shortened run is flagged as well.
    _count, findings = compare_runs(full, _output([], records[:5]), [shortened], cut)
    assert [(f.value, f.full, f.truncated) for f in findings] == [("fill", "+10 @ 101", "none")]
    # A full run that stopped recording early (its strategy stopped) is flagged too.
    stopped = _output([(int(closes[1]), 10.0, 101.0)], records[:3])
    count, findings = compare_runs(stopped, same, [shortened], cut)
    assert count == 3
    assert [(f.bar_time, f.value, f.full, f.truncated) for f in findings] == [
        (ns_to_datetime(int(closes[3])), "bars seen", "3", "5")
    ]


WORDY_STRATEGY = """
from nautilus_trader.model.data import Bar

from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.core.strategy_registry import register_strategy


class WordyConfig(SignalStrategyConfig, frozen=True):
    pass


@register_strategy(name="wordy_lookahead", config=WordyConfig)
class Wordy(SignalStrategy):
    def update_signal(self, bar: Bar) -> None:
        pass

    def signal_snapshot(self) -> dict[str, float]:
        return {"mood": "bullish"}
"""


def test_a_snapshot_that_is_not_numbers_is_the_strategys_error(tmp_path: Path) -> None:
    path = tmp_path / "wordy.py"
    path.write_text(WORDY_STRATEGY)
    strategy_registry.load_path(path)
    with pytest.raises(StrategyError, match="could not convert string to float"):
        find_lookahead(_config("wordy_lookahead", "TEST"), [_instrument(40)], cuts=2)
