"""Backtests with a daily trend filter on stored 5-minute bars, on SQLite and PostgreSQL:
stored daily bars are used when they cover the run, aggregated ones otherwise, and a
filter on a daily run is refused before anything is written."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from ntrader.core.errors import UserInputError
from ntrader.core.runner import InstrumentBars
from ntrader.core.strategy_registry import resolve
from ntrader.db.database import Database
from ntrader.db.tables import backtest_configurations, backtest_results
from ntrader.models.backtest import BacktestConfig
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe
from ntrader.models.execution import FillAt, SizingMode
from ntrader.models.instrument import InstrumentSpec
from ntrader.services.backtest_service import BacktestService, fingerprint
from ntrader.services.simulation import SimulationResult, simulate
from tests.integration.timeframe_support import session_bars, stored_daily

SPEC = InstrumentSpec(symbol="TEST", venue="NASDAQ")
# 32 sessions (a backtest needs 30 trading days) whose daily trend turns every few days.
LEVELS = 100 + 4 * np.sin(np.arange(32) / 2.5)
FIVE_MINUTES = session_bars(LEVELS, pd.Timestamp("2024-02-01"), Timeframe.MINUTE_5)
# A vendor's daily bars disagree with the 5-minute ones (another close auction): every
# close 3 above, enough to flip the trend on some days, so the runs tell which was used.
VENDOR_DAILY = stored_daily(FIVE_MINUTES)
VENDOR_DAILY = BarArrays(
    ts=VENDOR_DAILY.ts,
    open=VENDOR_DAILY.open,
    high=VENDOR_DAILY.high + 3.0,
    low=VENDOR_DAILY.low,
    close=np.round(VENDOR_DAILY.close + np.where(np.arange(32) % 3 == 0, 3.0, 0.0), 2),
    volume=VENDOR_DAILY.volume,
    price_precision=2,
)
PARAMETERS = {"fast_period": 5, "slow_period": 20, "trend_filter_period": 3}


def _config(**overrides: object) -> BacktestConfig:
    values: dict[str, object] = {
        "strategy_type": "sma_crossover",
        "parameters": PARAMETERS,
        "instruments": (SPEC.instrument_id,),
        "start": date(2024, 2, 1),
        "end": date(2024, 3, 31),
        "timeframe": Timeframe.MINUTE_5,
        "fill_at": FillAt.CLOSE,
        "sizing": SizingMode.PERCENT,
        "position_pct": 10.0,
    }
    values.update(overrides)
    return BacktestConfig(**values)


def _database(url: str, daily: BarArrays | None) -> Database:
    database = Database(url)
    with database.transaction() as repos:
        stored = repos.instruments.add(SPEC)
        repos.bars.insert(stored, Timeframe.MINUTE_5, FIVE_MINUTES)
        if daily is not None:
            repos.bars.insert(stored, Timeframe.DAILY, daily)
    return database


def _direct(higher: BarArrays | None) -> tuple[SimulationResult, InstrumentBars]:
    """The same run without the store, on the daily bars given (None: aggregated)."""
    config = _config()
    kind = resolve("sma_crossover")
    config = config.model_copy(update={"parameters": kind.validate(PARAMETERS).model_dump()})
    inputs = InstrumentBars(
        spec=SPEC, timeframe=Timeframe.MINUTE_5, bars=FIVE_MINUTES, higher=higher
    )
    return simulate(config, kind, [inputs]), inputs


def _count(database: Database, table: object) -> int:
    with database.transaction() as repos:
        return int(repos.connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_stored_daily_bars_covering_the_run_are_the_ones_used(database_url: str) -> None:
    database = _database(database_url, VENDOR_DAILY)
    try:
        outcome = BacktestService(database).run(_config())
    finally:
        database.dispose()
    vendor, vendor_inputs = _direct(VENDOR_DAILY)
    aggregated, _ = _direct(None)
    assert vendor.trades != aggregated.trades  # the two sources lead to different runs
    assert outcome.result.trades == vendor.trades
    assert outcome.run.data_fingerprint == fingerprint([vendor_inputs])
    assert not any("aggregated" in warning for warning in outcome.warnings)


def test_stored_daily_bars_with_a_gap_are_replaced_by_aggregated_ones(
    database_url: str,
) -> None:
    gap = np.arange(len(VENDOR_DAILY)) != 10
    partial = BarArrays(
        ts=VENDOR_DAILY.ts[gap],
        open=VENDOR_DAILY.open[gap],
        high=VENDOR_DAILY.high[gap],
        low=VENDOR_DAILY.low[gap],
        close=VENDOR_DAILY.close[gap],
        volume=VENDOR_DAILY.volume[gap],
        price_precision=2,
    )
    database = _database(database_url, partial)
    try:
        outcome = BacktestService(database).run(_config())
    finally:
        database.dispose()
    aggregated, inputs = _direct(None)
    assert outcome.result.trades == aggregated.trades
    assert outcome.run.data_fingerprint == fingerprint([inputs])
    assert (
        "The stored DAILY bars of TEST.NASDAQ miss some of the run's periods; the strategy's "
        "DAILY bars are aggregated from the 5MIN bars instead." in outcome.warnings
    )


def test_a_trend_filter_on_a_daily_run_is_refused_before_anything_is_stored(
    database_url: str,
) -> None:
    database = _database(database_url, VENDOR_DAILY)
    try:
        with pytest.raises(UserInputError) as caught:
            BacktestService(database).run(_config(timeframe=Timeframe.DAILY))
        assert caught.value.message == (
            "The strategy needs DAILY bars as its higher timeframe, but the run's timeframe "
            "is DAILY; the higher timeframe must be longer than the run's."
        )
        assert _count(database, backtest_results) == 0
        assert _count(database, backtest_configurations) == 0
    finally:
        database.dispose()
