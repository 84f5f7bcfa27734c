"""The benchmark cases. Each returns table rows; see benchmarks/README.md for what they mean."""

from __future__ import annotations

import compileall
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
from api_cases import bench_api
from datagen import (
    RTH_BARS_PER_DAY,
    consecutive_minutes,
    daily_opens,
    random_walk_bars,
    rth_minutes,
    trading_days,
    write_csv,
)
from harness import (
    Backend,
    Row,
    Verdict,
    fmt_seconds,
    fresh_database,
    interleave,
    median,
    ratios,
    spread,
    timed,
)
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.trading.strategy import Strategy

import ntrader as ntrader_package
from ntrader.core import strategy_registry
from ntrader.core.instrument_catalog import default_spec
from ntrader.core.nautilus_bars import bar_type_for, to_nautilus_bars
from ntrader.core.runner import EngineSettings, InstrumentBars, build_engine
from ntrader.db.database import Database
from ntrader.db.repositories import StoredInstrument
from ntrader.models.backtest import BacktestConfig
from ntrader.models.bars import BarArrays
from ntrader.models.enums import RunStatus, Timeframe
from ntrader.services.backtest_service import BacktestOutcome, BacktestService
from ntrader.services.bar_cache import BarCache
from ntrader.services.data_service import DataService, ImportRequest
from ntrader.services.reports.service import ReportService
from ntrader.services.run_history import RunHistory

REPO_ROOT = Path(__file__).resolve().parent.parent
SYMBOL = "BENCH"
# Issue 12's targets (SPEC §10 asked for 200k rows/s, a load ratio of 2.0 and the CLI untargeted).
IMPORT_TARGET_ROWS_PER_S = 500_000
LOAD_TARGET_RATIO = 1.3
CACHED_LOAD_TARGET_RATIO = 1.2
BENCH_REDIS_URL = os.environ.get("NTRADER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKTEST_TARGET_RATIO = 1.25
BACKTEST_CLI_TARGET_RATIO = 1.3
STARTUP_TARGET_S = 0.5
UV_RUN_TARGET_S = 0.3  # SPEC §10: `uv run ntrader --help` as a user types it
BACKTEST_YEAR = 2023


@dataclass(frozen=True, slots=True)
class Sizes:
    import_rows: int = 1_000_000
    load_bars: int = 400_000
    backtest_days: int = 252
    startup_runs_per_repeat: int = 4


FULL = Sizes()
QUICK = Sizes(import_rows=200_000, load_bars=100_000, backtest_days=40)


@dataclass
class BenchContext:
    repeat: int
    sizes: Sizes
    workdir: Path
    backends: Sequence[Backend]
    skipped_backends: dict[str, str] = field(default_factory=dict)  # name -> reason
    log: Callable[[str], None] = print


def _count(n: int) -> str:
    return f"{n:,}"


def _skipped_rows(ctx: BenchContext, benchmark: str) -> list[Row]:
    return [
        Row(benchmark, name, "-", "-", "-", "skipped", notes=reason)
        for name, reason in ctx.skipped_backends.items()
    ]


def _store(database: Database, timeframe: Timeframe, bars: BarArrays) -> StoredInstrument:
    with database.transaction() as repos:
        found = repos.instruments.by_symbol(SYMBOL)
        stored = found[0] if found else repos.instruments.add(default_spec(SYMBOL))
        added = repos.bars.add(stored, timeframe, bars)
    if added != len(bars):
        raise RuntimeError(f"stored {added} of {len(bars)} set-up bars")
    return stored


# --- 1. CSV import -------------------------------------------------------------------------------


def bench_import(ctx: BenchContext) -> list[Row]:
    rows_in_file = ctx.sizes.import_rows
    title = f"CSV import, {_count(rows_in_file)} 1-min rows"
    ctx.log(f"generating a {rows_in_file:,}-row CSV")
    bars = random_walk_bars(consecutive_minutes("2020-01-01", rows_in_file), seed=1)
    csv_path = write_csv(bars, ctx.workdir / "import.csv")
    megabytes = csv_path.stat().st_size / 1e6

    def import_once(backend: Backend) -> Callable[[], float]:
        def action() -> float:
            with fresh_database(backend, "import") as database:
                service = DataService(database)
                request = ImportRequest(
                    file=csv_path, instrument=SYMBOL, timeframe=Timeframe.MINUTE_1
                )
                outcome: list[int] = []
                seconds = timed(lambda: outcome.append(service.import_csv(request).rows_imported))
            if outcome != [rows_in_file]:
                raise RuntimeError(f"imported {outcome} rows, expected {rows_in_file}")
            ctx.log(f"  import {backend.name}: {fmt_seconds(seconds)}")
            return seconds

        return action

    samples = interleave(ctx.repeat, {b.name: import_once(b) for b in ctx.backends})
    result: list[Row] = []
    for backend in ctx.backends:
        seconds = samples[backend.name]
        throughput = rows_in_file / median(seconds)
        result.append(
            Row(
                benchmark=title,
                backend=backend.name,
                median=fmt_seconds(median(seconds)),
                value=f"{throughput:,.0f} rows/s",
                target=f"≥ {IMPORT_TARGET_ROWS_PER_S:,} rows/s",
                verdict="PASS" if throughput >= IMPORT_TARGET_ROWS_PER_S else "FAIL",
                notes=f"{megabytes:.0f} MB file; range {spread(seconds)}",
                samples_s=seconds,
                metrics={"rows": rows_in_file, "rows_per_s": throughput},
            )
        )
    return result + _skipped_rows(ctx, title)


# --- 2. stored bars -> nautilus Bars -------------------------------------------------------------


def bench_load(ctx: BenchContext) -> list[Row]:
    count = ctx.sizes.load_bars
    title = f"Load {_count(count)} stored 1-min bars → Bars"
    bars = random_walk_bars(consecutive_minutes("2022-01-03", count), seed=2)
    result: list[Row] = []
    redis_down = _redis_unavailable()
    for backend in ctx.backends:
        with fresh_database(backend, "load") as database, _bench_cache() as cache:
            ctx.log(f"storing {count:,} bars in {backend.name}")
            stored = _store(database, Timeframe.MINUTE_1, bars)
            backend.settle(database.url)
            samples = _load_samples(
                ctx.repeat, database, stored, bars, None if redis_down else cache
            )
        ctx.log(f"  load {backend.name}: {_brief(samples)}")
        result.append(
            _ratio_row(
                title,
                backend.name,
                samples["measured"],
                samples["floor"],
                LOAD_TARGET_RATIO,
                floor_name="same arrays in memory",
            )
        )
        if redis_down:
            result.append(
                Row(
                    title,
                    f"{backend.name} + redis warm",
                    "-",
                    "-",
                    "-",
                    "skipped",
                    notes=redis_down,
                )
            )
            continue
        if cache.stats.misses != 1 or cache.stats.hits != ctx.repeat:
            raise RuntimeError(f"the warm Redis loads were not all hits: {cache.stats}")
        result.append(
            _ratio_row(
                title,
                f"{backend.name} + redis warm",
                samples["cached"],
                samples["floor"],
                CACHED_LOAD_TARGET_RATIO,
                floor_name="same arrays in memory",
                notes="Redis bar cache warm; the range's version still read from the store",
            )
        )
    return result + _skipped_rows(ctx, title)


def _redis_unavailable() -> str | None:
    """None when the benchmark's Redis answers, else why not."""
    import redis

    client = redis.Redis.from_url(BENCH_REDIS_URL, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis unavailable at {BENCH_REDIS_URL} ({type(exc).__name__})"
    finally:
        client.close()
    return None


@contextmanager
def _bench_cache() -> Iterator[BarCache]:
    """A bar cache under a key prefix of its own, whose keys are deleted afterwards."""
    prefix = f"ntrader-bench-{secrets.token_hex(4)}:"
    cache = BarCache.connect(
        BENCH_REDIS_URL, key_prefix=prefix, ttl_seconds=3600, max_bytes=512 * 2**20
    )
    try:
        yield cache
    finally:
        if cache.enabled:
            cache.clear()
        cache.close()


def _load_samples(
    repeat: int,
    database: Database,
    stored: StoredInstrument,
    bars: BarArrays,
    cache: BarCache | None,
) -> dict[str, list[float]]:
    timeframe = Timeframe.MINUTE_1
    start_ns, end_ns = int(bars.ts[0]), int(bars.ts[-1]) + 1

    def from_store() -> int:
        with database.transaction() as repos:
            data = repos.bars.load(stored, timeframe, start_ns, end_ns)
        return len(to_nautilus_bars(stored.spec, timeframe, data))

    def from_memory() -> int:
        return len(to_nautilus_bars(stored.spec, timeframe, bars))

    actions = {
        "measured": lambda: _timed_count(from_store, len(bars)),
        "floor": lambda: _timed_count(from_memory, len(bars)),
    }
    if cache is not None:

        def from_cache() -> int:
            with database.transaction() as repos:
                data = cache.load(repos.bars, stored, timeframe, start_ns, end_ns)
            return len(to_nautilus_bars(stored.spec, timeframe, data))

        actions["cached"] = lambda: _timed_count(from_cache, len(bars))
    for action in actions.values():  # warm-up: query plans, page cache, allocator
        action()
    return interleave(repeat, actions)


def _brief(samples: dict[str, list[float]]) -> str:
    return ", ".join(f"{name} {fmt_seconds(median(values))}" for name, values in samples.items())


def _timed_count(action: Callable[[], int], expected: int) -> float:
    got: list[int] = []
    seconds = timed(lambda: got.append(action()))
    if got != [expected]:
        raise RuntimeError(f"got {got} bars, expected {expected}")
    return seconds


def _ratio_row(
    title: str,
    backend: str,
    measured: list[float],
    floor: list[float],
    target_ratio: float | None,
    *,
    floor_name: str,
    notes: str = "",
) -> Row:
    per_rep = ratios(measured, floor)
    ratio = median(per_rep)
    verdict: Verdict
    if target_ratio is None:
        target, verdict = "info", "info"
    else:
        target = f"≤ {target_ratio:.2f}x"
        verdict = "PASS" if ratio <= target_ratio else "FAIL"
    return Row(
        benchmark=title,
        backend=backend,
        median=fmt_seconds(median(measured)),
        value=f"{ratio:.2f}x",
        target=target,
        verdict=verdict,
        floor=fmt_seconds(median(floor)),
        notes="; ".join(part for part in (f"floor: {floor_name}", notes) if part),
        samples_s=measured,
        floor_samples_s=floor,
        ratios=per_rep,
        metrics={"ratio": ratio},
    )


# --- 3. backtest run -----------------------------------------------------------------------------


def _backtest_year(
    ctx: BenchContext,
) -> tuple[BarArrays, BarArrays, BacktestConfig]:
    """Row 3's data (seeded minute bars of the benchmark year and their daily bars) and the
    SMA crossover run over it; the memory row measures the same run."""
    days = trading_days(BACKTEST_YEAR, ctx.sizes.backtest_days)
    minute_bars = random_walk_bars(rth_minutes(days), seed=3)
    daily_bars = _daily_from_minutes(minute_bars, daily_opens(days))
    config = BacktestConfig(
        strategy_type="sma_crossover",
        instruments=(SYMBOL,),
        timeframe=Timeframe.MINUTE_1,
        start=date(BACKTEST_YEAR, 1, 1),
        end=date(BACKTEST_YEAR, 12, 31),
        benchmark=SYMBOL,
    )
    return minute_bars, daily_bars, config


def bench_backtest(ctx: BenchContext) -> list[Row]:
    compile_ntrader()
    minute_bars, daily_bars, config = _backtest_year(ctx)
    title = f"backtest run, {_count(len(minute_bars))} 1-min bars"
    result: list[Row] = []
    for backend in ctx.backends:
        with (
            fresh_database(backend, "backtest") as database,
            tempfile.TemporaryDirectory(prefix="ntb-") as runtime,
        ):
            ctx.log(
                f"storing {len(minute_bars):,} minute and {len(daily_bars)} daily bars "
                f"in {backend.name}"
            )
            stored = _store(database, Timeframe.MINUTE_1, minute_bars)
            _store(database, Timeframe.DAILY, daily_bars)
            backend.settle(database.url)
            run = _BacktestSamples(database, stored, minute_bars, config, Path(runtime))
            ctx.log(f"  warm-up backtest ({backend.name})")
            run.service()
            run.bare_engine()
            run.start_spare()
            samples = interleave(
                ctx.repeat,
                {
                    "floor": run.bare_engine,
                    "service": run.service,
                    "cli": run.cli,
                    "warm": run.warm_cli,
                },
            )
            run.let_spare_go()
            report_samples = run.html_report(ctx.repeat)
        ctx.log(f"  backtest {backend.name}: {_brief(samples)}")
        result.append(
            _ratio_row(
                f"{title} (service)",
                backend.name,
                samples["service"],
                samples["floor"],
                BACKTEST_TARGET_RATIO,
                floor_name="bare engine.run()",
                notes=f"engine.run inside the service {fmt_seconds(median(run.engine_inside))}; "
                f"{run.trades} trades",
            )
        )
        result.append(
            _ratio_row(
                f"{title} (CLI subprocess)",
                backend.name,
                samples["cli"],
                samples["floor"],
                BACKTEST_CLI_TARGET_RATIO,
                floor_name="bare engine.run()",
                notes="includes interpreter start-up and imports",
            )
        )
        result.append(
            _ratio_row(
                f"{title} (CLI, warm worker)",
                backend.name,
                samples["warm"],
                samples["floor"],
                BACKTEST_CLI_TARGET_RATIO,
                floor_name="bare engine.run()",
                notes="warm_worker on: a spare with its imports done runs it, and its "
                "successor imports meanwhile",
            )
        )
        result.append(_html_report_row(backend.name, report_samples, run.trades))
    return result + _skipped_rows(ctx, title)


def engine_settings(config: BacktestConfig) -> EngineSettings:
    """The settings ``simulate`` gives the engine for ``config`` (the same names)."""
    values = {
        item.name: getattr(config, item.name)
        for item in fields(EngineSettings)
        if hasattr(config, item.name)
    }
    return EngineSettings(**values)


class _BacktestSamples:
    """The timed things of the backtest case, on one database."""

    def __init__(
        self,
        database: Database,
        stored: StoredInstrument,
        bars: BarArrays,
        config: BacktestConfig,
        runtime: Path,
    ) -> None:
        self._database = database
        self._config = config
        self._runtime = runtime
        self._service = BacktestService(database)
        self._strategy_type = strategy_registry.resolve(config.strategy_type)
        self._parameters = self._strategy_type.validate(config.parameters).model_dump()
        self._inputs = [InstrumentBars(spec=stored.spec, timeframe=config.timeframe, bars=bars)]
        self._settings = engine_settings(config)
        self.engine_inside: list[float] = []
        self.trades = 0

    def service(self) -> float:
        """The whole ``BacktestService.run``: load, run, metrics, persist."""
        outcomes: list[BacktestOutcome] = []
        seconds = timed(lambda: outcomes.append(self._service.run(self._config)))
        outcome = outcomes[0]
        if outcome.run.status is not RunStatus.COMPLETED:
            raise RuntimeError(f"the backtest ended {outcome.run.status}")
        self.engine_inside.append(outcome.result.engine_seconds)
        self.trades = outcome.run.trades_count or 0
        return seconds

    def bare_engine(self) -> float:
        """The floor: only ``engine.run()`` of an engine built on the same bars and strategy."""
        engine = build_engine(self._strategy_type, self._parameters, self._inputs, self._settings)
        try:
            return timed(engine.run)
        finally:
            engine.dispose()

    def cli(self) -> float:
        """The console script, which runs the command in its own process."""
        seconds, own_process = _cli_backtest(self._database, self._config, _WARM_OFF)
        if not own_process:
            raise RuntimeError("a warm worker ran the CLI run meant to start cold")
        return seconds

    def warm_cli(self) -> float:
        """The console script with ``warm_worker`` on, a spare ready."""
        seconds, own_process = _cli_backtest(self._database, self._config, self._warm_on())
        if own_process:
            raise RuntimeError("no warm worker was ready for the warm CLI run")
        return seconds

    def start_spare(self) -> None:
        """The first command with ``warm_worker`` on runs in its own process and starts a
        spare; the next one, untimed, waits for its imports."""
        _cli_backtest(self._database, self._config, self._warm_on())
        deadline = time.monotonic() + 60
        while not any((self._runtime / "ntrader").glob("*.sock")):
            if time.monotonic() > deadline:
                raise RuntimeError("no warm worker started")
            time.sleep(0.05)
        self.warm_cli()

    def let_spare_go(self) -> None:
        """End the spare left waiting: with the setting off it declines the command handed
        to it and exits; the command (an unknown strategy) then fails at once on its own."""
        args = _cli_backtest_args(self._config.model_copy(update={"strategy_type": "none"}))
        env = {**os.environ, **self._warm_on(), **_WARM_OFF}
        subprocess.run(args, env=env, capture_output=True, check=False)

    def _warm_on(self) -> dict[str, str]:
        # Its own runtime dir; the spare outlives the longest gap between two timed runs.
        return {
            "NTRADER_WARM_WORKER": "1",
            "NTRADER_WARM_WORKER_IDLE_MINUTES": "10",
            "XDG_RUNTIME_DIR": str(self._runtime),
        }

    def html_report(self, repeat: int) -> list[float]:
        """Generating the latest run's HTML report (loading it from the store included)."""
        reports = ReportService(self._database)
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "report.html"
            reports.generate("latest", "html", target)  # warm-up
            return [
                timed(lambda: reports.generate("latest", "html", target)) for _ in range(repeat)
            ]


HTML_REPORT_TARGET_SECONDS = 1.0


def _html_report_row(backend: str, samples: list[float], trades: int) -> Row:
    seconds = median(samples)
    return Row(
        benchmark=f"HTML report, run with {trades:,} trades",
        backend=backend,
        median=fmt_seconds(seconds),
        value=fmt_seconds(seconds),
        target=f"< {HTML_REPORT_TARGET_SECONDS:.0f} s",
        verdict="PASS" if seconds < HTML_REPORT_TARGET_SECONDS else "FAIL",
        notes="self-contained file, plotly.js embedded; includes loading the run",
        samples_s=samples,
    )


class _DoNothingConfig(StrategyConfig, frozen=True):
    bar_type: BarType


class _DoNothing(Strategy):
    """Subscribes to the same bars and ignores them: the engine's own cost per bar."""

    def __init__(self, config: _DoNothingConfig) -> None:
        super().__init__(config)
        self._bar_type = config.bar_type

    def on_start(self) -> None:
        self.subscribe_bars(self._bar_type)

    def on_bar(self, bar: Bar) -> None:
        pass


STRATEGY_COST_TARGET_RATIO = 1.3
BUILT_IN_STRATEGIES = ("sma_crossover", "mean_reversion", "momentum")


def bench_strategy(ctx: BenchContext) -> list[Row]:
    """Each built-in strategy's own cost: its engine.run() against a do-nothing strategy's
    on the same bars (SPEC §10). Order handling inside nautilus counts towards it."""
    days = trading_days(BACKTEST_YEAR, ctx.sizes.backtest_days)
    bars = random_walk_bars(rth_minutes(days), seed=3)
    spec = default_spec(SYMBOL)
    inputs = [InstrumentBars(spec=spec, timeframe=Timeframe.MINUTE_1, bars=bars)]
    bar_type = bar_type_for(spec, Timeframe.MINUTE_1)

    def engine_run(name: str | None) -> float:
        strategy_type = strategy_registry.resolve(name or "sma_crossover")
        parameters = strategy_type.validate({}).model_dump()
        engine = build_engine(strategy_type, parameters, inputs, EngineSettings())
        try:
            if name is None:
                engine.clear_strategies()
                engine.add_strategy(_DoNothing(_DoNothingConfig(bar_type=bar_type)))
            seconds = timed(engine.run)
            orders = len(engine.cache.orders())
            order_counts[name] = orders
            return seconds
        finally:
            engine.dispose()

    order_counts: dict[str | None, int] = {}
    actions: dict[str, Callable[[], float]] = {"nothing": lambda: engine_run(None)}
    for name in BUILT_IN_STRATEGIES:
        actions[name] = lambda name=name: engine_run(name)
    for action in actions.values():
        action()
    samples = interleave(ctx.repeat, actions)
    ctx.log(f"  strategy: {_brief(samples)}")
    return [
        _ratio_row(
            f"{name} cost, {_count(len(bars))} 1-min bars",
            "-",
            samples[name],
            samples["nothing"],
            STRATEGY_COST_TARGET_RATIO,
            floor_name="engine.run() of a do-nothing strategy on the same bars",
            notes=f"{order_counts[name]:,} orders",
        )
        for name in BUILT_IN_STRATEGIES
    ]


def _daily_from_minutes(minutes: BarArrays, day_opens: np.ndarray) -> BarArrays:
    """Daily bars that agree with the minute bars (open, high, low, close, volume per day)."""
    per_day = RTH_BARS_PER_DAY
    shape = (-1, per_day)
    return BarArrays(
        ts=day_opens,
        open=minutes.open.reshape(shape)[:, 0].copy(),
        high=minutes.high.reshape(shape).max(axis=1),
        low=minutes.low.reshape(shape).min(axis=1),
        close=minutes.close.reshape(shape)[:, -1].copy(),
        volume=minutes.volume.reshape(shape).sum(axis=1),
        price_precision=minutes.price_precision,
    )


@cache
def compile_ntrader() -> None:
    """Write the bytecode of ntrader's own modules before a command is timed, as a user's
    first run does (Python writes ``.pyc`` files as it imports). An editable install is not
    compiled by ``uv sync --compile-bytecode``, and with PYTHONDONTWRITEBYTECODE set (as
    here) every subprocess would otherwise compile all of ntrader from source again."""
    compileall.compile_dir(Path(ntrader_package.__file__).parent, quiet=1)


@cache
def _scripts_dir() -> Path:
    return Path(sysconfig.get_path("scripts"))


def _ntrader_script() -> Path:
    return _scripts_dir() / "ntrader"


def _run(
    args: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, str]:
    seconds, stdout, _pid = _run_process(args, env, cwd)
    return seconds, stdout


def _run_process(
    args: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, str, int]:
    """Wall seconds, stdout and pid of one run of ``args``, which must succeed."""
    started = time.perf_counter()
    process = subprocess.Popen(
        list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    )
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited {process.returncode}: {stderr.strip()[-2000:]}"
        )
    return seconds, stdout, process.pid


_WARM_OFF = {"NTRADER_WARM_WORKER": "0"}  # whatever the user's config file says


def _cli_backtest(
    database: Database, config: BacktestConfig, settings: dict[str, str]
) -> tuple[float, bool]:
    """Wall seconds of `backtest run` through the console script, and whether the script's
    own process ran it (the stored run's pid), not a warm worker."""
    env = {**os.environ, "NTRADER_DATABASE_URL": database.url, **settings}
    seconds, stdout, pid = _run_process(_cli_backtest_args(config), env)
    run_id = json.loads(stdout)["id"]  # the command printed one JSON object
    return seconds, RunHistory(database).get(run_id).host_pid == pid


def _cli_backtest_args(config: BacktestConfig) -> list[str]:
    return [
        str(_ntrader_script()),
        "backtest",
        "run",
        "--strategy",
        config.strategy_type,
        "--instruments",
        ",".join(config.instruments),
        "--timeframe",
        config.timeframe.value,
        "--start",
        config.start.isoformat(),
        "--end",
        config.end.isoformat(),
        "--benchmark",
        config.benchmark,
        "--json",
    ]


# Runs the command given as its arguments and prints its wall seconds, its peak resident set
# (KiB) and its exit status. The measured process must be the child of a small process: Linux
# carries the high-water mark of the memory a process replaces at exec into its
# ``ru_maxrss``, and a child spawned from this benchmark (vfork or fork) replaces this
# process' memory, so its figure would be at least this process' own peak (bars, engines:
# 600 MiB and more). Pool workers are the command's children and count only when one of
# them is larger than the command itself.
_PEAK_LAUNCHER = """
import os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def _measured_process(args: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one run of ``args`` (its own, not this
    process'; see above)."""
    # A file, not a pipe: a chatty child (backtesting.py's progress bars) would fill a pipe
    # nobody reads until it exits, and block.
    with tempfile.TemporaryFile() as errors:
        completed = subprocess.run(
            [sys.executable, "-c", _PEAK_LAUNCHER, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            check=True,
        )
        seconds, peak_kib, code = completed.stdout.split()
        if int(code) != 0:
            errors.seek(0)
            stderr = errors.read().decode(errors="replace")
            raise RuntimeError(f"{' '.join(args)} exited {code}: {stderr[-2000:]}")
    return float(seconds), int(peak_kib) / 1024


# --- 4. start-up ---------------------------------------------------------------------------------

_MODULES_PROBE = """
import json, sys
from ntrader.cli import main as entry
sys.argv = ["ntrader", "--help"]
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    try:
        entry.main()
    except SystemExit:
        pass
heavy = ("nautilus_trader", "pandas", "numpy", "sqlalchemy", "alembic", "pydantic", "plotly",
         "rich", "psycopg")
print(json.dumps({name: name in sys.modules for name in heavy}))
"""


def help_imports() -> dict[str, bool]:
    """Which heavy packages ``ntrader --help`` imports (run in a fresh interpreter)."""
    _, stdout = _run([sys.executable, "-c", _MODULES_PROBE])
    return {str(k): bool(v) for k, v in json.loads(stdout).items()}


def _user_shell_env() -> dict[str, str]:
    """This environment minus what `uv run` exported to the benchmark script."""
    exported = ("VIRTUAL_ENV", "UV", "UV_RUN_RECURSION_DEPTH")
    return {name: value for name, value in os.environ.items() if name not in exported}


def _is_script(path: str) -> bool:
    """A `#!` wrapper (such as a pyenv shim) rather than the uv binary itself."""
    with open(path, "rb") as file:
        return file.read(2) == b"#!"


def bench_startup(ctx: BenchContext) -> list[Row]:
    compile_ntrader()
    ntrader = [str(_ntrader_script()), "--help"]
    python = [sys.executable, "-c", "pass"]
    actions: dict[str, Callable[[], float]] = {
        "ntrader": lambda: _run(ntrader)[0],
        "python": lambda: _run(python)[0],
    }
    uv = shutil.which("uv")
    user_env = _user_shell_env()
    uv_run = [uv, "run", "ntrader", "--help"] if uv else []
    if uv:
        actions["uv run"] = lambda: _run(uv_run, user_env, cwd=REPO_ROOT)[0]
        actions["uv"] = lambda: _run([uv, "--version"], user_env)[0]
    for _ in range(2):  # warm-up: page cache, .pyc files, and the first `uv run` may sync
        for action in actions.values():
            action()
    runs = ctx.repeat * ctx.sizes.startup_runs_per_repeat
    samples = interleave(runs, actions)
    imported = help_imports()
    nautilus = imported.pop("nautilus_trader")
    seconds = median(samples["ntrader"])
    verdict: Verdict = "PASS" if seconds < STARTUP_TARGET_S and not nautilus else "FAIL"
    also = ", ".join(name for name, loaded in imported.items() if loaded) or "none"
    per_rep = ratios(samples["ntrader"], samples["python"])
    rows = [
        Row(
            benchmark="ntrader --help start-up",
            backend="-",
            median=fmt_seconds(seconds),
            value=f"{median(per_rep):.1f}x",
            target=f"< {STARTUP_TARGET_S} s, no nautilus",
            verdict=verdict,
            floor=fmt_seconds(median(samples["python"])),
            nautilus_on_help="YES" if nautilus else "no",
            notes=f"floor: python -c pass; {runs} runs; --help imports: {also}",
            samples_s=samples["ntrader"],
            floor_samples_s=samples["python"],
            ratios=per_rep,
            metrics={"help_imports": {"nautilus_trader": nautilus, **imported}},
        )
    ]
    title = "uv run ntrader --help start-up"
    if not uv:
        return [*rows, Row(title, "-", "-", "-", "-", "skipped", notes="uv is not on PATH")]
    # What the user sees must be exactly the console script's help: no sync or build chatter.
    shown = subprocess.run(
        uv_run, capture_output=True, text=True, env=user_env, cwd=REPO_ROOT, check=False
    )
    extra = shown.stderr.strip() or ("" if shown.stdout == _run(ntrader)[1] else "other stdout")
    uv_seconds = median(samples["uv run"])
    uv_ratios = ratios(samples["uv run"], samples["ntrader"])
    wrapper = ", a #! wrapper (e.g. a pyenv shim)" if _is_script(uv) else ""
    notes = (
        f"in the checkout, uv from PATH ({uv}{wrapper}); floor: the console script; "
        f"`uv --version` alone {fmt_seconds(median(samples['uv']))}; {runs} runs"
    )
    rows.append(
        Row(
            benchmark=title,
            backend="-",
            median=fmt_seconds(uv_seconds),
            value=f"{median(uv_ratios):.1f}x",
            target=f"< {UV_RUN_TARGET_S} s, prints only the help",
            verdict="PASS" if uv_seconds < UV_RUN_TARGET_S and not extra else "FAIL",
            floor=fmt_seconds(seconds),
            nautilus_on_help="YES" if nautilus else "no",
            notes=notes + (f"; also printed: {extra[:200]!r}" if extra else ""),
            samples_s=samples["uv run"],
            floor_samples_s=samples["ntrader"],
            ratios=uv_ratios,
            metrics={"uv": uv, "uv_is_wrapper": bool(wrapper), "uv_version_s": samples["uv"]},
        )
    )
    return rows


# --- 7. peak memory of backtest run --------------------------------------------------------------

# What backtesting.py holds for the same bars and strategy (issue 12), for the notes only.
BACKTESTING_PY_MIB = 130


def bench_memory(ctx: BenchContext) -> list[Row]:
    """Peak resident memory of the whole `ntrader backtest run` process (the kernel's high
    water mark of the child, interpreter and imports included), one run per repetition."""
    compile_ntrader()
    minute_bars, daily_bars, config = _backtest_year(ctx)
    title = f"backtest run peak memory, {_count(len(minute_bars))} 1-min bars"
    result: list[Row] = []
    for backend in ctx.backends:
        with fresh_database(backend, "memory") as database:
            _store(database, Timeframe.MINUTE_1, minute_bars)
            _store(database, Timeframe.DAILY, daily_bars)
            backend.settle(database.url)
            # The command's own process, not the client of a warm worker.
            env = {**os.environ, "NTRADER_DATABASE_URL": database.url, **_WARM_OFF}
            args = _cli_backtest_args(config)
            peaks = [_measured_process(args, env)[1] for _ in range(ctx.repeat)]
        ctx.log(f"  memory {backend.name}: {median(peaks):.0f} MiB")
        result.append(
            Row(
                benchmark=title,
                backend=backend.name,
                median=f"{median(peaks):.0f} MiB",
                value=f"{median(peaks):.0f} MiB",
                target="info",
                verdict="info",
                notes=f"whole process (VmHWM); backtesting.py ≈ {BACKTESTING_PY_MIB} MiB on the "
                "same bars",
                metrics={"peak_mib": median(peaks), "samples_mib": peaks},
            )
        )
    return result + _skipped_rows(ctx, title)


def bench_ib(ctx: BenchContext) -> list[Row]:
    # Imported here: the IB rows pull in ibapi and the fetch service, which the others never need.
    from ib_cases import bench_ib as run_ib_rows

    return run_ib_rows(ctx)


# --- sweep against the peers ------------------------------------------------------------------

SWEEP_EFFICIENCY_TARGET = 0.8
# Engine runs on the sweep row's bars (a year of minutes, the executor's real workload);
# an even count, so that two workers can share them evenly.
SWEEP_POOL_RUNS = 4
_PEERS = ("backtesting", "vectorbt")


def bench_sweep(ctx: BenchContext) -> list[Row]:
    """The 90-point SMA grid: ntrader's screen with the top 5 through nautilus against
    backtesting.py's optimizer and vectorbt, each its own process (sweep_peers.py), then the
    local pool's parallel efficiency on 2 workers."""
    script = Path(__file__).resolve().parent / "sweep_peers.py"
    days = ctx.sizes.backtest_days
    bars = f"{_count(days * RTH_BARS_PER_DAY)} 1-min bars"
    missing = [peer for peer in _PEERS if importlib.util.find_spec(peer) is None]
    contenders = ["ntrader", *(peer for peer in _PEERS if peer not in missing)]
    env = dict(os.environ)
    peaks: dict[str, list[float]] = {name: [] for name in contenders}

    def contender(name: str) -> Callable[[], float]:
        def measure() -> float:
            seconds, peak = _measured_process([sys.executable, str(script), name, str(days)], env)
            peaks[name].append(peak)
            return seconds

        return measure

    samples = interleave(ctx.repeat, {name: contender(name) for name in contenders})
    title = f"sweep, 90-point SMA grid on {bars}"
    rows = []
    for name in contenders:
        seconds = samples[name]
        row = Row(
            title,
            name if name != "ntrader" else "ntrader (screen + top 5 in nautilus, 2 workers)",
            fmt_seconds(median(seconds)),
            f"{median(peaks[name]):.0f} MiB peak",
            "-",
            "info",
            samples_s=seconds,
            metrics={"peak_mib": peaks[name]},
        )
        if name == "ntrader" and "vectorbt" in samples:
            ratio = median(ratios(seconds, samples["vectorbt"]))
            row.value += f", {ratio:.2f}x vectorbt"
            row.target = "< vectorbt"
            row.verdict = "PASS" if ratio < 1.0 else "FAIL"
            row.metrics["ratio_to_vectorbt"] = ratio
        rows.append(row)
    rows += [
        Row(title, peer, "-", "-", "-", "skipped", notes="`uv sync --group bench` installs it")
        for peer in missing
    ]
    return [*rows, _pool_efficiency_row(ctx, script, env, days)]


def _pool_efficiency_row(ctx: BenchContext, script: Path, env: dict[str, str], days: int) -> Row:
    """Throughput (SPEC §10): from the first run's start to the last result, 1 worker
    against 2. With the pool's start-up (its fork server importing the engine, about 2.5 s,
    which a sweep overlaps with loading and screening) the efficiency is in the notes."""
    with_start: dict[str, list[float]] = {"1": [], "2": []}

    def pool(workers: int) -> Callable[[], float]:
        args = [sys.executable, str(script), "pool", str(workers), str(SWEEP_POOL_RUNS), str(days)]

        def measure() -> float:
            done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
            times = json.loads(done.stdout)
            with_start[str(workers)].append(float(times["executor_seconds"]))
            return float(times["working_seconds"])

        return measure

    samples = interleave(ctx.repeat, {"1": pool(1), "2": pool(2)})
    efficiency = [one / (2 * two) for one, two in zip(samples["1"], samples["2"], strict=True)]
    value = median(efficiency)
    started = median(
        [one / (2 * two) for one, two in zip(with_start["1"], with_start["2"], strict=True)]
    )
    return Row(
        f"sweep pool, {SWEEP_POOL_RUNS} engine runs on {_count(days * RTH_BARS_PER_DAY)} 1-min "
        "bars: time(1 worker) / (2 x time(2 workers))",
        "local",
        fmt_seconds(median(samples["2"])),
        f"{value:.0%}",
        f"≥ {SWEEP_EFFICIENCY_TARGET:.0%}",
        "PASS" if value >= SWEEP_EFFICIENCY_TARGET else "FAIL",
        floor=fmt_seconds(median(samples["1"])),
        notes="throughput: first run's start to last result; with the pool's start-up "
        f"(fork server, workers) {started:.0%} ({fmt_seconds(median(with_start['2']))} vs "
        f"{fmt_seconds(median(with_start['1']))}); floor column: 1 worker",
        samples_s=samples["2"],
        floor_samples_s=samples["1"],
        ratios=efficiency,
    )


CASES: dict[str, Callable[[BenchContext], list[Row]]] = {
    "import": bench_import,
    "load": bench_load,
    "backtest": bench_backtest,
    "strategy": bench_strategy,
    "startup": bench_startup,
    "ib": bench_ib,
    "sweep": bench_sweep,
    "api": bench_api,
    "memory": bench_memory,
}
