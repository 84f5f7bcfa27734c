"""A vectorised screening pass over a sweep's points for the built-in strategies.

For each point the strategy's signal is computed over every bar with numpy, and the trades
are derived from it by the same rules ``SignalStrategy`` follows (a long signal reverses a
short, a short signal without ``allow_short`` only closes a long, band exits close only the
side they concern; an order decided on a bar fills at the next bar's open, or at the
signal bar's close, and one decided on the last bar never fills). The trades are meant to
equal the engine's exactly (tests/integration/test_screen.py holds it to that).

The figures are a documented proxy, not the engine's accounting: a constant fraction of
equity (the position cap, or the percent sizing's size) held between fills, marked at
each close, less slippage and an estimate of commission at each fill. They rank the points;
the engine confirms the best.

What the screen cannot reproduce it refuses (``screen_refusal``): stops, take-profits and
trailing stops (risk sizing always places one), the trend filter (a second timeframe),
several instruments, and plug-in strategies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from ntrader.core.fees import order_commission
from ntrader.core.indicators import RollingMean
from ntrader.models.backtest import BacktestConfig
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe
from ntrader.models.execution import FillAt, SizingMode
from ntrader.utils.sessions import last_of_day

SCREENED_STRATEGIES = ("sma_crossover", "mean_reversion", "momentum")

# The figures the screen computes; an objective outside them is ranked by the Sharpe ratio.
SCREEN_FIGURES = ("sharpe_ratio", "total_return", "max_drawdown", "win_rate")
FALLBACK_OBJECTIVE = "sharpe_ratio"

_BARS_PER_YEAR_DAILY = 252.0


@dataclass(frozen=True, slots=True)
class ScreenTrade:
    """One round trip as the screen sees it.

    ``entry_bar``/``exit_bar`` are the bars whose price fills the order: with next-open
    fills the bar after the signal (at its open), with close fills the signal bar itself
    (at its close). ``exit_bar`` is None for a position still open at the end.
    """

    side: str  # "LONG" or "SHORT", as TradeRecord.side
    entry_bar: int
    exit_bar: int | None


@dataclass(frozen=True, slots=True)
class ScreenResult:
    trades: tuple[ScreenTrade, ...]
    figures: dict[str, float | None]
    equity: np.ndarray  # the proxy's equity at each bar's close, 1.0 before the first


@dataclass(frozen=True, slots=True)
class ScreenedSweep:
    """A sweep's screen: what is stored for each point, in point order, and each point's
    proxy equity at the last close of each New York day (columns: point index), from
    which the overfitting statistics count the points the engine did not run."""

    stored: list[dict[str, Any]]
    daily_equity: pd.DataFrame


def screen_refusal(config: BacktestConfig, strategy_name: str) -> str | None:
    """Why the screen cannot reproduce the engine for ``config`` (one sentence), or None."""
    if strategy_name not in SCREENED_STRATEGIES:
        return f"the screen knows only the built-in strategies, not {strategy_name}"
    if len(config.instruments) != 1:
        return "the screen handles one instrument, not a portfolio sharing equity"
    if config.initial_stop_atr is not None or config.take_profit_r is not None:
        return (
            "stops, take-profits and trailing stops (risk sizing always places a stop) "
            "fill inside bars, which the screen does not model"
        )
    if config.parameters.get("trend_filter_period") is not None:
        return "the trend filter reads a second timeframe, which the screen does not model"
    return None


def _rolling_mean(values: np.ndarray, period: int) -> np.ndarray:
    """``core.indicators.RollingMean`` at each bar, bit for bit; NaN while fewer are in.

    RollingMean keeps a running sum (add the first ``period`` values; then subtract the
    leaving value and add the new one) and re-sums its window every ``_RESUM_EVERY``
    updates. A mean computed any other way differs in the last bits, and a crossing of two
    nearly equal averages can then land a bar apart. ``np.cumsum`` adds in order, so the
    running sum is the cumsum of the same additions; the re-sum uses Python's ``sum``
    over the window, as RollingMean does.
    """
    out = np.full(values.size, np.nan)
    if period > values.size:
        return out
    resum_every = RollingMean._RESUM_EVERY
    sums = np.empty(values.size)
    total = 0.0
    for start in range(0, values.size, resum_every):
        stop = min(start + resum_every, values.size)
        steps = np.empty(2 * (stop - start))
        # Each bar adds its value, after subtracting the one that leaves (0.0 while growing:
        # adding -0.0 or 0.0 leaves a sum unchanged).
        leaving = np.arange(start, stop) - period
        steps[0::2] = np.where(leaving >= 0, -values[np.maximum(leaving, 0)], -0.0)
        steps[1::2] = values[start:stop]
        running = np.cumsum(np.concatenate([[total], steps]))[2::2]
        sums[start:stop] = running
        total = float(running[-1])
        if stop % resum_every == 0:
            total = sum(values[max(stop - period, 0) : stop].tolist())
            sums[stop - 1] = total
    out[period - 1 :] = sums[period - 1 :] / period
    return out


def _rolling_zscore(closes: np.ndarray, lookback: int) -> np.ndarray:
    """(close - mean) / sample std over the last ``lookback`` closes; NaN while warming up
    or where the window is flat (the strategy gives no signal there)."""
    out = np.full(closes.size, np.nan)
    if lookback > closes.size:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(closes, lookback)
    mean = windows.mean(axis=1)
    std = windows.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (closes[lookback - 1 :] - mean) / std
    z[std == 0.0] = np.nan
    out[lookback - 1 :] = z
    return out


def _wilder_rsi(closes: np.ndarray, period: int) -> np.ndarray:
    """nautilus' RelativeStrengthIndex with Wilder averages, 0-100, in the same float
    operations (a recursion, so a loop); NaN until ``period`` bars are in."""
    alpha = 1.0 / period
    keep = 1.0 - alpha
    out = np.full(closes.size, np.nan)
    gain_avg = loss_avg = 0.0
    last = float(closes[0]) if closes.size else 0.0
    for index, close in enumerate(closes.tolist()):
        change = close - last
        gain_avg = alpha * (change if change > 0 else 0.0) + keep * gain_avg
        loss_avg = alpha * (-change if change < 0 else 0.0) + keep * loss_avg
        last = close
        if index + 1 >= period:
            unit = 1.0 if loss_avg == 0 else 1.0 - 1.0 / (1.0 + gain_avg / loss_avg)
            out[index] = unit * 100.0
    return out


@dataclass(frozen=True, slots=True)
class Signals:
    """Per-bar calls: go long, go short (when allowed), close a long, close a short."""

    long: np.ndarray
    short: np.ndarray
    exit_long: np.ndarray
    exit_short: np.ndarray


def _sma_signals(closes: np.ndarray, parameters: Mapping[str, Any]) -> Signals:
    fast = _rolling_mean(closes, int(parameters["fast_period"]))
    slow = _rolling_mean(closes, int(parameters["slow_period"]))
    threshold = float(parameters.get("entry_threshold", 0.0))
    ready = ~np.isnan(slow)
    with np.errstate(invalid="ignore"):
        above = ready & (fast > slow * (1.0 + threshold))
        below = ready & (fast < slow * (1.0 - threshold))
    # Each bar's side of the last bar before it that was clearly above or below (0: none).
    state = np.where(above, 1, np.where(below, -1, 0))
    last = np.maximum.accumulate(np.where(state != 0, np.arange(state.size), -1))
    previous = np.concatenate([[0], np.where(last[:-1] >= 0, state[np.maximum(last[:-1], 0)], 0)])
    up = above & (previous == -1)
    down = below & (previous == 1)
    allow_short = bool(parameters.get("allow_short", False))
    # A crossing down without shorting only closes a long (go_short's rule).
    return Signals(up, down & allow_short, down, np.zeros_like(up))


def _band_signals(
    value: np.ndarray, entry: float, exit_: float, mirror: float, allow_short: bool
) -> Signals:
    """``SignalStrategy.follow_bands``, the short side mirrored around ``mirror``: an entry
    wins over an exit; a short entry only when shorting is allowed."""
    ready = ~np.isnan(value)
    filled = np.where(ready, value, mirror)
    long = ready & (filled < entry)
    short = ready & ~long & allow_short & (filled > 2 * mirror - entry)
    exit_long = ready & (filled > exit_)
    exit_short = ready & (filled < 2 * mirror - exit_)
    return Signals(long, short, exit_long, exit_short)


def signals(strategy_name: str, parameters: Mapping[str, Any], closes: np.ndarray) -> Signals:
    """Every bar's calls of one built-in strategy with ``parameters`` (validated)."""
    allow_short = bool(parameters.get("allow_short", False))
    if strategy_name == "sma_crossover":
        return _sma_signals(closes, parameters)
    if strategy_name == "mean_reversion":
        z = _rolling_zscore(closes, int(parameters["lookback"]))
        entry, exit_ = float(parameters["entry_zscore"]), float(parameters["exit_zscore"])
        return _band_signals(z, entry, exit_, 0.0, allow_short)
    if strategy_name == "momentum":
        rsi = _wilder_rsi(closes, int(parameters["rsi_period"]))
        entry, exit_ = float(parameters["entry_rsi_low"]), float(parameters["exit_rsi_high"])
        return _band_signals(rsi, entry, exit_, 50.0, allow_short)
    raise ValueError(f"the screen has no signal for {strategy_name}")


def derive_trades(calls: Signals, fill_at: FillAt) -> tuple[ScreenTrade, ...]:
    """Walk the bars that call for anything, holding the side as the fills leave it."""
    bars = calls.long.size
    shift = 1 if fill_at is FillAt.NEXT_OPEN else 0
    candidates = np.flatnonzero(calls.long | calls.short | calls.exit_long | calls.exit_short)
    trades: list[ScreenTrade] = []
    side = 0
    entry = 0
    for bar in candidates.tolist():
        fill = bar + shift
        if fill >= bars:
            break  # a call on the last bar has no next open to fill at
        if calls.long[bar]:
            target = 1
        elif calls.short[bar]:
            target = -1
        elif (side == 1 and calls.exit_long[bar]) or (side == -1 and calls.exit_short[bar]):
            target = 0
        else:
            continue
        if target == side:
            continue
        if side != 0:
            trades.append(ScreenTrade("LONG" if side == 1 else "SHORT", entry, fill))
        if target != 0:
            entry = fill
        side = target
    if side != 0:
        trades.append(ScreenTrade("LONG" if side == 1 else "SHORT", entry, None))
    return tuple(trades)


def _position_fraction(config: BacktestConfig, price: float) -> float:
    """Share of equity one position holds: the percent size, or fixed units at the first
    price, never above the position cap."""
    cap = config.max_position_pct / 100.0
    if config.sizing is SizingMode.PERCENT:
        return min(config.position_size / 100.0, cap)
    return min(config.position_size * price / config.initial_capital, cap)


def _fill_cost(config: BacktestConfig, fraction: float, price: float) -> float:
    """Slippage plus the commission of one fill, as a fraction of equity (at the initial
    capital's scale: the proxy's estimate)."""
    value = config.initial_capital * fraction
    quantity = max(round(value / price), 1) if price > 0 else 1
    commission = float(
        order_commission(config.commission, Decimal(quantity), Decimal(str(round(value, 2))))
    )
    return fraction * config.slippage_bps / 10_000 + commission / config.initial_capital


def figures(
    trades: tuple[ScreenTrade, ...], bars: BarArrays, config: BacktestConfig
) -> tuple[dict[str, float | None], np.ndarray]:
    """The proxy figures (module docstring) and equity: per-bar returns of the position
    marked at the closes, compounded."""
    closes, opens = bars.close, bars.open
    size = closes.size
    fill_prices = opens if config.fill_at is FillAt.NEXT_OPEN else closes
    fraction = _position_fraction(config, float(closes[0]) if size else 0.0)
    returns = np.zeros(size)
    held = np.zeros(size + 1)  # +side on bars whose close-to-close move the position takes
    wins = 0
    for trade in trades:
        sign = 1.0 if trade.side == "LONG" else -1.0
        entry_price = float(fill_prices[trade.entry_bar])
        end = size if trade.exit_bar is None else trade.exit_bar
        cost = _fill_cost(config, fraction, entry_price)
        returns[trade.entry_bar] += sign * fraction * (closes[trade.entry_bar] / entry_price - 1)
        returns[trade.entry_bar] -= cost
        held[trade.entry_bar + 1] += sign
        held[end] -= sign
        # An open position is valued at the last close.
        exit_price = float(closes[-1])
        if trade.exit_bar is not None:
            exit_price = float(fill_prices[trade.exit_bar])
            previous = closes[trade.exit_bar - 1]
            returns[trade.exit_bar] += sign * fraction * (exit_price / previous - 1)
            returns[trade.exit_bar] -= _fill_cost(config, fraction, exit_price)
        wins += sign * (exit_price - entry_price) > 0
    moves = np.concatenate([[0.0], closes[1:] / closes[:-1] - 1]) if size else returns
    returns += fraction * np.cumsum(held)[:size] * moves
    equity = np.cumprod(1.0 + returns)
    years = max((int(bars.ts[-1]) - int(bars.ts[0])) / (365.25 * 86_400e9), 1e-9) if size else 1
    per_year = _BARS_PER_YEAR_DAILY if config.timeframe is Timeframe.DAILY else size / years
    std = float(returns.std(ddof=1)) if size > 1 else 0.0
    sharpe = float(returns.mean() / std * math.sqrt(per_year)) if std > 0 else None
    peak = np.maximum.accumulate(equity) if size else equity
    summary = {
        "sharpe_ratio": sharpe,
        "total_return": float(equity[-1] - 1.0) if size else 0.0,
        "max_drawdown": float((equity / peak - 1.0).min()) if size else 0.0,
        "win_rate": wins / len(trades) if trades else None,
        "trades": float(len(trades)),
    }
    return summary, equity


def screen(
    strategy_name: str, parameters: Mapping[str, Any], bars: BarArrays, config: BacktestConfig
) -> ScreenResult:
    """One point's trades, proxy figures and proxy equity."""
    trades = derive_trades(signals(strategy_name, parameters, bars.close), config.fill_at)
    return ScreenResult(trades, *figures(trades, bars, config))


def screened_objective(objective: str) -> str:
    """The figure the screen ranks by for ``objective``: itself, or the Sharpe ratio when
    the screen has no such figure."""
    return objective if objective in SCREEN_FIGURES else FALLBACK_OBJECTIVE


def screen_sweep(
    base: BacktestConfig,
    strategy_name: str,
    points: Sequence[Mapping[str, Any]],
    bars: BarArrays,
    days: pd.DatetimeIndex,
    objective: str,
    confirm_top: int,
) -> ScreenedSweep:
    """Every point's screen, in point order: its figures, the objective the screen ranks it
    by (``objective``, or the Sharpe ratio when the screen has no such figure) and whether
    it is among the ``confirm_top`` best, which the engine then runs. ``days``: the New
    York day of each bar's close."""
    key = screened_objective(objective)
    day_ends = last_of_day(days)
    values: list[float | None] = []
    stored_figures = []
    daily = {}
    for index, point in enumerate(points):
        config = base.model_copy(update={"parameters": dict(point)})
        result = screen(strategy_name, point, bars, config)
        values.append(result.figures[key])
        stored_figures.append(result.figures)
        daily[index] = result.equity[day_ends]
    order = sorted(range(len(values)), key=lambda i: (values[i] is None, -(values[i] or 0.0), i))
    confirmed = set(order[:confirm_top])
    stored = [
        {"figures": point_figures, "objective": values[index], "confirm": index in confirmed}
        for index, point_figures in enumerate(stored_figures)
    ]
    return ScreenedSweep(stored, pd.DataFrame(daily, index=days[day_ends]))


def sweep_refusal(
    base: BacktestConfig, strategy_name: str, points: Sequence[Mapping[str, Any]]
) -> str | None:
    """Why the screen cannot stand in for the engine on some point of a sweep, or None."""
    for point in points:
        reason = screen_refusal(base.model_copy(update={"parameters": dict(point)}), strategy_name)
        if reason is not None:
            return reason
    return None


def agreement(pairs: Sequence[tuple[float, float]]) -> dict[str, float | int | None]:
    """How the screen's objective agreed with the engine's over the confirmed points:
    Spearman rank correlation (None under three points) and the largest gap."""
    if not pairs:
        return {"points": 0, "spearman": None, "max_abs_difference": None}
    screened, engine = (np.array(side, dtype=float) for side in zip(*pairs, strict=True))
    spearman = None
    if len(pairs) >= 3:
        value = pd.Series(screened).corr(pd.Series(engine), method="spearman")
        spearman = float(value) if np.isfinite(value) else None
    return {
        "points": len(pairs),
        "spearman": spearman,
        "max_abs_difference": float(np.max(np.abs(screened - engine))),
    }
