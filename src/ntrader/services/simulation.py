"""One backtest from bars in memory to trades, equity, snapshots and metrics (no storage)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ntrader.core.calendars import Annualisation, annualisation_for
from ntrader.core.nautilus_bars import close_times_ns
from ntrader.core.runner import (
    EngineSettings,
    Fills,
    InstrumentBars,
    PortfolioPath,
    ProgressCallback,
    RefusedOrder,
    VenueEquity,
    cash_flows,
    portfolio_path,
    reconcile_equity,
    run_engine,
)
from ntrader.core.sizing import MAX_GROSS_LEVERAGE
from ntrader.core.strategy_registry import StrategyType
from ntrader.models.backtest import BacktestConfig, PortfolioSnapshot, TradeRecord
from ntrader.models.metrics import Annualisation as AnnualisationFigures
from ntrader.models.metrics import Exposure, InstrumentFigures, Metrics
from ntrader.services.metrics import compute_metrics
from ntrader.utils.sessions import last_of_day, new_york_days
from ntrader.utils.timeutil import ns_to_datetime


@dataclass(frozen=True, slots=True)
class DailyEquity:
    """Equity at the initial capital, then at the last bar close of each trading day."""

    ts: np.ndarray  # int64 ns; the first entry is the first bar's open
    equity: np.ndarray


@dataclass(frozen=True, slots=True)
class SimulationResult:
    trades: list[TradeRecord]
    daily: DailyEquity
    snapshots: list[PortfolioSnapshot]
    metrics: Metrics
    final_equity: float
    engine_seconds: float
    bars_used: int
    reconciliation: tuple[VenueEquity, ...]  # the final equity, checked against nautilus
    refused_orders: tuple[RefusedOrder, ...] = ()


def daily_equity(path: PortfolioPath, initial_capital: float, first_open_ns: int) -> DailyEquity:
    closing = last_of_day(new_york_days(pd.to_datetime(path.ts, utc=True)))
    return DailyEquity(
        ts=np.concatenate([[first_open_ns], path.ts[closing]]).astype(np.int64),
        equity=np.concatenate([[initial_capital], path.equity[closing]]),
    )


def benchmark_on_days(
    daily: DailyEquity, bench_close_ns: np.ndarray, bench: InstrumentBars
) -> np.ndarray | None:
    """Benchmark price on the same days as the equity curve (buy and hold from the first open)."""
    if bench.bars.is_empty:
        return None
    index = np.searchsorted(bench_close_ns, daily.ts[1:], side="right") - 1
    if index[0] < 0:
        return None
    return np.concatenate([[bench.bars.open[0]], bench.bars.close[index]])


def snapshots_at(
    path: PortfolioPath, daily: DailyEquity, fill_ts: np.ndarray
) -> list[PortfolioSnapshot]:
    """A snapshot at each day's close and at each fill."""
    wanted = np.union1d(daily.ts[1:], fill_ts)
    index = np.clip(np.searchsorted(path.ts, wanted, side="right") - 1, 0, None)
    return [
        PortfolioSnapshot(
            ts=ns_to_datetime(int(path.ts[i])),
            cash=float(path.cash[i]),
            positions={k: float(q[i]) for k, q in path.quantities.items() if q[i] != 0},
            total_value=float(path.equity[i]),
            margin_used=float(path.gross_exposure[i]),
            buying_power=max(
                MAX_GROSS_LEVERAGE * float(path.equity[i]) - path.gross_exposure[i], 0.0
            ),
        )
        for i in np.unique(index)
    ]


def per_instrument_figures(
    inputs: Sequence[InstrumentBars],
    trades: Sequence[TradeRecord],
    fills: Fills,
    initial_capital: float,
    path: PortfolioPath,
    currency: str,
) -> dict[str, InstrumentFigures]:
    """Each instrument's share of a (multi-instrument) run: trades, win rate, net PnL, and
    its exposure as a fraction of the whole portfolio's equity (average, maximum).

    The net PnL is the instrument's cash flows (as the equity curve books them: a pair
    quoted in another currency realises its PnL at each fill's rate) plus its position at the
    end valued as in the equity curve, so the instruments' PnLs add up to final equity less
    initial capital; the open positions' part is ``unrealized_pnl``.
    """
    flows = cash_flows(inputs, fills, currency)
    figures: dict[str, InstrumentFigures] = {}
    for item in inputs:
        instrument_id = item.spec.instrument_id
        mine = [t for t in trades if t.instrument_id == instrument_id]
        pnls = [t.pnl for t in mine if not t.is_open and t.pnl is not None]
        wins = sum(1 for pnl in pnls if pnl > 0)
        net = float(flows[fills.instrument_id == instrument_id].sum())
        net += float(path.values[instrument_id][-1])
        open_positions = sum(1 for t in mine if t.is_open)
        realized = float(sum(pnls))
        exposure = _exposure_shares(path, path.exposures[instrument_id])
        figures[instrument_id] = InstrumentFigures(
            bars=len(item.bars),
            total_trades=len(pnls),
            winning_trades=wins,
            win_rate=wins / len(pnls) if pnls else None,
            open_positions=open_positions,
            realized_pnl=realized,
            # Without an open position, any difference from the closed trades' sum is
            # nautilus' per-fill cent rounding, not an unrealised gain.
            unrealized_pnl=net - realized if open_positions else 0.0,
            net_pnl=net,
            return_contribution=net / initial_capital,
            average_exposure=exposure.average,
            maximum_exposure=exposure.maximum,
        )
    return figures


def exposure_figures(path: PortfolioPath) -> Exposure:
    """Gross exposure (longs plus shorts) as a fraction of equity at the bar closes: its
    average and its maximum, so a run held small by the position cap shows as such."""
    return _exposure_shares(path, path.gross_exposure)


def _exposure_shares(path: PortfolioPath, exposure: np.ndarray) -> Exposure:
    alive = path.equity > 0  # a wiped-out account has no meaningful share
    share = exposure[alive] / path.equity[alive]
    return Exposure(
        average=float(share.mean()) if share.size else 0.0,
        maximum=float(share.max()) if share.size else 0.0,
    )


def engine_settings(config: BacktestConfig, *, record_signals: bool = False) -> EngineSettings:
    """How the engine runs ``config``'s backtest."""
    return EngineSettings(
        initial_capital=config.initial_capital,
        commission=config.commission,
        slippage_bps=config.slippage_bps,
        position_size=config.position_size,
        fill_at=config.fill_at,
        sizing=config.sizing,
        max_position_pct=config.max_position_pct,
        allocation=config.allocation,
        initial_stop_atr=config.initial_stop_atr,
        take_profit_r=config.take_profit_r,
        trailing_stop_atr=config.trailing_stop_atr,
        record_signals=record_signals,
    )


def annualised(config: BacktestConfig, inputs: Sequence[InstrumentBars]) -> Annualisation:
    """The calendar a run of ``config`` on ``inputs`` is annualised on."""
    return annualisation_for((item.spec.asset_class for item in inputs), config.start, config.end)


def simulate(
    config: BacktestConfig,
    strategy_type: StrategyType,
    inputs: Sequence[InstrumentBars],
    benchmark: InstrumentBars | None = None,
    on_progress: ProgressCallback | None = None,
    conversions: Sequence[InstrumentBars] = (),
    annualisation: Annualisation | None = None,
) -> SimulationResult:
    """``conversions``: pairs converting a cross's quote currency to USD (core/fx.py).
    ``annualisation``: the run's calendar, when the caller already has it (``annualised``);
    a sweep's workers get it from the parent instead of each building the NYSE calendar."""
    settings = engine_settings(config)
    output = run_engine(
        strategy_type, config.parameters, inputs, settings, on_progress, conversions
    )
    path = portfolio_path(
        inputs, output.fills, config.initial_capital, settings.currency, output.rate_quotes
    )
    reconciliation = reconcile_equity(inputs, path, output, config.initial_capital)
    first_open = min(int(item.bars.ts[0]) for item in inputs)
    daily = daily_equity(path, config.initial_capital, first_open)
    bench_prices = None
    if benchmark is not None:
        bench_close = close_times_ns(benchmark.spec, benchmark.timeframe, benchmark.bars.ts)
        bench_prices = benchmark_on_days(daily, bench_close, benchmark)
    annualisation = annualisation or annualised(config, inputs)
    metrics = compute_metrics(
        daily.equity,
        output.trades,
        benchmark=bench_prices,
        risk_free_rate=config.risk_free_rate,
        periods_per_year=annualisation.periods_per_year,
    ).model_copy(
        update={
            "annualisation": AnnualisationFigures.model_validate(annualisation.as_dict()),
            "per_instrument": per_instrument_figures(
                inputs,
                output.trades,
                output.fills,
                config.initial_capital,
                path,
                settings.currency,
            ),
            "exposure": exposure_figures(path),
        }
    )
    return SimulationResult(
        trades=output.trades,
        daily=daily,
        snapshots=snapshots_at(path, daily, output.fills.ts),
        metrics=metrics,
        final_equity=float(path.equity[-1]),
        engine_seconds=output.engine_seconds,
        bars_used=sum(len(item.bars) for item in inputs),
        reconciliation=reconciliation,
        refused_orders=output.refused_orders,
    )
