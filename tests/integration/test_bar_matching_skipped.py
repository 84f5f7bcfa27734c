"""A run whose strategy sends market orders only, filled at the next open with nothing
resting, skips nautilus' matching of orders against bars. It must give exactly the run
that matches them: every trade, fill, equity and refusal, for each built-in strategy,
long and short, daily and minute bars (with gaps at the open), one and two instruments."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from nautilus_trader.model.enums import OrderSide

from ntrader.core import runner, strategy_registry
from ntrader.core.instrument_catalog import default_spec
from ntrader.core.runner import (
    EngineOutput,
    EngineSettings,
    InstrumentBars,
    bars_unmatched,
    run_engine,
)
from ntrader.core.strategies.sma_crossover import SmaCrossover
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Allocation, FillAt, SizingMode, Timeframe
from ntrader.models.execution import CommissionModel
from ntrader.services.csv_loader import read_bars_csv
from tests.conftest import SAMPLE_DIR

MARKET_ONLY = EngineSettings(
    commission=CommissionModel.parse("ibkr"),
    slippage_bps=5.0,
    sizing=SizingMode.PERCENT,
    position_size=10.0,
    initial_stop_atr=None,
)


def _daily(symbol: str) -> InstrumentBars:
    bars = copy.deepcopy(read_bars_csv(SAMPLE_DIR / f"{symbol}_daily.csv"))
    return InstrumentBars(spec=default_spec(symbol), timeframe=Timeframe.DAILY, bars=bars)


def _minutes(days: int = 15) -> InstrumentBars:
    """Regular-hours minute bars whose opens gap from the previous close."""
    rng = np.random.default_rng(11)
    first = datetime(2023, 3, 1, 14, 30, tzinfo=UTC)
    sessions = [first + timedelta(days=d) for d in range(days * 2)]
    sessions = [day for day in sessions if day.weekday() < 5][:days]
    ts = np.array(
        [
            int((day + timedelta(minutes=m)).timestamp()) * 10**9
            for day in sessions
            for m in range(390)
        ],
        dtype=np.int64,
    )
    close = np.round(50 * np.exp(np.cumsum(rng.normal(0, 0.001, ts.size))), 2)
    gap = rng.normal(0, 0.0005, ts.size)
    open_ = np.round(np.concatenate([[50.0], close[:-1]]) * (1 + gap), 2)
    high = np.round(np.maximum(open_, close) * (1 + rng.uniform(0, 0.0006, ts.size)), 2)
    low = np.round(np.minimum(open_, close) * (1 - rng.uniform(0, 0.0006, ts.size)), 2)
    volume = rng.integers(100, 5_000, ts.size).astype(np.float64)
    bars = BarArrays(
        ts=ts, open=open_, high=high, low=low, close=close, volume=volume, price_precision=2
    )
    return InstrumentBars(spec=default_spec("GAPS"), timeframe=Timeframe.MINUTE_1, bars=bars)


def _outcome(output: EngineOutput) -> dict[str, Any]:
    fills = output.fills
    return {
        "trades": [trade.model_dump(mode="json") for trade in output.trades],
        "fills": {name: getattr(fills, name).tolist() for name in fills.__dataclass_fields__},
        "equity": output.account_equity,
        "open": dict(output.open_positions),
        "refused": output.refused_orders,
    }


def _both_ways(
    monkeypatch: pytest.MonkeyPatch,
    strategy: str,
    parameters: dict[str, Any],
    inputs: list[InstrumentBars],
    settings: EngineSettings,
) -> tuple[dict[str, Any], dict[str, Any]]:
    kind = strategy_registry.resolve(strategy)
    chosen = kind.validate(parameters).model_dump()
    assert bars_unmatched(kind.load()[0], settings)
    # The engine writes into the bars it is given: each run gets its own copy.
    skipped = _outcome(run_engine(kind, chosen, copy.deepcopy(inputs), settings))
    with monkeypatch.context() as patched:
        patched.setattr(runner, "bars_unmatched", lambda _cls, _settings: False)
        matched = _outcome(run_engine(kind, chosen, copy.deepcopy(inputs), settings))
    return skipped, matched


@pytest.mark.parametrize(
    ("strategy", "parameters"),
    [
        ("sma_crossover", {"fast_period": 5, "slow_period": 20, "allow_short": True}),
        ("mean_reversion", {"lookback": 10, "entry_zscore": -1.0, "allow_short": True}),
        ("momentum", {"rsi_period": 7, "entry_rsi_low": 40.0, "exit_rsi_high": 60.0}),
    ],
)
def test_daily_runs_without_bar_matching_equal_those_with_it(
    monkeypatch: pytest.MonkeyPatch, strategy: str, parameters: dict[str, Any]
) -> None:
    skipped, matched = _both_ways(monkeypatch, strategy, parameters, [_daily("AAPL")], MARKET_ONLY)
    assert len(skipped["trades"]) > 5
    assert skipped == matched


def test_minute_and_shared_runs_without_bar_matching_equal_those_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parameters = {"fast_period": 8, "slow_period": 30, "allow_short": True}
    for extra in ({}, {"trend_filter_period": 3}):  # the second with daily bars beside
        skipped, matched = _both_ways(
            monkeypatch, "sma", {**parameters, **extra}, [_minutes()], MARKET_ONLY
        )
        assert len(skipped["trades"]) > 20
        assert skipped == matched
    shared = replace(MARKET_ONLY, allocation=Allocation.SHARED, sizing=SizingMode.FIXED)
    pair = [_daily("AAPL"), _daily("SPY")]
    skipped, matched = _both_ways(monkeypatch, "sma", parameters, pair, shared)
    assert len(skipped["trades"]) > 5
    assert skipped == matched


class _Subclass(SmaCrossover):
    """A plug-in's subclass: it does not say it sends market orders only."""


def test_bar_matching_is_kept_whenever_an_order_may_rest() -> None:
    sma = strategy_registry.resolve("sma").load()[0]
    assert bars_unmatched(sma, MARKET_ONLY)
    assert not bars_unmatched(sma, replace(MARKET_ONLY, initial_stop_atr=2.0))
    assert not bars_unmatched(sma, replace(MARKET_ONLY, take_profit_r=2.0))
    assert not bars_unmatched(sma, replace(MARKET_ONLY, trailing_stop_atr=3.0))
    assert not bars_unmatched(sma, replace(MARKET_ONLY, fill_at=FillAt.CLOSE))
    assert not bars_unmatched(_Subclass, MARKET_ONLY)


class _Liar(SmaCrossover):
    """Says it sends market orders only, then rests a limit."""

    market_orders_only = True

    def go_long(self, bar: Any) -> None:
        self.submit_limit(OrderSide.BUY, 10, bar.close.as_double() * 0.99)


def test_a_resting_order_in_a_run_without_bar_matching_fails_the_run() -> None:
    kind = strategy_registry.resolve("sma")
    liar = replace(kind, strategy_class=f"{__name__}:_Liar")
    parameters = kind.validate({"fast_period": 5, "slow_period": 20}).model_dump()
    with pytest.raises(Exception, match="declares market_orders_only but sent a LIMIT order"):
        run_engine(liar, parameters, [_daily("AAPL")], MARKET_ONLY)
