"""Backtests on stored bars: validate, load, run, and keep the run's record."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np
import pandas as pd

from ntrader import __version__
from ntrader.core import strategy_registry
from ntrader.core.errors import NotFoundError, UserInputError
from ntrader.core.runner import InstrumentBars
from ntrader.db.database import Database, Repositories
from ntrader.db.repositories import StoredInstrument
from ntrader.models.backtest import BacktestConfig, RunRecord
from ntrader.models.enums import RunStatus, Timeframe
from ntrader.services.instruments import find_stored
from ntrader.services.simulation import SimulationResult, simulate
from ntrader.utils.timeutil import NS_PER_DAY

MIN_TRADING_DAYS = 30

StageCallback = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BacktestOutcome:
    run: RunRecord
    result: SimulationResult
    warnings: tuple[str, ...]


def fingerprint(inputs: list[InstrumentBars]) -> str:
    """sha256 of exactly the bars a run read, so a re-run can prove it saw the same data."""
    digest = hashlib.sha256()
    for item in inputs:
        digest.update(f"{item.spec.instrument_id}|{item.timeframe.value}|".encode())
        for column in (item.bars.ts, item.bars.open, item.bars.high, item.bars.low):
            digest.update(np.ascontiguousarray(column).tobytes())
        digest.update(np.ascontiguousarray(item.bars.close).tobytes())
        digest.update(np.ascontiguousarray(item.bars.volume).tobytes())
    return digest.hexdigest()


def _day(ts_ns: int) -> str:
    return pd.Timestamp(ts_ns, tz="UTC").strftime("%Y-%m-%d")


def trading_days(bars_ts: np.ndarray) -> int:
    return int(np.unique(bars_ts // NS_PER_DAY).size)


class BacktestService:
    def __init__(self, database: Database) -> None:
        self._database = database

    def prepare(self, config: BacktestConfig) -> BacktestConfig:
        """The configuration with its strategy resolved and parameters validated and filled."""
        strategy_type = strategy_registry.resolve(config.strategy_type)
        params = strategy_type.validate(config.parameters)
        return config.model_copy(
            update={"strategy_type": strategy_type.name, "parameters": params.model_dump()}
        )

    def run(self, config: BacktestConfig, on_stage: StageCallback | None = None) -> BacktestOutcome:
        """Validate everything, then run and store the outcome (PENDING → RUNNING → done)."""
        stage = on_stage or (lambda _text: None)
        config = self.prepare(config)
        strategy_type = strategy_registry.resolve(config.strategy_type)
        stage("Loading bars")
        warnings: list[str] = []
        with self._database.transaction() as repos:
            inputs = [self._load(repos, name, config) for name in config.instruments]
            benchmark = self._load_benchmark(repos, config, warnings)
            run_id = repos.backtests.create(config)
        with self._database.transaction() as repos:
            repos.backtests.mark_running(
                run_id, pid=os.getpid(), versions=(__version__, version("nautilus_trader"))
            )
        try:
            stage("Running the engine")
            result = simulate(config, strategy_type, inputs, benchmark)
            stage("Saving results")
            with self._database.transaction() as repos:
                repos.backtests.complete(
                    run_id,
                    metrics=result.metrics,
                    trade_records=result.trades,
                    snapshots=result.snapshots,
                    data_fingerprint=fingerprint(inputs),
                )
        except KeyboardInterrupt:
            self._finish(run_id, RunStatus.INTERRUPTED, "interrupted by the user")
            raise
        except Exception as exc:
            self._finish(run_id, RunStatus.FAILED, f"{type(exc).__name__}: {exc}")
            raise
        with self._database.transaction() as repos:
            run = repos.backtests.get(run_id)
        return BacktestOutcome(run=run, result=result, warnings=tuple(warnings))

    def _finish(self, run_id: str, status: RunStatus, message: str) -> None:
        with self._database.transaction() as repos:
            repos.backtests.mark_finished(run_id, status, message)

    def _load(self, repos: Repositories, name: str, config: BacktestConfig) -> InstrumentBars:
        stored = find_stored(repos.instruments, name)
        bars = repos.bars.load(stored, config.timeframe, config.start_ns, config.end_ns)
        if bars.is_empty:
            raise NotFoundError(
                f"No {config.timeframe.value} bars of {stored.spec.instrument_id} between "
                f"{config.start} and {config.end}{self._stored_range(repos, stored, config)}.",
                hint="Choose dates inside the stored range, or import more data with "
                "`ntrader data import`.",
            )
        days = trading_days(bars.ts)
        if days < MIN_TRADING_DAYS:
            raise UserInputError(
                f"Only {days} trading days of {stored.spec.instrument_id} between "
                f"{config.start} and {config.end}; a backtest needs at least "
                f"{MIN_TRADING_DAYS}.",
                hint="Widen the date range with --start/--end.",
            )
        return InstrumentBars(spec=stored.spec, timeframe=config.timeframe, bars=bars)

    @staticmethod
    def _stored_range(repos: Repositories, stored: StoredInstrument, config: BacktestConfig) -> str:
        coverage = repos.bars.coverage(stored.spec.instrument_id, config.timeframe)
        if coverage:
            return f" (stored: {_day(coverage[0].first_ts)} to {_day(coverage[0].last_ts)})"
        other = repos.bars.coverage(stored.spec.instrument_id)
        if other:
            timeframes = ", ".join(c.timeframe.value for c in other)
            return f" (only {timeframes} bars are stored)"
        return ""

    def _load_benchmark(
        self, repos: Repositories, config: BacktestConfig, warnings: list[str]
    ) -> InstrumentBars | None:
        """Daily benchmark bars over the run's period, or None with a warning."""
        try:
            stored = find_stored(repos.instruments, config.benchmark)
        except UserInputError:
            stored = None
        bars = (
            repos.bars.load(stored, Timeframe.DAILY, config.start_ns, config.end_ns)
            if stored
            else None
        )
        if stored is None or bars is None or bars.is_empty:
            warnings.append(
                f"No daily bars of the benchmark {config.benchmark} for this period; "
                "benchmark return, alpha and beta are left empty."
            )
            return None
        return InstrumentBars(spec=stored.spec, timeframe=Timeframe.DAILY, bars=bars)

    def get(self, run_ref: str) -> RunRecord:
        with self._database.transaction() as repos:
            return repos.backtests.get(run_ref)

    def list(
        self, *, status: RunStatus | None = None, strategy: str | None = None, last: int = 20
    ) -> list[RunRecord]:
        strategy_type = strategy_registry.resolve(strategy).name if strategy else None
        with self._database.transaction() as repos:
            return repos.backtests.list(status=status, strategy_type=strategy_type, last=last)
