"""Backtests on stored bars: validate, load, run, and keep the run's record."""

from __future__ import annotations

import hashlib
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd

from ntrader import __version__
from ntrader.core import strategy_registry
from ntrader.core.errors import ConflictError, NotFoundError, NtraderError, UserInputError
from ntrader.core.fx import check_convertible, conversion_pairs
from ntrader.core.interrupts import how_stopped, sigterm_interrupts, stop_reason, stop_signal
from ntrader.core.runner import (
    EngineSettings,
    InstrumentBars,
    ProgressCallback,
    RefusedOrder,
    StrategyError,
)
from ntrader.core.timeframes import check_higher, covers
from ntrader.db.database import Database, Repositories
from ntrader.db.repositories import StoredInstrument
from ntrader.models.backtest import BacktestConfig, RunRecord
from ntrader.models.enums import RunStatus, StrategyStatus, Timeframe
from ntrader.models.instrument import InstrumentSpec
from ntrader.models.strategy import StrategyRecord
from ntrader.services import telemetry
from ntrader.services.bar_cache import load_bars
from ntrader.services.instruments import find_stored
from ntrader.services.liveness import holder, is_stale, take_over, this_process, unverifiable
from ntrader.services.run_history import RunHistory
from ntrader.services.simulation import SimulationResult, simulate
from ntrader.utils.logging import bound, get_logger
from ntrader.utils.timeutil import NS_PER_DAY, ns_to_datetime

MIN_TRADING_DAYS = 30

_log = get_logger(__name__)

StageCallback = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BacktestOutcome:
    run: RunRecord
    result: SimulationResult
    warnings: tuple[str, ...]


class StoredRunError(NtraderError):
    """An error about one stored run: its id goes with the --json error object."""

    run_id: str

    def details(self) -> dict[str, Any]:
        return {"run_id": self.run_id}


class RunInterruptedError(StoredRunError):
    """Ctrl-C (or SIGTERM) during a run: the run is stored as INTERRUPTED and can be resumed."""

    exit_code = 130

    def __init__(self, run_id: str, stopped_by: signal.Signals = signal.SIGINT) -> None:
        super().__init__(
            f"Backtest {run_id} was {how_stopped(stopped_by)} and is stored as INTERRUPTED.",
            hint=f"Resume it with `ntrader backtest resume {run_id[:8]}`.",
        )
        self.run_id = run_id
        # 128 + the signal number, as a shell reports a process the signal ended.
        self.exit_code = 128 + stopped_by


class RunFailedError(StoredRunError):
    """A stored run failed: its record is FAILED and the message says which run and why."""

    def __init__(self, run_id: str, reason: str, hint: str | None, exit_code: int = 1) -> None:
        super().__init__(
            f"Backtest {run_id[:8]} failed and is saved as FAILED: {reason.rstrip('.')}.",
            hint=hint
            or f"`ntrader backtest show {run_id[:8]}` shows the stored run; "
            "re-run with --debug for the traceback.",
        )
        self.run_id = run_id
        self.exit_code = exit_code


class RunSavedError(StoredRunError):
    """A run finished and is stored, then a later step (reading it back, writing result
    files, printing) failed: the message says the run is safe and how to reach it."""

    def __init__(self, run_id: str, step: str, exc: BaseException) -> None:
        reason = exc.message if isinstance(exc, NtraderError) else f"{type(exc).__name__}: {exc}"
        super().__init__(
            f"Backtest {run_id[:8]} completed and is saved, but {step} failed: "
            f"{reason.rstrip('.')}.",
            hint=f"See it with `ntrader backtest show {run_id[:8]}` or "
            f"`ntrader report generate --backtest {run_id[:8]}`.",
        )
        self.run_id = run_id
        self.exit_code = exc.exit_code if isinstance(exc, NtraderError) else 1


@dataclass(frozen=True, slots=True)
class RerunComparison:
    original: RunRecord
    outcome: BacktestOutcome

    @property
    def same_data(self) -> bool:
        return self.original.data_fingerprint == self.outcome.run.data_fingerprint

    @property
    def identical(self) -> bool:
        return self.same_data and self.original.metrics == self.outcome.run.metrics

    def differences(self) -> list[tuple[str, Any, Any]]:
        """(metric path, before, after) for every metric that changed."""
        before, after = (
            run.metrics.stored() if run.metrics else {} for run in (self.original, self.outcome.run)
        )
        changed = []
        for group in sorted(set(before) | set(after)):
            left, right = before.get(group) or {}, after.get(group) or {}
            for key in sorted(set(left) | set(right)):
                if left.get(key) != right.get(key):
                    changed.append((f"{group}.{key}", left.get(key), right.get(key)))
        return changed


def fingerprint(inputs: list[InstrumentBars]) -> str:
    """sha256 of exactly the bars a run read, so a re-run can prove it saw the same data."""
    digest = hashlib.sha256()
    for item in inputs:
        digest.update(f"{item.spec.instrument_id}|{item.timeframe.value}|".encode())
        for column in (item.bars.ts, item.bars.open, item.bars.high, item.bars.low):
            digest.update(np.ascontiguousarray(column).tobytes())
        digest.update(np.ascontiguousarray(item.bars.close).tobytes())
        digest.update(np.ascontiguousarray(item.bars.volume).tobytes())
        if item.higher is not None:  # stored higher-timeframe bars the run read too
            for column in (item.higher.ts, item.higher.open, item.higher.high):
                digest.update(np.ascontiguousarray(column).tobytes())
            for column in (item.higher.low, item.higher.close, item.higher.volume):
                digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()


def _day(ts_ns: int) -> str:
    return pd.Timestamp(ts_ns, tz="UTC").strftime("%Y-%m-%d")


def trading_days(bars_ts: np.ndarray) -> int:
    return int(np.unique(bars_ts // NS_PER_DAY).size)


@dataclass(frozen=True, slots=True)
class LoadedInputs:
    """What a run reads from the store before it starts (a sweep reads it once for all
    its runs)."""

    inputs: list[InstrumentBars]
    conversions: list[InstrumentBars]  # pairs converting a cross to USD (core/fx.py)
    benchmark: InstrumentBars | None
    warnings: list[str]

    def fingerprint(self) -> str:
        return fingerprint([*self.inputs, *self.conversions])


def engine_versions() -> tuple[str, str]:
    """(ntrader, nautilus_trader) versions, stored with every run."""
    return __version__, version("nautilus_trader")


def _conversion_pairs(
    repos: Repositories, specs: list[InstrumentSpec], config: BacktestConfig
) -> list[tuple[StoredInstrument, str]]:
    """The stored pairs that convert the crosses among ``specs`` to USD (GBPUSD, or USDGBP,
    for EURGBP) and have daily bars in the run's period, each with the cross's venue,
    unless the run trades one itself. Missing ones are left to ``check_convertible``, which
    names them. Counts only: no bars are read."""
    traded = {(spec.symbol, spec.venue) for spec in specs}
    found: dict[tuple[str, str], StoredInstrument] = {}
    for spec in specs:
        pairs = conversion_pairs(spec, EngineSettings().currency) or ()
        if any((pair, spec.venue) in traded or (pair, spec.venue) in found for pair in pairs):
            continue
        for pair in pairs:
            stored = _stored_pair(repos, pair, spec.venue)
            if stored is not None and repos.bars.trading_days(
                stored, Timeframe.DAILY, config.start_ns, config.end_ns
            ):
                found[(pair, spec.venue)] = stored
                break
    return [(stored, venue) for (_pair, venue), stored in found.items()]


def _stored_pair(repos: Repositories, symbol: str, venue: str) -> StoredInstrument | None:
    """``symbol`` on ``venue``, else the one stored instrument of that symbol."""
    stored = repos.instruments.get(f"{symbol}.{venue}")
    if stored is not None:
        return stored
    candidates = repos.instruments.by_symbol(symbol)
    return candidates[0] if len(candidates) == 1 else None


def _on_venue(stored: StoredInstrument, venue: str) -> InstrumentSpec:
    """The pair as an instrument of ``venue``: nautilus reads exchange rates per venue."""
    return stored.spec.model_copy(update={"venue": venue})


class BacktestService:
    def __init__(self, database: Database) -> None:
        self._database = database

    def prepare(
        self, config: BacktestConfig, *, use_stored: bool = True
    ) -> tuple[BacktestConfig, str | None]:
        """The configuration with its strategy resolved, parameters validated and filled.

        ``strategy_type`` may name a stored strategy (it must be active; its parameters are
        the base, the configuration's own override them) or a strategy type. Returns the
        stored strategy's id too, when there is one.
        """
        stored = None
        for name in dict.fromkeys((config.strategy_type, config.strategy_name)):
            if use_stored and name and stored is None:
                stored = self._stored_strategy(name)
        type_name = stored.strategy_type if stored else config.strategy_type
        base_parameters = stored.parameters if stored else {}
        strategy_type = strategy_registry.resolve(type_name)
        params = strategy_type.validate({**base_parameters, **config.parameters})
        higher = params.higher_timeframe()
        if higher is not None:
            check_higher(config.timeframe, higher)
        resolved = config.model_copy(
            update={
                "strategy_type": strategy_type.name,
                "strategy_name": stored.name if stored else config.strategy_name,
                "parameters": params.model_dump(),
            }
        )
        return resolved, stored.id if stored else None

    def _stored_strategy(self, name: str) -> StrategyRecord | None:
        """The stored strategy called ``name``, if any; refused unless it is active."""
        with self._database.transaction() as repos:
            record = repos.strategies.get(name)
        if record is None:
            return None
        if record.status is StrategyStatus.ARCHIVED:
            raise ConflictError(
                f"Strategy {record.name!r} is archived and cannot be backtested.",
                hint=f"Create a new one from it: `ntrader strategy export {record.name} "
                "--output s.yaml`, then `ntrader strategy create --params-file s.yaml ...`.",
            )
        if record.status is StrategyStatus.DRAFT:
            raise UserInputError(
                f"Strategy {record.name!r} is a draft; only active strategies can be backtested.",
                hint=f"Validate it first: `ntrader strategy validate {record.name} "
                "--instrument SYMBOL` (or `ntrader strategy activate`).",
            )
        return record

    def run(
        self,
        config: BacktestConfig,
        on_stage: StageCallback | None = None,
        *,
        strategy_id: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> BacktestOutcome:
        """Validate everything, then run and store the outcome (PENDING → RUNNING → done).

        With ``strategy_id`` the run belongs to that stored strategy whatever its status
        (``strategy validate`` runs drafts this way). ``on_progress`` hears (bars processed,
        bars in the run) while the engine runs.
        """
        (on_stage or (lambda _text: None))("Loading bars")
        run_id, config, loaded = self._create(config, strategy_id)
        return self._execute(run_id, config, loaded, on_stage, on_progress)

    def submit(self, config: BacktestConfig) -> RunRecord:
        """Check a configuration as ``run`` does before it starts (strategy, parameters,
        stored bars) and store the run PENDING, for ``start`` to execute later (the HTTP
        API's job pool); a refused configuration stores nothing. The bars are counted, not
        read: the job reads them once."""
        config, stored_id = self.prepare(config)
        with self._database.transaction() as repos:
            self._check_all(repos, config)
            run_id = repos.backtests.create(config, strategy_id=stored_id)
        return self.get(run_id)

    def check(self, config: BacktestConfig) -> None:
        """Refuse, from counts alone, what loading the bars of ``config`` (prepared) would
        refuse, with the same errors."""
        with self._database.transaction() as repos:
            self._check_all(repos, config)

    def _create(
        self, config: BacktestConfig, strategy_id: str | None
    ) -> tuple[str, BacktestConfig, LoadedInputs]:
        config, stored_id = self.prepare(config, use_stored=strategy_id is None)
        with self._database.transaction() as repos:
            loaded = self._load_all(repos, config)
            run_id = repos.backtests.create(config, strategy_id=strategy_id or stored_id)
        return run_id, config, loaded

    def start(
        self,
        run_ref: str,
        on_stage: StageCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> BacktestOutcome:
        """Execute a PENDING run (stored by ``submit``) from its stored configuration."""
        run = self.get(run_ref)
        if run.status is not RunStatus.PENDING:
            raise ConflictError(
                f"Backtest {run.id} is {run.status.value}; only a PENDING run can be started.",
                hint=f"`ntrader backtest show {run.id[:8]}` shows it.",
            )
        return self._execute_stored(run, on_stage, on_progress)

    def resume(
        self,
        run_ref: str,
        on_stage: StageCallback | None = None,
        on_progress: ProgressCallback | None = None,
        *,
        force: bool = False,
    ) -> BacktestOutcome:
        """Run an interrupted (or stale) run again from its stored configuration, into the
        same record; ``force`` takes over one RUNNING in a process that cannot be checked
        from here (on another machine, or not recorded)."""
        run = self.get(run_ref)
        if force and unverifiable(run):
            with self._database.transaction() as repos:
                take_over(repos.backtests, run, "Backtest", f"ntrader backtest show {run.id[:8]}")
            return self._execute_stored(self.get(run.id), on_stage, on_progress)
        if run.status is RunStatus.INTERRUPTED or is_stale(run):
            return self._execute_stored(run, on_stage, on_progress)
        hint = "Use `ntrader backtest rerun` to run a finished backtest again."
        if unverifiable(run):
            hint = (
                f"It is RUNNING in {holder(run)}. If that process is gone, "
                f"`ntrader backtest resume {run.id[:8]} --force` takes the run over."
            )
        raise UserInputError(
            f"Backtest {run.id} is {run.status.value}; only interrupted runs (or stale "
            "RUNNING ones) can be resumed.",
            hint=hint,
        )

    def _execute_stored(
        self,
        run: RunRecord,
        on_stage: StageCallback | None,
        on_progress: ProgressCallback | None,
    ) -> BacktestOutcome:
        with self._database.transaction() as repos:
            loaded = self._load_all(repos, run.config)
        strategy_type = strategy_registry.resolve(run.config.strategy_type)
        strategy_type.validate(run.config.parameters)
        return self._execute(run.id, run.config, loaded, on_stage, on_progress, claimed_from=run)

    def rerun(
        self,
        run_ref: str,
        on_stage: StageCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> RerunComparison:
        """Run a stored configuration again as a new run and compare the two."""
        original = self.get(run_ref)
        with self._database.transaction() as repos:
            loaded = self._load_all(repos, original.config)
            configuration_id = repos.backtests.configuration_id_of(original.id)
            run_id = repos.backtests.create_for(configuration_id)
        outcome = self._execute(run_id, original.config, loaded, on_stage, on_progress)
        return RerunComparison(original=original, outcome=outcome)

    def load(self, config: BacktestConfig) -> LoadedInputs:
        """The bars a run of ``config`` (prepared) reads, from one transaction."""
        with self._database.transaction() as repos:
            return self._load_all(repos, config)

    def _check_all(self, repos: Repositories, config: BacktestConfig) -> None:
        stored, _pairs = self._instruments(repos, config)
        for item in stored:
            days = repos.bars.trading_days(item, config.timeframe, config.start_ns, config.end_ns)
            self._check_days(repos, item, config, days)

    @staticmethod
    def _instruments(
        repos: Repositories, config: BacktestConfig
    ) -> tuple[list[StoredInstrument], list[tuple[StoredInstrument, str]]]:
        """The run's stored instruments and the pairs that convert them to USD (with the
        venue each is valued on), refused before anything is read or stored when a
        pair is missing: that is the user's input."""
        stored = _distinct_instruments(repos, config.instruments)
        pairs = _conversion_pairs(repos, [item.spec for item in stored], config)
        check_convertible(
            [item.spec for item in stored],
            EngineSettings().currency,
            [_on_venue(pair, venue) for pair, venue in pairs],
        )
        return stored, pairs

    def _load_all(self, repos: Repositories, config: BacktestConfig) -> LoadedInputs:
        warnings: list[str] = []
        stored, pairs = self._instruments(repos, config)
        conversions = [
            InstrumentBars(
                spec=_on_venue(pair, venue),
                timeframe=Timeframe.DAILY,
                bars=load_bars(repos.bars, pair, Timeframe.DAILY, config.start_ns, config.end_ns),
            )
            for pair, venue in pairs
        ]
        inputs = [self._load(repos, item, config) for item in stored]
        strategy_type = strategy_registry.resolve(config.strategy_type)
        higher = strategy_type.validate(config.parameters).higher_timeframe()
        if higher is not None:
            check_higher(config.timeframe, higher)
            inputs = [self._with_higher(repos, item, higher, config, warnings) for item in inputs]
        benchmark = self._load_benchmark(repos, config, warnings)
        return LoadedInputs(inputs, conversions, benchmark, warnings)

    def _execute(
        self,
        run_id: str,
        config: BacktestConfig,
        loaded: LoadedInputs,
        on_stage: StageCallback | None,
        on_progress: ProgressCallback | None = None,
        *,
        claimed_from: RunRecord | None = None,
    ) -> BacktestOutcome:
        """Run and store ``run_id``. A stored run (``claimed_from``: as it was read) is
        claimed only if nobody changed it since; a run this call created is marked."""
        with bound(run_id=run_id):
            return self._execute_logged(run_id, config, loaded, on_stage, on_progress, claimed_from)

    def _execute_logged(
        self,
        run_id: str,
        config: BacktestConfig,
        loaded: LoadedInputs,
        on_stage: StageCallback | None,
        on_progress: ProgressCallback | None,
        claimed_from: RunRecord | None,
    ) -> BacktestOutcome:
        inputs, benchmark, warnings = loaded.inputs, loaded.benchmark, loaded.warnings
        stage = on_stage or (lambda _text: None)
        strategy_type = strategy_registry.resolve(config.strategy_type)
        bars = sum(len(item.bars) for item in inputs)
        _log.info(
            "run.started",
            strategy=config.strategy_type,
            instruments=list(config.instruments),
            timeframe=config.timeframe.value,
            bars=bars,
        )
        started = time.perf_counter()
        holder, versions = this_process(), engine_versions()
        with self._database.transaction() as repos:
            if claimed_from is None:
                repos.backtests.mark_running(run_id, holder, versions)
            elif not repos.backtests.claim(claimed_from, holder, versions):
                raise ConflictError(
                    f"Backtest {run_id} changed while it was being started: another process "
                    "started or resumed it first.",
                    hint=f"`ntrader backtest show {run_id[:8]}` shows where it is now.",
                )
        try:
            stage("Running the engine")
            with sigterm_interrupts():
                result = simulate(
                    config, strategy_type, inputs, benchmark, on_progress, loaded.conversions
                )
            stage("Saving results")
            with self._database.transaction() as repos:
                repos.backtests.complete(
                    run_id,
                    metrics=result.metrics,
                    trade_records=result.trades,
                    snapshots=result.snapshots,
                    data_fingerprint=loaded.fingerprint(),
                )
        except KeyboardInterrupt as exc:
            reason = stop_reason(exc)
            telemetry.record_run(RunStatus.INTERRUPTED, time.perf_counter() - started)
            _log.warning("run.interrupted", reason=reason)
            self._finish(run_id, RunStatus.INTERRUPTED, reason, exc)
            raise RunInterruptedError(run_id, stop_signal(exc)) from exc
        except BaseException as exc:
            telemetry.record_run(RunStatus.FAILED, time.perf_counter() - started)
            _log.error("run.failed", error=failure_text(exc))
            # SystemExit included: a strategy calling sys.exit() must not leave the run RUNNING.
            self._finish(run_id, RunStatus.FAILED, failure_text(exc), exc)
            raise _failed(run_id, exc) from exc
        seconds = time.perf_counter() - started
        telemetry.record_run(RunStatus.COMPLETED, seconds, bars)
        _log.info("run.completed", seconds=round(seconds, 3), trades=len(result.trades))
        refused = refused_orders_warning(result.refused_orders)
        if refused is not None:
            _log.info("run.orders_refused", orders=len(result.refused_orders))
            warnings = [*warnings, refused]
        try:
            with self._database.transaction() as repos:
                run = repos.backtests.get(run_id)
        except Exception as exc:
            raise RunSavedError(run_id, "reading it back", exc) from exc
        return BacktestOutcome(run=run, result=result, warnings=tuple(warnings))

    def _finish(self, run_id: str, status: RunStatus, message: str, cause: BaseException) -> None:
        """Record how the run ended; if even that fails (the store is gone), the original
        error is what the user must see, with this failure attached."""
        try:
            with self._database.transaction() as repos:
                repos.backtests.mark_finished(run_id, status, message)
        except Exception as exc:
            raise cause from exc

    def _load(
        self, repos: Repositories, stored: StoredInstrument, config: BacktestConfig
    ) -> InstrumentBars:
        bars = load_bars(repos.bars, stored, config.timeframe, config.start_ns, config.end_ns)
        self._check_days(repos, stored, config, trading_days(bars.ts))
        return InstrumentBars(spec=stored.spec, timeframe=config.timeframe, bars=bars)

    def _check_days(
        self, repos: Repositories, stored: StoredInstrument, config: BacktestConfig, days: int
    ) -> None:
        """Refuse an instrument with no bars, or too few trading days, in the run's period."""
        if days == 0:
            raise NotFoundError(
                f"No {config.timeframe.value} bars of {stored.spec.instrument_id} between "
                f"{config.start} and {config.end}{self._stored_range(repos, stored, config)}.",
                hint="Choose dates inside the stored range, or import more data with "
                "`ntrader data import`.",
            )
        if days < MIN_TRADING_DAYS:
            raise UserInputError(
                f"Only {days} trading days of {stored.spec.instrument_id} between "
                f"{config.start} and {config.end}; a backtest needs at least "
                f"{MIN_TRADING_DAYS}.",
                hint="Widen the date range with --start/--end.",
            )

    @staticmethod
    def _with_higher(
        repos: Repositories,
        item: InstrumentBars,
        higher: Timeframe,
        config: BacktestConfig,
        warnings: list[str],
    ) -> InstrumentBars:
        """``item`` with its stored higher-timeframe bars when they cover every period of
        the run; otherwise the runner aggregates them from the run's bars."""
        stored = find_stored(repos.instruments, item.spec.instrument_id)
        found = load_bars(repos.bars, stored, higher, config.start_ns, config.end_ns)
        if found.is_empty:
            return item
        if not covers(item.spec, item.timeframe, item.bars, higher, found):
            warnings.append(
                f"The stored {higher.value} bars of {item.spec.instrument_id} miss some of "
                f"the run's periods; the strategy's {higher.value} bars are aggregated from "
                f"the {item.timeframe.value} bars instead."
            )
            return item
        return InstrumentBars(
            spec=item.spec, timeframe=item.timeframe, bars=item.bars, higher=found
        )

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
            load_bars(repos.bars, stored, Timeframe.DAILY, config.start_ns, config.end_ns)
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
        return RunHistory(self._database).get(run_ref)


def _distinct_instruments(repos: Repositories, names: tuple[str, ...]) -> list[StoredInstrument]:
    """The stored instruments ``names`` resolve to, refusing one named twice (``AAPL`` and
    ``AAPL.NASDAQ`` alike): it would trade twice on doubled capital and inflate the return."""
    found: dict[str, str] = {}
    stored = []
    for name in names:
        item = find_stored(repos.instruments, name)
        instrument_id = item.spec.instrument_id
        if instrument_id in found:
            raise UserInputError(
                f"The instruments name {instrument_id} twice ({found[instrument_id]} and "
                f"{name}); a backtest trades each instrument once.",
                hint="Remove the duplicate from --instruments (or from the configuration "
                "file's instruments list).",
            )
        found[instrument_id] = name
        stored.append(item)
    return stored


def refused_orders_warning(refused: Sequence[RefusedOrder]) -> str | None:
    """One sentence on the orders nautilus refused, or None when there were none."""
    if not refused:
        return None
    counts = Counter(order.status for order in refused)
    parts = []
    if counts["DENIED"]:
        parts.append(f"{counts['DENIED']} denied by its risk engine")
    if counts["REJECTED"]:
        parts.append(f"{counts['REJECTED']} rejected by the venue")
    first = refused[0]
    when = ns_to_datetime(first.ts).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"nautilus refused {len(refused)} order{'s' if len(refused) > 1 else ''} "
        f"({', '.join(parts)}); the results are without them. First: {first.side} "
        f"{first.quantity} {first.instrument_id} on {when}: {first.reason}."
    )


def failure_text(exc: BaseException) -> str:
    """What a FAILED run's record says about why."""
    if isinstance(exc, StrategyError):
        where = f" at {exc.location}" if exc.location else ""
        return f"Strategy error: {exc.reason}{where}"
    if isinstance(exc, NtraderError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _failed(run_id: str, exc: BaseException) -> RunFailedError:
    if isinstance(exc, NtraderError):
        return RunFailedError(run_id, exc.message, exc.hint, exc.exit_code)
    return RunFailedError(run_id, f"{type(exc).__name__}: {exc}", None)
