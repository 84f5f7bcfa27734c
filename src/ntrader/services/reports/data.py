"""Everything a report needs about one stored run, read from the store in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ntrader.core.errors import UserInputError
from ntrader.db.database import Database, Repositories
from ntrader.models.backtest import PortfolioSnapshot, RunRecord, TradeRecord
from ntrader.models.bars import BarArrays
from ntrader.models.enums import RunStatus, Timeframe
from ntrader.models.metrics import Metrics
from ntrader.services.bar_cache import load_bars
from ntrader.services.instruments import find_stored
from ntrader.services.metrics import TRADING_DAYS, compute_metrics, daily_returns
from ntrader.services.run_lookup import find_run
from ntrader.utils.sessions import last_of_day, new_york_days

# Trading days are counted in New York time, as the simulation counts them.


@dataclass(frozen=True, slots=True)
class DailyCurve:
    """Equity at each trading day's close, after the initial capital.

    ``dates`` are New York calendar days (tz-naive midnight); the initial capital belongs
    to the moment before the first session, which charts put on the business day before.
    """

    initial: float
    dates: pd.DatetimeIndex
    values: np.ndarray

    @property
    def equity(self) -> np.ndarray:
        """Initial capital, then one value per day: the shape the metrics are computed from."""
        return np.concatenate([[self.initial], self.values])

    @property
    def start(self) -> pd.Timestamp:
        return self.dates[0] - pd.offsets.BDay(1)

    @property
    def chart_dates(self) -> pd.DatetimeIndex:
        return self.dates.insert(0, self.start)

    def returns(self) -> pd.Series:
        return pd.Series(daily_returns(self.equity), index=self.dates)

    def series(self) -> pd.Series:
        return pd.Series(self.equity, index=self.chart_dates)


@dataclass(frozen=True, slots=True)
class Benchmark:
    """Buy and hold of the benchmark, scaled to the run's initial capital, on the run's days."""

    symbol: str
    prices: np.ndarray  # first entry: the first bar's open (the purchase), then daily closes

    def scaled(self, capital: float) -> np.ndarray:
        return capital * self.prices / self.prices[0]


@dataclass(frozen=True, slots=True)
class RunData:
    run: RunRecord
    trades: list[TradeRecord]
    snapshots: list[PortfolioSnapshot]
    curve: DailyCurve
    benchmark: Benchmark | None
    metrics: Metrics
    # The annual risk-free rate behind the risk and benchmark figures.
    risk_free_rate: float
    # Bars of each traded instrument at the run's timeframe (only when asked for).
    prices: dict[str, BarArrays] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.run.id[:8]

    @property
    def periods_per_year(self) -> float:
        """The trading days a year the run was annualised on (its calendar, docs/metrics.md);
        runs stored before calendars were annualised on 252."""
        return _periods_per_year(self.metrics)

    @property
    def closed_trades(self) -> list[TradeRecord]:
        return [t for t in self.trades if not t.is_open and t.pnl is not None]

    def benchmark_curve(self) -> pd.Series | None:
        """Buy and hold of the benchmark in account currency, on the curve's chart dates."""
        if self.benchmark is None:
            return None
        return pd.Series(self.benchmark.scaled(self.curve.initial), index=self.curve.chart_dates)

    @property
    def title(self) -> str:
        config = self.run.config
        return (
            f"{config.strategy_type} on {', '.join(config.instruments)} · "
            f"{config.timeframe.value} · {config.start} → {config.end}"
        )


def session_days(daily_open_ns: np.ndarray) -> pd.DatetimeIndex:
    """A daily bar is stored at midnight UTC of its session's date."""
    return pd.to_datetime(daily_open_ns, utc=True).normalize().tz_localize(None).as_unit("ns")


def snapshot_days(snapshots: list[PortfolioSnapshot]) -> pd.DatetimeIndex:
    return new_york_days(pd.DatetimeIndex([s.ts for s in snapshots]).tz_convert("UTC"))


def daily_curve(snapshots: list[PortfolioSnapshot], initial: float) -> DailyCurve:
    """The last snapshot of each New York day: the equity at that day's close."""
    days = snapshot_days(snapshots)
    values = np.array([s.total_value for s in snapshots], dtype=float)
    last = last_of_day(days)
    return DailyCurve(initial=initial, dates=days[last], values=values[last])


def load_run_data(
    database: Database,
    run_ref: str,
    *,
    risk_free_rate: float | None = None,
    with_prices: bool = False,
) -> RunData:
    """One completed run with its trades, equity curve and benchmark.

    ``risk_free_rate=None`` keeps the metrics stored with the run (computed at the run's own
    rate); a rate recomputes them from the stored equity curve, trades and benchmark.
    """
    with database.transaction() as repos:
        run = find_run(repos, run_ref)
        if run.status is not RunStatus.COMPLETED or not run.metrics:
            raise UserInputError(
                f"Backtest {run.id[:8]} is {run.status.value}; only completed runs have reports.",
                hint="Pick a completed run from `ntrader backtest list --status completed`.",
            )
        trades = repos.backtests.trades(run.id)
        snapshots = repos.backtests.snapshots(run.id)
        if not snapshots:
            raise UserInputError(
                f"Backtest {run.id[:8]} has no portfolio snapshots to report on.",
                hint="Run it again with `ntrader backtest run`.",
            )
        curve = daily_curve(snapshots, run.config.initial_capital)
        benchmark = _benchmark(repos, run, curve)
        prices = _prices(repos, run) if with_prices else {}
    metrics = run.metrics
    if risk_free_rate is not None:
        bench_prices = benchmark.prices if benchmark else None
        recomputed = compute_metrics(
            curve.equity,
            trades,
            benchmark=bench_prices,
            risk_free_rate=risk_free_rate,
            periods_per_year=_periods_per_year(run.metrics),
        )
        metrics = run.metrics.model_copy(
            update={
                "returns": recomputed.returns,
                "risk": recomputed.risk,
                "trading": recomputed.trading,
                "benchmark": recomputed.benchmark,
            }
        )
    return RunData(
        run=run,
        trades=trades,
        snapshots=snapshots,
        curve=curve,
        benchmark=benchmark,
        metrics=metrics,
        risk_free_rate=run.config.risk_free_rate if risk_free_rate is None else risk_free_rate,
        prices=prices,
    )


def _periods_per_year(metrics: Metrics) -> float:
    return metrics.annualisation.periods_per_year if metrics.annualisation else TRADING_DAYS


def _benchmark(repos: Repositories, run: RunRecord, curve: DailyCurve) -> Benchmark | None:
    """Daily benchmark closes on the run's days (the last close on or before each day)."""
    config = run.config
    try:
        stored = find_stored(repos.instruments, config.benchmark)
    except UserInputError:
        return None
    bars = load_bars(repos.bars, stored, Timeframe.DAILY, config.start_ns, config.end_ns)
    if bars.is_empty:
        return None
    bar_days = session_days(bars.ts)
    index = np.searchsorted(bar_days.asi8, curve.dates.asi8, side="right") - 1
    if index[0] < 0:
        return None
    return Benchmark(
        symbol=stored.spec.instrument_id,
        prices=np.concatenate([[bars.open[0]], bars.close[index]]),
    )


def _prices(repos: Repositories, run: RunRecord) -> dict[str, BarArrays]:
    config = run.config
    prices: dict[str, BarArrays] = {}
    for name in config.instruments:
        stored = find_stored(repos.instruments, name)
        prices[stored.spec.instrument_id] = load_bars(
            repos.bars, stored, config.timeframe, config.start_ns, config.end_ns
        )
    return prices
