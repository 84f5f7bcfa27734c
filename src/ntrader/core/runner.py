"""Runs one backtest through nautilus' BacktestEngine and reads back what happened."""

from __future__ import annotations

import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.component import is_backtest_force_stop
from nautilus_trader.common.events import TimeEvent
from nautilus_trader.core.data import Data
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide, OrderStatus
from nautilus_trader.model.identifiers import ClientOrderId, TraderId, Venue
from nautilus_trader.model.objects import Currency, Money, Price
from nautilus_trader.model.position import Position
from nautilus_trader.trading.strategy import Strategy

from ntrader.core.errors import NtraderError, UserInputError
from ntrader.core.fees import ScheduleFeeModel
from ntrader.core.fill_models import SlippageFillModel
from ntrader.core.fx import (
    RateFeed,
    check_convertible,
    conversion_pairs,
    fill_key,
    needs_conversion,
    rate_path,
)
from ntrader.core.nautilus_bars import (
    BarColumns,
    OpenTickColumns,
    bar_columns,
    bar_type_for,
    close_times_ns,
    open_tick_columns,
    open_times_ns,
)
from ntrader.core.nautilus_instruments import to_nautilus
from ntrader.core.nautilus_logs import nautilus_logs
from ntrader.core.strategies.base import ExecutionContext, SignalRecord, SignalStrategy
from ntrader.core.strategy_registry import StrategyType
from ntrader.core.timeframes import aggregate, check_higher, visible_span
from ntrader.models.backtest import DEFAULT_STOP_ATR, TradeRecord
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe, TradeSide
from ntrader.models.execution import Allocation, CommissionModel, FillAt, SizingMode
from ntrader.models.instrument import InstrumentSpec
from ntrader.utils.timeutil import ns_to_datetime


@dataclass(frozen=True, slots=True)
class InstrumentBars:
    spec: InstrumentSpec
    timeframe: Timeframe
    bars: BarArrays
    # Stored bars of the strategy's higher timeframe covering the run; None: aggregated.
    higher: BarArrays | None = None


@dataclass(frozen=True, slots=True)
class EngineSettings:
    initial_capital: float = 100_000.0
    commission: CommissionModel = field(default_factory=CommissionModel)
    slippage_bps: float = 0.0
    position_size: float = 1.0  # what the sizing mode sizes by: risk %, equity % or units
    currency: str = "USD"
    fill_at: FillAt = FillAt.NEXT_OPEN
    sizing: SizingMode = SizingMode.RISK
    max_position_pct: float = 10.0
    allocation: Allocation = Allocation.EQUAL
    initial_stop_atr: float | None = DEFAULT_STOP_ATR
    take_profit_r: float | None = None
    trailing_stop_atr: float | None = None
    # Have each strategy keep a SignalRecord per bar (EngineOutput.signals).
    record_signals: bool = False


@dataclass(frozen=True, slots=True)
class Fills:
    """Every fill of the run, as columns: enough to rebuild the equity curve."""

    instrument_id: np.ndarray  # str
    ts: np.ndarray  # int64 ns
    signed_qty: np.ndarray  # float64: + buy, - sell
    price: np.ndarray
    commission: np.ndarray  # in the account currency
    # Quote-to-account rate nautilus converted the fill with (1 for the account currency),
    # and the fill's effect in the quote currency: PnL realised, cost of the open lots.
    rate: np.ndarray
    realized: np.ndarray
    open_cost: np.ndarray


ProgressCallback = Callable[[int, int], None]
"""Called with (bars processed, bars in the run) as the engine works through the bars."""

# How many times a run reports progress: often enough for a smooth bar and an ETA, rare
# enough that the callbacks cost nothing next to the engine's per-bar work.
PROGRESS_STEPS = 200


class StrategyError(UserInputError):
    """The strategy's own code raised (or called ``sys.exit``) inside a nautilus handler.

    nautilus 1.231 logs and re-raises an exception from any strategy handler (``on_start``,
    ``on_bar``, order and position events, ``on_stop``), ending ``BacktestEngine.run``;
    ``SystemExit`` passes its ``except Exception`` untouched. Either way the run is over and
    its partial results are worthless.
    """

    def __init__(self, exc: BaseException, strategy_files: set[str]) -> None:
        self.location = _strategy_location(exc, strategy_files)
        self.reason = _describe_exception(exc)
        where = f" at {self.location}" if self.location else ""
        super().__init__(
            f"the strategy raised {self.reason}{where}",
            hint="Fix the strategy, then run the backtest again.",
        )


class EngineStoppedError(NtraderError):
    """nautilus ended the run before the last bar without raising.

    ``BacktestEngine.run`` catches an ``AccountError`` (a cash balance going negative, for
    one) in its main loop, logs it and stops, keeping whatever happened so far: a truncated
    run that must not pass for a finished one.
    """

    def __init__(self, processed: int, total: int, at_ns: int) -> None:
        super().__init__(
            f"nautilus stopped the run at {ns_to_datetime(at_ns):%Y-%m-%d %H:%M} UTC after "
            f"{processed:,} of {total:,} bars, on an account error (an order took a cash "
            "balance below zero, or margin ran out); the results would be incomplete",
            hint="Size orders within the account's cash (the built-in strategies cap each "
            "position at 10 % of equity), or allow shorting for a margin account.",
        )


class EquityMismatchError(NtraderError):
    """ntrader's equity (rebuilt from the fills) disagrees with nautilus' own account."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            hint="This is a bug in ntrader (or nautilus), not in your inputs: please report "
            "it with the run's configuration (`ntrader backtest show ID --json`).",
        )


@dataclass(frozen=True, slots=True)
class VenueEquity:
    """One venue's equity at the end of a run, as ntrader rebuilt it and as nautilus holds it."""

    venue: str
    ours: float
    nautilus: float
    tolerance: float
    open_positions: int


@dataclass(frozen=True, slots=True)
class EngineOutput:
    trades: list[TradeRecord]
    fills: Fills
    account_equity: dict[str, float]  # venue -> nautilus' equity in the account currency
    open_positions: dict[str, int]  # venue -> positions still open at the end
    engine_seconds: float
    # Conversion pairs' prices in the order nautilus' cache saw them: symbol -> (ts, price).
    rate_quotes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # instrument id -> the strategy's SignalRecords, when EngineSettings.record_signals.
    signals: dict[str, list[SignalRecord]] = field(default_factory=dict)
    refused_orders: tuple[RefusedOrder, ...] = ()


@dataclass(frozen=True, slots=True)
class RefusedOrder:
    """An order nautilus did not accept: denied by its risk engine before reaching the
    venue, or rejected by the venue. The run's figures hold without it, so the user must
    hear of it: nautilus' own log, which would say so, is off by default."""

    status: str  # "DENIED" or "REJECTED"
    instrument_id: str
    side: str
    quantity: str
    ts: int  # ns, when it was refused
    reason: str


def build_engine(
    strategy_type: StrategyType,
    parameters: dict[str, Any],
    inputs: Sequence[InstrumentBars],
    settings: EngineSettings,
) -> BacktestEngine:
    """An engine loaded with venues, instruments, bars and one strategy per instrument, all
    its data held in the engine: ``engine.run()`` plays it, ``engine.reset()`` keeps it."""
    engine, _, _, series = _build(strategy_type, parameters, inputs, settings)
    for columns in series:
        engine.add_data(columns.objects(0, columns.ts.size), sort=False)
    engine.sort_data()
    return engine


def _build(
    strategy_type: StrategyType,
    parameters: dict[str, Any],
    inputs: Sequence[InstrumentBars],
    settings: EngineSettings,
    conversions: Sequence[InstrumentBars] = (),
) -> tuple[BacktestEngine, SlippageFillModel, RateFeed, list[BarColumns | OpenTickColumns]]:
    """The engine without its data, and the data, in the order nautilus is to play series
    that share a timestamp (its ``sort_data`` is stable).

    ``conversions``: pairs that convert a cross's quote currency (GBPUSD for EURGBP),
    loaded into the engine for their prices only; no strategy trades them."""
    check_convertible([i.spec for i in inputs], settings.currency, [c.spec for c in conversions])
    engine = BacktestEngine(
        config=BacktestEngineConfig(
            trader_id=TraderId("NTRADER-001"),
            logging=nautilus_logs.logging_config(),
            run_analysis=False,
        )
    )
    # nautilus 1.231 records every closed position for its own analysis with a pd.concat,
    # quadratic in the number of trades (nautilus_trader#4434); we compute our metrics from
    # the fills and never read it, so the recording is switched off.
    engine.portfolio.analyzer.record_trade = _ignore_trade
    currency = Currency.from_str(settings.currency)
    fill_model = SlippageFillModel(settings.slippage_bps)
    fee_model = ScheduleFeeModel(settings.commission, currency)
    # A cash account cannot go short nor hold more than its cash. Shorting strategies, and
    # positions allowed above 100 % of equity, get a margin account without leverage;
    # nautilus does not enforce margin in backtests, so SignalStrategy caps gross exposure
    # itself (sizing.MAX_GROSS_LEVERAGE). Other runs keep the cash account and its checks;
    # both mark equity the same way, so long-only results do not depend on it.
    # nautilus refuses currency pairs on a single-currency cash account: FX venues get a
    # margin account (unlevered, the same marks; see above).
    # A shared pool sizes each entry against every venue's equity, which one venue's cash
    # cannot pay for: margin accounts everywhere, the gross limit kept by the sizing.
    shared = settings.allocation is Allocation.SHARED
    margin = bool(parameters.get("allow_short", False)) or settings.max_position_pct > 100
    margin = margin or shared
    fx_venues = {item.spec.venue for item in [*inputs, *conversions] if item.spec.is_fx}
    # Each venue's account holds the capital of the instruments that trade there (equal
    # sleeves); with a shared pool that is bookkeeping, sizing looks at the total.
    sleeves = Counter(item.spec.venue for item in inputs)
    strategy_class, config_class = strategy_type.load()
    unmatched = bars_unmatched(strategy_class, settings)
    for venue, count in sleeves.items():
        engine.add_venue(
            venue=Venue(venue),
            oms_type=OmsType.HEDGING,
            account_type=AccountType.MARGIN if margin or venue in fx_venues else AccountType.CASH,
            base_currency=currency,
            starting_balances=[Money(settings.initial_capital * count / len(inputs), currency)],
            default_leverage=Decimal(1),
            fill_model=fill_model,
            fee_model=fee_model,
            # Within a bar, the extreme nearer the open trades first (stops and limits).
            bar_adaptive_high_low_ordering=True,
            bar_execution=not unmatched,
        )
    next_open = settings.fill_at is FillAt.NEXT_OPEN
    higher = strategy_type.validate(parameters).higher_timeframe()
    converted = [item for item in inputs if needs_conversion(item.spec, settings.currency)]
    rate_feed = RateFeed(
        [item.spec for item in converted],
        [bar_type_for(i.spec, i.timeframe) for i in _quoted(inputs, conversions, settings)],
        settings.currency,
        with_ticks=next_open,
    )
    engine.add_actor(rate_feed)  # before the strategies: it must quote each bar first
    fee_model.rate_at_fill = rate_feed.rate_at_fill
    series: list[BarColumns | OpenTickColumns] = []
    for item in conversions:
        engine.add_instrument(to_nautilus(item.spec))
        series.append(bar_columns(item.spec, item.timeframe, item.bars))
    for item in inputs:
        engine.add_instrument(to_nautilus(item.spec))
        series.append(bar_columns(item.spec, item.timeframe, item.bars))
        if higher is not None:
            # After the run's own bars: at a shared timestamp those play first, so
            # nautilus executes on the run's bars and the higher bar comes last.
            higher_bars = _higher_bars(item, higher)
            if not higher_bars.is_empty:
                series.append(bar_columns(item.spec, higher, higher_bars))
        config = config_class(
            strategy_id=f"{strategy_type.name.upper()}-{item.spec.symbol}",
            instrument_id=to_nautilus(item.spec).id,
            bar_type=bar_type_for(item.spec, item.timeframe),
            sizing=settings.sizing,
            position_size=settings.position_size,
            max_position_pct=settings.max_position_pct,
            stop_atr=settings.initial_stop_atr,
            take_profit_r=settings.take_profit_r,
            trailing_stop_atr=settings.trailing_stop_atr,
            higher_bar_type=bar_type_for(item.spec, higher) if higher is not None else None,
            shared_equity=shared,
            record_signals=settings.record_signals,
            **parameters,
        )
        strategy = strategy_class(config)
        strategy.set_execution(
            ExecutionContext(
                open_times_ns=(
                    open_times_ns(item.spec, item.timeframe, item.bars.ts) if next_open else None
                ),
                slippage_bps=settings.slippage_bps,
                commission=settings.commission,
                bars_unmatched=unmatched,
            )
        )
        engine.add_strategy(strategy)
    if next_open:
        # After every bar so that, at a shared timestamp (an intraday bar's close is the
        # next one's open), the bar plays first and its signal sees it.
        for item in [*inputs, *conversions]:
            series.append(open_tick_columns(item.spec, item.timeframe, item.bars))
    return engine, fill_model, rate_feed, series


# Objects per chunk of a streamed run: a few MiB, where a 98,280-bar minute run's bars and
# opening trades take about 60 MiB whole; large enough that the per-chunk work is negligible.
STREAM_CHUNK = 10_000


class _Stream:
    """A run's data fed to nautilus a chunk at a time (``BacktestEngine.add_data_iterator``)
    in exactly the order its ``sort_data`` plays it whole: each chunk's objects are made as
    the engine reaches them and released once played, instead of all of them living for the
    whole run. ``start_ns`` and ``end_ns`` are the span nautilus takes from data it holds."""

    def __init__(self, series: Sequence[BarColumns | OpenTickColumns]) -> None:
        self._series = series
        ts = np.concatenate([columns.ts for columns in series])
        # Stable, as sort_data: at a shared timestamp the series keep the order they came in.
        self._order = np.argsort(ts, kind="stable")
        self._offsets = np.cumsum([0, *(columns.ts.size for columns in series)])
        self.start_ns = int(ts[self._order[0]])
        self.end_ns = int(ts[self._order[-1]])

    def attach(self, engine: BacktestEngine) -> None:
        # add_data of each series' first object registers the series as add_data of all of
        # it does: checked against the cache, and known as played from the engine's own data,
        # so a strategy subscribing to it is not sent to request it from the (empty) data
        # client. clear_data then drops those objects and keeps the registration.
        for columns in self._series:
            engine.add_data(columns.objects(0, 1), sort=False)
        engine.clear_data()
        engine.add_data_iterator("ntrader", self._chunks())

    def _chunks(self) -> Iterator[list[Data]]:
        for first in range(0, self._order.size, STREAM_CHUNK):
            yield self._objects(self._order[first : first + STREAM_CHUNK])

    def _objects(self, picked: np.ndarray) -> list[Data]:
        """The objects at ``picked`` (positions in the series laid end to end), in its order."""
        owner = np.searchsorted(self._offsets, picked, side="right") - 1
        made: list[Data] = []
        at = np.empty(picked.size, dtype=np.int64)
        for index in np.unique(owner).tolist():
            mine = owner == index
            rows = picked[mine] - self._offsets[index]
            low = int(rows.min())
            at[mine] = len(made) + rows - low
            made.extend(self._series[index].objects(low, int(rows.max()) + 1))
        return [made[i] for i in at.tolist()]


def bars_unmatched(strategy_class: type, settings: EngineSettings) -> bool:
    """Whether the venue can skip matching orders against bars: the strategy declares in its
    own class that it sends market orders only, they fill at the next open (the opening
    trade sets that price; nautilus' bar matching would only replay each bar's open, high,
    low and close for orders that rest), and no stop, take-profit or trailing stop rests.
    The same fills, a third less engine time (docs/performance.md)."""
    return (
        bool(vars(strategy_class).get("market_orders_only", False))
        and settings.fill_at is FillAt.NEXT_OPEN
        and settings.initial_stop_atr is None
        and settings.take_profit_r is None
        and settings.trailing_stop_atr is None
    )


def _quoted(
    inputs: Sequence[InstrumentBars],
    conversions: Sequence[InstrumentBars],
    settings: EngineSettings,
) -> list[InstrumentBars]:
    """What nautilus needs as quotes: the converted instruments and their conversion pairs
    (which may be among the instruments traded)."""
    pairs = {
        pair for item in inputs for pair in conversion_pairs(item.spec, settings.currency) or ()
    }
    return [
        item
        for item in [*inputs, *conversions]
        if needs_conversion(item.spec, settings.currency) or item.spec.symbol in pairs
    ]


def _rate_quotes(
    inputs: Sequence[InstrumentBars],
    conversions: Sequence[InstrumentBars],
    settings: EngineSettings,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The conversion pairs' quotes as the RateFeed puts them in the cache: each bar's close
    at its close time then, with next-open fills, each open tick and the final one (ticks
    come after the bars of the same instant)."""
    quotes = {}
    for item in _quoted(inputs, conversions, settings):
        if needs_conversion(item.spec, settings.currency):
            continue
        ts = [close_times_ns(item.spec, item.timeframe, item.bars.ts)]
        prices = [item.bars.close]
        if settings.fill_at is FillAt.NEXT_OPEN:
            ts += [open_times_ns(item.spec, item.timeframe, item.bars.ts), ts[0][-1:]]
            prices += [item.bars.open, item.bars.close[-1:]]
        all_ts = np.concatenate(ts)
        order = np.argsort(all_ts, kind="stable")
        quotes[item.spec.symbol] = (all_ts[order], np.concatenate(prices)[order])
    return quotes


def _within_run(
    inputs: Sequence[InstrumentBars], conversions: Sequence[InstrumentBars]
) -> list[InstrumentBars]:
    """Conversion bars up to the run's last close: later prices would move nautilus' final
    rate past the one the run ends at."""
    last = max(int(close_times_ns(i.spec, i.timeframe, i.bars.ts)[-1]) for i in inputs)
    kept = []
    for item in conversions:
        closes = close_times_ns(item.spec, item.timeframe, item.bars.ts)
        count = int(np.searchsorted(closes, last, side="right"))
        if count:
            kept.append(replace(item, bars=item.bars.slice(0, count)))
    return kept


def _higher_bars(item: InstrumentBars, higher: Timeframe) -> BarArrays:
    """The stored higher bars when there are, else the run's bars aggregated."""
    check_higher(item.timeframe, higher)
    found = item.higher
    if found is None:
        found = aggregate(item.spec, item.timeframe, item.bars, higher)
    return visible_span(item.spec, item.timeframe, item.bars, higher, found)


def _ignore_trade(*_args: object, **_kwargs: object) -> None:
    """Stands in for PortfolioAnalyzer.record_trade (see _build)."""


class _ProgressActor(Actor):
    """Reports how many bars the engine has processed, through chained time alerts.

    An alert at a bar's timestamp fires once every bar stamped at or before it has been
    handled; a few hundred alerts in a run cost nothing, where a handler on every bar would.
    """

    def __init__(self, bar_times: np.ndarray, on_progress: ProgressCallback) -> None:
        super().__init__()
        self._times = bar_times
        self._on_progress = on_progress
        total = bar_times.size
        picks = np.unique(np.linspace(0, total - 1, min(PROGRESS_STEPS, total)).astype(np.int64))
        self._checkpoints = np.unique(bar_times[picks])
        self._next = 0

    def on_start(self) -> None:
        self._on_progress(0, int(self._times.size))
        self._arm()

    def on_stop(self) -> None:
        """Nothing to release; defined so that nautilus does not warn on every run."""

    def _arm(self) -> None:
        if self._next < self._checkpoints.size:
            self.clock.set_time_alert_ns(
                f"ntrader-progress-{self._next}", int(self._checkpoints[self._next]), self._report
            )

    def _report(self, event: TimeEvent) -> None:
        done = int(np.searchsorted(self._times, event.ts_event, side="right"))
        self._next += 1
        self._on_progress(done, int(self._times.size))
        self._arm()


def run_engine(
    strategy_type: StrategyType,
    parameters: dict[str, Any],
    inputs: Sequence[InstrumentBars],
    settings: EngineSettings,
    on_progress: ProgressCallback | None = None,
    conversions: Sequence[InstrumentBars] = (),
) -> EngineOutput:
    strategy_files = _strategy_files(strategy_type.load()[0])
    conversions = _within_run(inputs, conversions)
    with _blame_strategy(strategy_files):  # its __init__ runs here
        engine, fill_model, rate_feed, series = _build(
            strategy_type, parameters, inputs, settings, conversions
        )
    bar_times = np.sort(
        np.concatenate([close_times_ns(i.spec, i.timeframe, i.bars.ts) for i in inputs])
    )
    if on_progress is not None:
        engine.add_actor(_ProgressActor(bar_times, on_progress))
    started = time.perf_counter()
    try:
        # The objects are made as the run reaches them: engine_seconds includes making them.
        stream = _Stream(series)
        stream.attach(engine)
        with _blame_strategy(strategy_files):
            engine.run(start=stream.start_ns, end=stream.end_ns)
        elapsed = time.perf_counter() - started
        processed = engine.iteration
        if is_backtest_force_stop() or processed < bar_times.size:
            raise EngineStoppedError(processed, int(bar_times.size), _clock_ns(engine))
        positions = engine.cache.positions()
        # Each position's fills, read once for its trade and for the run's fill columns.
        rows = [_position_fills(p, fill_model.reference_prices, rate_feed.rates) for p in positions]
        return EngineOutput(
            trades=[
                _trade_record(p, fills, settings.currency)
                for p, fills in zip(positions, rows, strict=True)
            ],
            fills=_fills(rows),
            account_equity={
                venue: _account_equity(engine, venue, settings.currency)
                for venue in sorted({item.spec.venue for item in inputs})
            },
            open_positions=Counter(str(p.instrument_id.venue) for p in positions if p.is_open),
            engine_seconds=elapsed,
            rate_quotes=_rate_quotes(inputs, conversions, settings),
            signals={
                strategy.config.instrument_id.value: strategy.signal_records
                for strategy in engine.trader.strategies()
                if isinstance(strategy, SignalStrategy) and settings.record_signals
            },
            refused_orders=_refused_orders(engine),
        )
    finally:
        engine.dispose()
        nautilus_logs.relay()


@contextmanager
def _blame_strategy(strategy_files: set[str]) -> Iterator[None]:
    """Turn an exception that came through the strategy's code into a ``StrategyError``.

    Ctrl-C stays an interrupt; ``SystemExit`` is caught like any error, or a strategy's
    ``sys.exit()`` would end the process and leave the run RUNNING.
    """
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        if _strategy_location(exc, strategy_files) is None:
            raise
        raise StrategyError(exc, strategy_files) from exc


def _clock_ns(engine: BacktestEngine) -> int:
    return int(engine.kernel.clock.timestamp_ns())


def _strategy_files(strategy_class: type) -> set[str]:
    """The Python source files of a strategy class and its Python bases (nautilus' own
    Cython classes have none)."""
    files = set()
    for cls in strategy_class.__mro__:
        module = sys.modules.get(cls.__module__)
        path = getattr(module, "__file__", None)
        if path and path.endswith(".py") and issubclass(cls, Strategy):
            files.add(str(Path(path).resolve()))
    return files


def _strategy_location(exc: BaseException, strategy_files: set[str]) -> str | None:
    """``file:line in function`` of the innermost strategy frame the exception came through."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if str(Path(frame.filename).resolve()) in strategy_files:
            found = f"{frame.filename}:{frame.lineno} in {frame.name}"
    return found


def _describe_exception(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit (sys.exit({exc.code!r}) in a handler)"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _account_equity(engine: BacktestEngine, venue: str, currency: str) -> float:
    """nautilus' equity for ``venue``: balance plus open positions marked to market (their
    notional for a cash account, their unrealised PnL for a margin account)."""
    where = Venue(venue)
    equity = engine.portfolio.equity(where)
    unpriced = engine.portfolio.missing_price_instruments(where)
    others = {str(c): m.as_double() for c, m in equity.items() if str(c) != currency}
    if unpriced or any(others.values()):
        raise EquityMismatchError(
            f"nautilus' account on {venue} cannot be valued in {currency}"
            + (f": no price for {', '.join(map(str, unpriced))}" if unpriced else "")
            + (f": it holds {others}" if any(others.values()) else "")
            + "; ntrader cannot check its equity curve against it"
        )
    money = equity.get(Currency.from_str(currency))
    return money.as_double() if money is not None else 0.0


@dataclass(frozen=True, slots=True)
class _FillRow:
    instrument_id: str
    ts: int
    signed_qty: float
    price: float
    commission: float  # account currency
    rate: float  # quote currency -> account currency, as nautilus converted this fill
    realized: float  # quote currency, before commission
    open_cost: float  # change of the open lots' cost, quote currency
    slippage: float  # quote currency paid over the price without slippage


def _position_fills(
    position: Position, reference_prices: Mapping[ClientOrderId, Price], rates: Mapping[str, float]
) -> list[_FillRow]:
    """The position's fills with the PnL each realises at the average entry price, as
    nautilus' Position counts it (for hedging positions, which never flip)."""
    rows = []
    held = 0.0
    average = 0.0
    for fill in position.events:
        quantity = float(fill.last_qty) * (1.0 if fill.order_side == OrderSide.BUY else -1.0)
        price = float(fill.last_px)
        realized = 0.0
        if held == 0.0 or (held > 0) == (quantity > 0):
            average = (average * abs(held) + price * abs(quantity)) / (abs(held) + abs(quantity))
            open_cost = quantity * price
            held += quantity
        else:
            closing = float(np.sign(quantity)) * min(abs(quantity), abs(held))
            realized = -closing * (price - average)
            open_cost = closing * average
            held += closing
            rest = quantity - closing
            if rest:
                average = price
                open_cost += rest * price
                held += rest
        reference = reference_prices.get(fill.client_order_id)
        rate = rates[fill_key(fill.instrument_id.value, fill.trade_id.value)]
        rows.append(
            _FillRow(
                instrument_id=str(fill.instrument_id),
                ts=fill.ts_event,
                signed_qty=quantity,
                price=price,
                # Charged in the quote currency (core/fees.py): 1 for the account's own.
                commission=fill.commission.as_double() * rate,
                rate=rate,
                realized=realized,
                open_cost=open_cost,
                slippage=abs(quantity) * abs(price - float(reference))
                if reference is not None
                else 0.0,
            )
        )
    return rows


def _refused_orders(engine: BacktestEngine) -> tuple[RefusedOrder, ...]:
    """The run's denied and rejected orders, in the order they were refused."""
    refused = []
    for order in engine.cache.orders():
        if order.status not in (OrderStatus.DENIED, OrderStatus.REJECTED):
            continue
        event = order.last_event
        refused.append(
            RefusedOrder(
                status=order.status_string(),
                instrument_id=order.instrument_id.value,
                side=order.side_string(),
                quantity=str(order.quantity),
                ts=int(event.ts_event),
                reason=str(getattr(event, "reason", "") or "no reason given"),
            )
        )
    return tuple(sorted(refused, key=lambda item: item.ts))


def _trade_record(position: Position, rows: Sequence[_FillRow], currency: str) -> TradeRecord:
    """One position, whose fills are ``rows``, as a trade; money amounts in the account
    currency (prices stay in the instrument's quote currency)."""
    entry_price = float(position.avg_px_open)
    quantity = float(position.peak_qty)
    commission = sum(row.commission for row in rows)
    closed = position.is_closed
    pnl = None
    if closed and position.realized_pnl is not None:
        if position.realized_pnl.currency.code == currency:
            pnl = position.realized_pnl.as_double()  # nautilus' own, commission included
        else:
            pnl = sum(row.realized * row.rate for row in rows) - commission
    return TradeRecord(
        instrument_id=str(position.instrument_id),
        side=TradeSide.LONG if position.entry == OrderSide.BUY else TradeSide.SHORT,
        quantity=quantity,
        entry_time=ns_to_datetime(position.ts_opened),
        entry_price=entry_price,
        exit_time=ns_to_datetime(position.ts_closed) if closed else None,
        exit_price=float(position.avg_px_close) if closed else None,
        commission=commission,
        slippage_cost=sum(row.slippage * row.rate for row in rows),
        pnl=pnl,
        pnl_pct=pnl / (entry_price * quantity * rows[0].rate) if pnl is not None else None,
        is_open=not closed,
    )


def _fills(rows_by_position: Sequence[Sequence[_FillRow]]) -> Fills:
    rows = [row for position_rows in rows_by_position for row in position_rows]
    rows.sort(key=lambda row: row.ts)

    def column(name: str, dtype: type) -> np.ndarray:
        return np.array([getattr(row, name) for row in rows], dtype=dtype)

    return Fills(
        instrument_id=column("instrument_id", object),
        ts=column("ts", np.int64),
        signed_qty=column("signed_qty", np.float64),
        price=column("price", np.float64),
        commission=column("commission", np.float64),
        rate=column("rate", np.float64),
        realized=column("realized", np.float64),
        open_cost=column("open_cost", np.float64),
    )


@dataclass(frozen=True, slots=True)
class PortfolioPath:
    """Cash, holdings and equity at every bar close of the run."""

    ts: np.ndarray  # int64 ns
    cash: np.ndarray
    quantities: dict[str, np.ndarray]
    values: dict[str, np.ndarray]  # each instrument's holding, in the account currency
    exposures: dict[str, np.ndarray]  # each instrument's gross exposure (long or short)
    equity: np.ndarray
    gross_exposure: np.ndarray  # longs plus shorts at the close: what margin is held against


def portfolio_path(
    inputs: Sequence[InstrumentBars],
    fills: Fills,
    initial_capital: float,
    currency: str = "USD",
    rate_quotes: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> PortfolioPath:
    """Mark-to-market portfolio at every bar close, in the account currency.

    Built from the fills alone, so it can be checked against nautilus' own balance. An
    instrument quoted in the account currency moves the cash by what its fills pay and
    is held at its notional. One quoted in another currency (USDJPY) is held the way
    nautilus' margin account holds it: each fill's realised PnL goes to the cash at the
    rate of that fill, and the open position counts its unrealised PnL at the rate of the
    close (core/fx.py).
    """
    times = np.unique(
        np.concatenate([close_times_ns(i.spec, i.timeframe, i.bars.ts) for i in inputs])
    )
    cash = initial_capital + _cumulative_at(fills.ts, cash_flows(inputs, fills, currency), times)
    equity = cash.copy()
    gross_exposure = np.zeros(times.shape[0])
    quantities: dict[str, np.ndarray] = {}
    values: dict[str, np.ndarray] = {}
    exposures: dict[str, np.ndarray] = {}
    for item in inputs:
        mine = fills.instrument_id == item.spec.instrument_id
        quantity = _cumulative_at(fills.ts[mine], fills.signed_qty[mine], times)
        closes = close_times_ns(item.spec, item.timeframe, item.bars.ts)
        index = np.searchsorted(closes, times, side="right") - 1
        last_close = np.where(index >= 0, item.bars.close[np.maximum(index, 0)], 0.0)
        rate = rate_path(item.spec, currency, times, last_close, rate_quotes or {})
        value = quantity * last_close
        if needs_conversion(item.spec, currency):
            open_cost = _cumulative_at(fills.ts[mine], fills.open_cost[mine], times)
            value = (value - open_cost) * rate
        equity += value
        exposures[item.spec.instrument_id] = np.abs(quantity) * last_close * rate
        gross_exposure += exposures[item.spec.instrument_id]
        quantities[item.spec.instrument_id] = quantity
        values[item.spec.instrument_id] = value
    return PortfolioPath(
        ts=times,
        cash=cash,
        quantities=quantities,
        values=values,
        exposures=exposures,
        equity=equity,
        gross_exposure=gross_exposure,
    )


def cash_flows(inputs: Sequence[InstrumentBars], fills: Fills, currency: str) -> np.ndarray:
    """What each fill does to the account's cash, commission included (see portfolio_path)."""
    converted = [i.spec.instrument_id for i in inputs if needs_conversion(i.spec, currency)]
    return (
        np.where(
            np.isin(fills.instrument_id, converted),
            fills.realized * fills.rate,
            -fills.signed_qty * fills.price,
        )
        - fills.commission
    )


def _cumulative_at(event_ts: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Sum of ``values`` whose time is at or before each of ``times``."""
    if event_ts.size == 0:
        return np.zeros(times.shape[0])
    order = np.argsort(event_ts, kind="stable")
    cumulative = np.concatenate([[0.0], np.cumsum(values[order])])
    return cumulative[np.searchsorted(event_ts[order], times, side="right")]


# Each fill moves nautilus' balance by an amount it rounds to the currency's precision (half
# a cent per fill at most in USD); the rebuilt curve sums the same flows unrounded. Anything
# beyond that rounding, plus a cent for the marks of open positions, is a real disagreement.
ROUNDING_PER_FILL = 0.005
RECONCILE_SLACK = 0.01
RECONCILE_RELATIVE = 1e-9  # float noise of sums near the largest amounts nautilus holds


def reconcile_equity(
    inputs: Sequence[InstrumentBars],
    path: PortfolioPath,
    output: EngineOutput,
    initial_capital: float,
    currency: str = "USD",
) -> tuple[VenueEquity, ...]:
    """Check the final equity rebuilt from the fills against nautilus' account, per venue.

    Raises ``EquityMismatchError`` beyond the tolerance: an equity curve that disagrees
    with the engine must never be stored as a finished run.
    """
    fills = output.fills
    venues: dict[str, list[InstrumentBars]] = {}
    for item in inputs:
        venues.setdefault(item.spec.venue, []).append(item)
    checked = []
    for venue, items in sorted(venues.items()):
        mine = np.isin(fills.instrument_id, [i.spec.instrument_id for i in items])
        flows = float(np.sum(cash_flows(items, fills, currency)[mine]))
        marks = sum(float(path.values[i.spec.instrument_id][-1]) for i in items)
        ours = initial_capital * len(items) / len(inputs) + flows + marks
        # nautilus rounds a converted fill twice (its PnL and its commission, each once
        # converted), so such fills count twice in the rounding tolerance.
        converted = [i.spec.instrument_id for i in items if needs_conversion(i.spec, currency)]
        roundings = int(np.sum(mine)) + int(np.sum(np.isin(fills.instrument_id, converted)))
        checked.append(_checked(venue, ours, output.account_equity[venue], roundings, output))
    total = sum(v.nautilus for v in checked)
    tolerance = sum(v.tolerance for v in checked)
    if abs(float(path.equity[-1]) - total) > tolerance:
        raise EquityMismatchError(_mismatch("all venues", float(path.equity[-1]), total, tolerance))
    return tuple(checked)


def _checked(
    venue: str, ours: float, nautilus: float, fills: int, output: EngineOutput
) -> VenueEquity:
    tolerance = ROUNDING_PER_FILL * fills + RECONCILE_SLACK + RECONCILE_RELATIVE * abs(nautilus)
    if not abs(ours - nautilus) <= tolerance:
        raise EquityMismatchError(_mismatch(venue, ours, nautilus, tolerance))
    return VenueEquity(
        venue=venue,
        ours=ours,
        nautilus=nautilus,
        tolerance=tolerance,
        open_positions=output.open_positions.get(venue, 0),
    )


def _mismatch(where: str, ours: float, nautilus: float, tolerance: float) -> str:
    return (
        f"the equity ntrader rebuilt from the fills ({ours:,.4f}) differs from nautilus' "
        f"account ({nautilus:,.4f}) on {where} by {abs(ours - nautilus):,.4f}, beyond the "
        f"tolerance of {tolerance:,.4f}; the results are not stored as a finished run"
    )
