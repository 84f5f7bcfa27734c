"""Runs one backtest through nautilus' BacktestEngine and reads back what happened."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import ClientOrderId, TraderId, Venue
from nautilus_trader.model.objects import Currency, Money, Price
from nautilus_trader.model.position import Position

from ntrader.core.fees import ScheduleFeeModel
from ntrader.core.fill_models import SlippageFillModel
from ntrader.core.nautilus_bars import (
    bar_type_for,
    close_times_ns,
    open_times_ns,
    to_nautilus_bars,
    to_open_ticks,
)
from ntrader.core.nautilus_instruments import to_nautilus
from ntrader.core.strategies.base import ExecutionContext
from ntrader.core.strategy_registry import StrategyType
from ntrader.models.backtest import DEFAULT_STOP_ATR, TradeRecord
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe, TradeSide
from ntrader.models.execution import CommissionModel, FillAt, SizingMode
from ntrader.models.instrument import InstrumentSpec
from ntrader.utils.timeutil import ns_to_datetime


@dataclass(frozen=True, slots=True)
class InstrumentBars:
    spec: InstrumentSpec
    timeframe: Timeframe
    bars: BarArrays


@dataclass(frozen=True, slots=True)
class EngineSettings:
    initial_capital: float = 100_000.0
    commission: CommissionModel = field(default_factory=CommissionModel)
    slippage_bps: float = 0.0
    risk_pct: float = 1.0  # what the sizing mode sizes by: risk %, equity % or units
    currency: str = "USD"
    fill_at: FillAt = FillAt.NEXT_OPEN
    sizing: SizingMode = SizingMode.RISK
    max_position_pct: float = 10.0
    initial_stop_atr: float | None = DEFAULT_STOP_ATR
    take_profit_r: float | None = None
    trailing_stop_atr: float | None = None


@dataclass(frozen=True, slots=True)
class Fills:
    """Every fill of the run, as columns: enough to rebuild the equity curve."""

    instrument_id: np.ndarray  # str
    ts: np.ndarray  # int64 ns
    signed_qty: np.ndarray  # float64: + buy, - sell
    price: np.ndarray
    commission: np.ndarray


@dataclass(frozen=True, slots=True)
class EngineOutput:
    trades: list[TradeRecord]
    fills: Fills
    final_balance: float
    engine_seconds: float


def build_engine(
    strategy_type: StrategyType,
    parameters: dict[str, Any],
    inputs: Sequence[InstrumentBars],
    settings: EngineSettings,
) -> BacktestEngine:
    """An engine loaded with venues, instruments, bars and one strategy per instrument."""
    return _build(strategy_type, parameters, inputs, settings)[0]


def _build(
    strategy_type: StrategyType,
    parameters: dict[str, Any],
    inputs: Sequence[InstrumentBars],
    settings: EngineSettings,
) -> tuple[BacktestEngine, SlippageFillModel]:
    engine = BacktestEngine(
        config=BacktestEngineConfig(
            trader_id=TraderId("NTRADER-001"),
            logging=LoggingConfig(log_level="ERROR", bypass_logging=True),
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
    margin = bool(parameters.get("allow_short", False)) or settings.max_position_pct > 100
    # Each venue gets the capital of the instruments that trade there (equal sleeves).
    sleeves = Counter(item.spec.venue for item in inputs)
    for venue, count in sleeves.items():
        engine.add_venue(
            venue=Venue(venue),
            oms_type=OmsType.HEDGING,
            account_type=AccountType.MARGIN if margin else AccountType.CASH,
            base_currency=currency,
            starting_balances=[Money(settings.initial_capital * count / len(inputs), currency)],
            default_leverage=Decimal(1),
            fill_model=fill_model,
            fee_model=fee_model,
            # Within a bar, the extreme nearer the open trades first (stops and limits).
            bar_adaptive_high_low_ordering=True,
        )
    strategy_class, config_class = strategy_type.load()
    next_open = settings.fill_at is FillAt.NEXT_OPEN
    for item in inputs:
        engine.add_instrument(to_nautilus(item.spec))
        engine.add_data(to_nautilus_bars(item.spec, item.timeframe, item.bars), sort=False)
        config = config_class(
            strategy_id=f"{strategy_type.name.upper()}-{item.spec.symbol}",
            instrument_id=to_nautilus(item.spec).id,
            bar_type=bar_type_for(item.spec, item.timeframe),
            sizing=settings.sizing,
            position_size=settings.risk_pct,
            max_position_pct=settings.max_position_pct,
            stop_atr=settings.initial_stop_atr,
            take_profit_r=settings.take_profit_r,
            trailing_stop_atr=settings.trailing_stop_atr,
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
            )
        )
        engine.add_strategy(strategy)
    if next_open:
        # Added after every bar so that, at a shared timestamp (an intraday bar's close is
        # the next one's open), the stable sort puts the bar first and its signal sees it.
        for item in inputs:
            engine.add_data(to_open_ticks(item.spec, item.timeframe, item.bars), sort=False)
    engine.sort_data()
    return engine, fill_model


def _ignore_trade(*_args: object, **_kwargs: object) -> None:
    """Stands in for PortfolioAnalyzer.record_trade (see _build)."""


def run_engine(
    strategy_type: StrategyType,
    parameters: dict[str, Any],
    inputs: Sequence[InstrumentBars],
    settings: EngineSettings,
) -> EngineOutput:
    engine, fill_model = _build(strategy_type, parameters, inputs, settings)
    started = time.perf_counter()
    try:
        engine.run()
        elapsed = time.perf_counter() - started
        positions = engine.cache.positions()
        currency = Currency.from_str(settings.currency)
        final_balance = sum(
            engine.portfolio.account(Venue(venue)).balance_total(currency).as_double()
            for venue in {item.spec.venue for item in inputs}
        )
        return EngineOutput(
            trades=[_trade_record(p, fill_model.reference_prices) for p in positions],
            fills=_fills(positions),
            final_balance=final_balance,
            engine_seconds=elapsed,
        )
    finally:
        engine.dispose()


def _trade_record(
    position: Position, reference_prices: Mapping[ClientOrderId, Price]
) -> TradeRecord:
    entry_price = float(position.avg_px_open)
    quantity = float(position.peak_qty)
    commission = sum(money.as_double() for money in position.commissions())
    closed = position.is_closed
    pnl = position.realized_pnl.as_double() if closed and position.realized_pnl else None
    return TradeRecord(
        instrument_id=str(position.instrument_id),
        side=TradeSide.LONG if position.entry == OrderSide.BUY else TradeSide.SHORT,
        quantity=quantity,
        entry_time=ns_to_datetime(position.ts_opened),
        entry_price=entry_price,
        exit_time=ns_to_datetime(position.ts_closed) if closed else None,
        exit_price=float(position.avg_px_close) if closed else None,
        commission=commission,
        slippage_cost=_slippage_cost(position, reference_prices),
        pnl=pnl,
        pnl_pct=pnl / (entry_price * quantity) if pnl is not None else None,
        is_open=not closed,
    )


def _slippage_cost(position: Position, reference_prices: Mapping[ClientOrderId, Price]) -> float:
    """What the position's fills paid over the prices they would have had without slippage."""
    cost = 0.0
    for fill in position.events:
        reference = reference_prices.get(fill.client_order_id)
        if reference is not None:
            cost += float(fill.last_qty) * abs(float(fill.last_px) - float(reference))
    return cost


def _fills(positions: Sequence[Position]) -> Fills:
    rows = [
        (
            str(fill.instrument_id),
            fill.ts_event,
            float(fill.last_qty) * (1.0 if fill.order_side == OrderSide.BUY else -1.0),
            float(fill.last_px),
            fill.commission.as_double(),
        )
        for position in positions
        for fill in position.events
    ]
    rows.sort(key=lambda row: row[1])
    columns = list(zip(*rows, strict=True)) if rows else [[], [], [], [], []]
    return Fills(
        instrument_id=np.array(columns[0], dtype=object),
        ts=np.array(columns[1], dtype=np.int64),
        signed_qty=np.array(columns[2], dtype=np.float64),
        price=np.array(columns[3], dtype=np.float64),
        commission=np.array(columns[4], dtype=np.float64),
    )


@dataclass(frozen=True, slots=True)
class PortfolioPath:
    """Cash, holdings and equity at every bar close of the run."""

    ts: np.ndarray  # int64 ns
    cash: np.ndarray
    quantities: dict[str, np.ndarray]
    equity: np.ndarray
    gross_exposure: np.ndarray  # longs plus shorts at the close: what margin is held against


def portfolio_path(
    inputs: Sequence[InstrumentBars], fills: Fills, initial_capital: float
) -> PortfolioPath:
    """Mark-to-market portfolio at every bar close.

    Built from the fills alone (cash flows plus holdings at the close), so it does not
    depend on the account type and can be checked against nautilus' own balance.
    """
    times = np.unique(
        np.concatenate([close_times_ns(i.spec, i.timeframe, i.bars.ts) for i in inputs])
    )
    cash_flow = -fills.signed_qty * fills.price - fills.commission
    cash = initial_capital + _cumulative_at(fills.ts, cash_flow, times)
    equity = cash.copy()
    gross_exposure = np.zeros(times.shape[0])
    quantities: dict[str, np.ndarray] = {}
    for item in inputs:
        mine = fills.instrument_id == item.spec.instrument_id
        quantity = _cumulative_at(fills.ts[mine], fills.signed_qty[mine], times)
        closes = close_times_ns(item.spec, item.timeframe, item.bars.ts)
        index = np.searchsorted(closes, times, side="right") - 1
        last_close = np.where(index >= 0, item.bars.close[np.maximum(index, 0)], 0.0)
        equity += quantity * last_close
        gross_exposure += np.abs(quantity) * last_close
        quantities[item.spec.instrument_id] = quantity
    return PortfolioPath(
        ts=times, cash=cash, quantities=quantities, equity=equity, gross_exposure=gross_exposure
    )


def _cumulative_at(event_ts: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Sum of ``values`` whose time is at or before each of ``times``."""
    if event_ts.size == 0:
        return np.zeros(times.shape[0])
    order = np.argsort(event_ts, kind="stable")
    cumulative = np.concatenate([[0.0], np.cumsum(values[order])])
    return cumulative[np.searchsorted(event_ts[order], times, side="right")]
