"""A pair quoted in another currency than the account's (USDJPY on a USD account): sizing,
commission, PnL and equity in USD, converted at the pair's own rate, and reconciled with
nautilus; a cross that would need a second pair is refused before the run."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.model.data import Bar
from sqlalchemy import func, select

from ntrader.core import strategy_registry
from ntrader.core.errors import UserInputError
from ntrader.core.instrument_catalog import default_spec
from ntrader.core.runner import EngineSettings, InstrumentBars, run_engine
from ntrader.core.strategy_registry import StrategyParams
from ntrader.db.database import Database
from ntrader.db.tables import backtest_results
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import Timeframe, TradeSide
from ntrader.models.execution import CommissionModel, CommissionType, FillAt, SizingMode
from ntrader.models.instrument import InstrumentSpec
from ntrader.services.backtest_service import BacktestService
from ntrader.services.data_service import DataService, ImportRequest
from ntrader.services.simulation import SimulationResult, simulate
from tests.integration.scripted_strategy import (
    SCRIPTED,
    Scripted,
    quiet_bars,
    to_arrays,
)
from tests.integration.strategy_support import daily_bars

USDJPY = default_spec("USDJPY")
# 0.2 bp of the trade's value in USD: 2.00 USD on 100,000 USD (charged as 220 JPY at 110).
TWO_DOLLARS = CommissionModel(type=CommissionType.PERCENTAGE, value=0.002)


class ShortScripted(Scripted):
    """Short on bar ``long_at`` (the name is the scripted strategy's), flat on ``flat_at``."""

    def update_signal(self, bar: Bar) -> None:
        self._bar += 1
        if self._bar == self.config.long_at:
            self.go_short(bar)
        elif self._bar == self.config.flat_at:
            self.go_flat()


SHORT_SCRIPTED = replace(
    SCRIPTED, name="scripted_short", strategy_class=f"{__name__}:ShortScripted"
)


def _move(before: float, after: float) -> pd.DataFrame:
    """USDJPY at ``before`` until bar 20; bar 21 opens there and closes at ``after``, where
    it stays. A signal on bar 20 enters at ``before`` (its close, or bar 21's open)."""
    frame = quiet_bars(40, before)
    frame.loc[21:, ["high", "low", "close"]] = [after + 1, after - 1, after]
    frame.loc[22:, "open"] = after
    frame.loc[21, ["high", "low"]] = [max(before, after) + 1, min(before, after) - 1]
    return frame


def _all_in_config(spec: InstrumentSpec, params: StrategyParams, fill_at: FillAt) -> BacktestConfig:
    """All of the equity (100,000 USD) in one position of ``spec``, no stop."""
    return BacktestConfig(
        strategy_type="scripted",
        parameters=params.model_dump(),
        instruments=(spec.instrument_id,),
        start=date(2023, 1, 1),
        end=date(2023, 12, 31),
        commission=TWO_DOLLARS,
        fill_at=fill_at,
        sizing=SizingMode.PERCENT,
        position_pct=100.0,
        max_position_pct=100.0,
        initial_stop_atr=None,
    )


def _run(
    fill_at: FillAt, frame: pd.DataFrame, *, short: bool = False, flat_at: int = 25
) -> SimulationResult:
    """All of the equity (100,000 USD) in one position, no stop: 100,000 USDJPY."""
    config = _all_in_config(
        USDJPY, SCRIPTED.validate({"flat_at": flat_at, "allow_short": short}), fill_at
    )
    data = replace(to_arrays(frame), price_precision=3)
    inputs = [InstrumentBars(spec=USDJPY, timeframe=Timeframe.DAILY, bars=data)]
    return simulate(config, SHORT_SCRIPTED if short else SCRIPTED, inputs)


@pytest.mark.parametrize("fill_at", [FillAt.NEXT_OPEN, FillAt.CLOSE])
@pytest.mark.parametrize(
    ("short", "before", "after"),
    [(False, 100.0, 110.0), (False, 110.0, 100.0), (True, 100.0, 110.0), (True, 110.0, 100.0)],
)
def test_a_usdjpy_round_trip_is_sized_charged_and_valued_in_usd(
    fill_at: FillAt, short: bool, before: float, after: float
) -> None:
    result = _run(fill_at, _move(before, after), short=short)
    (trade,) = result.trades
    assert trade.side is (TradeSide.SHORT if short else TradeSide.LONG)
    # 100 % of 100,000 USD: one unit of USDJPY is one USD, whatever the yen price.
    assert trade.quantity == 100_000
    assert (trade.entry_price, trade.exit_price) == (before, after)
    # 2.00 USD a side, charged in yen at the fill and converted back at the same rate.
    assert trade.commission == pytest.approx(4.0, abs=1e-9)
    # E.g. long at 100, out at 110: 100,000 x 10 JPY = 1,000,000 JPY, realised at 1/110
    # USD per JPY: 9,090.91 USD, less 4 USD of commission.
    yen = 100_000 * (after - before) * (-1 if short else 1)
    assert trade.pnl == pytest.approx(yen / after - 4.0, abs=1e-6)
    assert trade.pnl_pct == pytest.approx(trade.pnl / 100_000)
    assert result.final_equity == pytest.approx(100_000 + yen / after - 4.0, abs=1e-6)
    (venue,) = result.reconciliation
    assert venue.nautilus == pytest.approx(result.final_equity, abs=venue.tolerance)


@pytest.mark.parametrize("fill_at", [FillAt.NEXT_OPEN, FillAt.CLOSE])
def test_an_open_usdjpy_position_is_marked_at_the_last_close_rate(fill_at: FillAt) -> None:
    result = _run(fill_at, _move(100.0, 110.0), flat_at=-1)
    (trade,) = result.trades
    assert trade.is_open and trade.quantity == 100_000
    # Unrealised 1,000,000 JPY at 1/110 USD, one commission paid.
    final = 100_000 + 1_000_000 / 110 - 2.0
    assert result.final_equity == pytest.approx(final, abs=1e-6)
    # Gross exposure: 100,000 USD held (11,000,000 JPY at 1/110), over that equity.
    assert result.metrics.exposure.maximum == pytest.approx(100_000 / (100_000 - 2.0))
    (venue,) = result.reconciliation
    assert venue.open_positions == 1
    assert venue.nautilus == pytest.approx(final, abs=venue.tolerance)


@pytest.mark.parametrize("fill_at", [FillAt.NEXT_OPEN, FillAt.CLOSE])
@pytest.mark.parametrize("allow_short", [False, True])
def test_usdjpy_runs_with_slippage_and_ibkr_commission_reconcile_with_nautilus(
    fill_at: FillAt, allow_short: bool
) -> None:
    """A random walk traded both ways with every cost on: before the conversion these runs
    failed (shorts off by ~1,800 USD, longs refused by nautilus' cash account)."""
    rng = np.random.default_rng(3)
    closes = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 160))), 3)
    inputs = [
        InstrumentBars(
            spec=USDJPY,
            timeframe=Timeframe.DAILY,
            bars=replace(daily_bars(closes), price_precision=3),
        )
    ]
    kind = strategy_registry.resolve("sma_crossover")
    config = BacktestConfig(
        strategy_type=kind.name,
        parameters=kind.validate({"allow_short": allow_short}).model_dump(),
        instruments=(USDJPY.instrument_id,),
        commission=CommissionModel.parse("ibkr"),
        slippage_bps=5,
        fill_at=fill_at,
        sizing=SizingMode.PERCENT,
        position_pct=10.0,
    )
    result = simulate(config, kind, inputs)
    assert len(result.trades) >= 4
    if allow_short:
        assert any(t.side is TradeSide.SHORT for t in result.trades)
    for trade in result.trades:
        # 10 % of ~100,000 USD: ~10,000 units (one USD each), not ~100 (10,000 / 100 JPY).
        assert 9_000 <= trade.quantity <= 10_100
        # IBKR per unit: 0.005 USD x ~10,000 = ~50 USD a side.
        assert 45 <= trade.commission <= 101
        assert trade.slippage_cost > 0
    (venue,) = result.reconciliation
    assert abs(venue.ours - venue.nautilus) <= venue.tolerance


def _fx_frame(before: float, after: float, change_at: int = 21) -> pd.DataFrame:
    """Bars at ``before`` until ``change_at - 1``; bar ``change_at`` opens there and closes
    at ``after``, where the rest stay. Small wicks, for prices near 1."""
    closes = np.where(np.arange(40) < change_at, before, after)
    opens = np.concatenate([[before], closes[:-1]])
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes) + 0.01,
            "low": np.minimum(opens, closes) - 0.01,
            "close": closes,
        }
    )


EURGBP = default_spec("EURGBP")
GBPUSD = default_spec("GBPUSD")


def _fx(spec: InstrumentSpec, frame: pd.DataFrame) -> InstrumentBars:
    bars = replace(to_arrays(frame), price_precision=5)
    return InstrumentBars(spec=spec, timeframe=Timeframe.DAILY, bars=bars)


@pytest.mark.parametrize("fill_at", [FillAt.NEXT_OPEN, FillAt.CLOSE])
@pytest.mark.parametrize("flat_at", [25, -1])
def test_a_cross_converts_with_its_conversion_pair(fill_at: FillAt, flat_at: int) -> None:
    """EURGBP 0.80 -> 0.88 (bar 21), GBPUSD 1.25 -> 1.30 (bar 23): long 100,000 USD."""
    config = _all_in_config(EURGBP, SCRIPTED.validate({"flat_at": flat_at}), fill_at)
    result = simulate(
        config,
        SCRIPTED,
        [_fx(EURGBP, _fx_frame(0.80, 0.88))],
        conversions=[_fx(GBPUSD, _fx_frame(1.25, 1.30, change_at=23))],
    )
    (trade,) = result.trades
    # One EUR is 0.80 GBP = 1.00 USD at entry: 100,000 units.
    assert trade.quantity == 100_000
    # 100,000 x 0.08 GBP = 8,000 GBP, worth 10,400 USD at 1.30.
    if flat_at > 0:
        # 2.00 USD in, 0.2 bp of 114,400 USD out (2.288, charged as 1.76 GBP).
        assert trade.commission == pytest.approx(2.0 + 2.288, abs=0.01)
        assert trade.pnl == pytest.approx(10_400 - trade.commission, abs=1e-6)
        assert result.final_equity == pytest.approx(100_000 + trade.pnl, abs=1e-6)
    else:
        assert trade.is_open
        assert result.final_equity == pytest.approx(100_000 + 10_400 - 2.0, abs=1e-6)
    (venue,) = result.reconciliation
    assert abs(venue.ours - venue.nautilus) <= venue.tolerance


def _import(database: Database, tmp_path: Path, symbol: str, closes: np.ndarray) -> None:
    days = pd.bdate_range("2023-01-02", periods=closes.size)
    csv = tmp_path / f"{symbol}.csv"
    pd.DataFrame(
        # Rounded: the loader refuses float noise such as 0.8016000000000001.
        {"Date": days.strftime("%Y-%m-%d"), "Open": closes, "High": np.round(closes * 1.002, 5)}
        | {"Low": np.round(closes * 0.998, 5), "Close": closes, "Volume": 1000}
    ).to_csv(csv, index=False)
    DataService(database).import_csv(ImportRequest(file=csv, instrument=symbol))


def _runs(database: Database) -> Any:
    with database.transaction() as repos:
        return repos.connection.execute(select(func.count()).select_from(backtest_results)).scalar()


CROSS = BacktestConfig(
    strategy_type="sma",
    parameters={"fast_period": 5, "slow_period": 20},
    instruments=("EURGBP",),
    start=date(2023, 1, 1),
    end=date(2023, 12, 31),
    sizing=SizingMode.PERCENT,
    position_pct=10.0,
)


def test_a_cross_without_its_conversion_pair_is_refused_before_the_run_is_stored(
    empty_database: Database, tmp_path: Path
) -> None:
    _import(empty_database, tmp_path, "EURGBP", np.full(60, 0.85))
    with pytest.raises(UserInputError) as caught:
        BacktestService(empty_database).run(CROSS)
    assert caught.value.message == (
        "EURGBP is quoted in GBP; import GBPUSD (or USDGBP) DAILY bars to convert it to USD"
    )
    assert caught.value.exit_code == 1
    assert caught.value.hint is not None and "ntrader data import" in caught.value.hint
    assert _runs(empty_database) == 0
    with pytest.raises(UserInputError, match="EURGBP is quoted in GBP"):
        run_engine(
            SCRIPTED,
            SCRIPTED.validate({}).model_dump(),
            [_fx(EURGBP, _fx_frame(1, 1))],
            EngineSettings(),
        )


def test_a_cross_runs_on_the_stored_conversion_pair(
    empty_database: Database, tmp_path: Path
) -> None:
    rng = np.random.default_rng(11)
    _import(
        empty_database,
        tmp_path,
        "EURGBP",
        np.round(0.85 * np.exp(np.cumsum(rng.normal(0, 0.005, 120))), 5),
    )
    _import(
        empty_database,
        tmp_path,
        "GBPUSD",
        np.round(1.25 * np.exp(np.cumsum(rng.normal(0, 0.005, 120))), 5),
    )
    outcome = BacktestService(empty_database).run(CROSS)
    assert outcome.result.trades
    for trade in outcome.result.trades:
        # 10 % of ~100,000 USD at ~1.06 USD per EUR: ~9,400 units, not 10,000 / 0.85.
        assert 8_000 <= trade.quantity <= 10_500
    (venue,) = outcome.result.reconciliation
    assert abs(venue.ours - venue.nautilus) <= venue.tolerance
    assert _runs(empty_database) == 1
