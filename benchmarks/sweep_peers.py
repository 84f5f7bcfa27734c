"""One contender of the "sweep" benchmark, run as its own process so its wall time and peak
memory are its own: the 90-point SMA crossover grid (fast 5..50 step 5 x slow 20..200 step
20, fast < slow) on seeded 1-minute bars (datagen.py).

    python benchmarks/sweep_peers.py ntrader DAYS       # screen + top 5 through nautilus
    python benchmarks/sweep_peers.py backtesting DAYS   # backtesting.py Backtest.optimize
    python benchmarks/sweep_peers.py vectorbt DAYS      # vectorbt, vectorised
    python benchmarks/sweep_peers.py pool WORKERS RUNS DAYS  # engine runs on the local executor

backtesting and vectorbt come from the ``bench`` dependency group
(``uv run --group bench ...``). Prints one JSON object: the best point and the work done.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from datagen import random_walk_bars, rth_minutes, trading_days

from ntrader.core.instrument_catalog import default_spec
from ntrader.core.nautilus_bars import close_times_ns
from ntrader.core.runner import InstrumentBars
from ntrader.models.backtest import BacktestConfig
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe
from ntrader.models.execution import CommissionModel, SizingMode
from ntrader.utils.sessions import new_york_days

SYMBOL = "BENCH"
YEAR = 2023
GRID = [(fast, slow) for fast in range(5, 51, 5) for slow in range(20, 201, 20) if fast < slow]
CONFIRM_TOP = 5


def minute_bars(days: int) -> BarArrays:
    return random_walk_bars(rth_minutes(trading_days(YEAR, days)), seed=3)


def base_config() -> BacktestConfig:
    """Percent sizing, no stop: what the screen reproduces exactly (and the peers model)."""
    return BacktestConfig(
        strategy_type="sma_crossover",
        instruments=(SYMBOL,),
        start=date(YEAR, 1, 1),
        end=date(YEAR, 12, 31),
        timeframe=Timeframe.MINUTE_1,
        sizing=SizingMode.PERCENT,
        position_pct=10.0,
        commission=CommissionModel(value=1.0),
    )


def _shared(bars: BarArrays) -> Any:
    from ntrader.services.simulation import annualised
    from ntrader.services.sweep_executors import SharedInputs

    config = base_config()
    inputs = [InstrumentBars(spec=default_spec(SYMBOL), timeframe=config.timeframe, bars=bars)]
    return SharedInputs(inputs, [], None, annualised(config, inputs))


def _tasks(points: list[dict[str, Any]]) -> list[Any]:
    from ntrader.services.sweep_executors import PointTask

    config = base_config()
    return [
        PointTask(index, config.model_copy(update={"parameters": point}))
        for index, point in enumerate(points)
    ]


def _run_on(executor: Any, bars: BarArrays, points: list[dict[str, Any]]) -> list[Any]:
    outcomes = list(executor.run(_shared(bars), _tasks(points)))
    failed = [outcome.error for outcome in outcomes if outcome.result is None]
    if failed:
        raise RuntimeError(f"engine runs failed: {failed[:2]}")
    return outcomes


def run_ntrader(days: int) -> dict[str, Any]:
    from ntrader.services.screen import screen_sweep
    from ntrader.services.sweep_executors import make_executor

    # As the sweep service does: the pool's fork server starts before the screen.
    executor = make_executor("local", 2, None)
    executor.warm_up()
    bars = minute_bars(days)
    points = [{"fast_period": fast, "slow_period": slow} for fast, slow in GRID]
    closes = pd.to_datetime(
        close_times_ns(default_spec(SYMBOL), Timeframe.MINUTE_1, bars.ts), utc=True
    )
    screens = screen_sweep(
        base_config(), "sma_crossover", points, bars, new_york_days(closes), "sharpe_ratio", 5
    ).stored
    chosen = [index for index, screen in enumerate(screens) if screen["confirm"]]
    outcomes = _run_on(executor, bars, [points[index] for index in chosen])
    best = max(outcomes, key=lambda o: o.result.metrics.risk.sharpe_ratio or -np.inf)
    # The screen's trade count against the engine's for each confirmed point.
    counts = [
        (int(screens[chosen[o.index]]["figures"]["trades"]), len(o.result.trades)) for o in outcomes
    ]
    return {
        "bars": len(bars),
        "screened": len(points),
        "confirmed": len(outcomes),
        "best": points[chosen[best.index]],
        "trades_screen_engine": counts,
    }


def _rolling_mean(values: np.ndarray, period: int) -> np.ndarray:
    return pd.Series(values).rolling(period).mean().to_numpy()


def run_backtesting(days: int) -> dict[str, Any]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    # Module-level, so backtesting.py's optimizer can send it to its worker processes.
    global SmaCross

    class SmaCross(Strategy):  # type: ignore[misc]
        fast = 10
        slow = 20

        def init(self) -> None:
            self.fast_sma = self.I(_rolling_mean, self.data.Close, self.fast)
            self.slow_sma = self.I(_rolling_mean, self.data.Close, self.slow)

        def next(self) -> None:
            if crossover(self.fast_sma, self.slow_sma):
                self.buy(size=0.1)
            elif crossover(self.slow_sma, self.fast_sma):
                self.position.close()

    SmaCross.__qualname__ = "SmaCross"
    bars = minute_bars(days)
    frame = pd.DataFrame(
        {
            "Open": bars.open,
            "High": bars.high,
            "Low": bars.low,
            "Close": bars.close,
            "Volume": bars.volume,
        },
        index=pd.to_datetime(bars.ts, utc=True).tz_localize(None),
    )
    test = Backtest(frame, SmaCross, cash=100_000, commission=0.0, finalize_trades=True)
    stats = test.optimize(
        fast=range(5, 51, 5),
        slow=range(20, 201, 20),
        constraint=lambda p: p.fast < p.slow,
        maximize="Sharpe Ratio",
    )
    strategy = stats["_strategy"]
    return {
        "bars": len(bars),
        "best": {"fast_period": int(strategy.fast), "slow_period": int(strategy.slow)},
    }


def run_vectorbt(days: int) -> dict[str, Any]:
    import vectorbt as vbt

    bars = minute_bars(days)
    close = pd.Series(bars.close, index=pd.to_datetime(bars.ts, utc=True))
    fast = vbt.MA.run(close, [fast for fast, _ in GRID], short_name="fast")
    slow = vbt.MA.run(close, [slow for _, slow in GRID], short_name="slow")
    entries = fast.ma_crossed_above(slow)
    exits = fast.ma_crossed_below(slow)
    portfolio = vbt.Portfolio.from_signals(
        close,
        entries,
        exits,
        size=0.1,
        size_type="percent",
        fees=0.0,
        init_cash=100_000,
        freq="1min",
    )
    sharpe = portfolio.sharpe_ratio()
    fast_period, slow_period = sharpe.idxmax()
    return {
        "bars": len(bars),
        "best": {"fast_period": int(fast_period), "slow_period": int(slow_period)},
    }


def run_pool(workers: int, runs: int, days: int) -> dict[str, Any]:
    """``runs`` engine runs on the local executor with ``workers``. ``executor_seconds``
    times the executor alone, its pool's start included; ``working_seconds`` from the
    first run's start (in its worker) to the last result's arrival: the pool's throughput,
    its start-up left out."""
    from ntrader.services.sweep_executors import make_executor

    bars = minute_bars(days)
    points = [{"fast_period": fast, "slow_period": slow} for fast, slow in GRID[:runs]]
    started = time.perf_counter()
    outcomes = _run_on(make_executor("local", workers, None), bars, points)
    ended, finished_at = time.perf_counter(), datetime.now(UTC)
    first_start = min(outcome.started_at for outcome in outcomes)
    return {
        "bars": len(bars),
        "runs": len(outcomes),
        "executor_seconds": ended - started,
        "working_seconds": (finished_at - first_start).total_seconds(),
    }


def main(argv: list[str]) -> None:
    mode, *numbers = argv
    sizes = [int(number) for number in numbers]
    contenders = {
        "ntrader": run_ntrader,
        "backtesting": run_backtesting,
        "vectorbt": run_vectorbt,
        "pool": run_pool,
    }
    print(json.dumps(contenders[mode](*sizes)))


if __name__ == "__main__":
    main(sys.argv[1:])
