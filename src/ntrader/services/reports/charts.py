"""Plotly figures as plain JSON-ready dicts (``{"data": [...], "layout": {...}}``).

Built by hand rather than through ``plotly.graph_objects``: validating every trace costs
more than the whole rest of a report, and the browser-side ``Plotly.newPlot`` needs only
the JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ntrader.models.backtest import TradeRecord
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe, TradeSide
from ntrader.services.reports.analytics import DrawdownPeriod
from ntrader.services.reports.catalog import calendar_cell
from ntrader.services.reports.data import session_days
from ntrader.utils.sessions import DAY_ZONE

Figure = dict[str, Any]

FONT = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
BLUE = "#2563eb"
GREY = "#94a3b8"
GREEN = "#16a34a"
RED = "#dc2626"
PALETTE = (BLUE, "#f59e0b", "#10b981", "#8b5cf6", "#ef4444", "#0ea5e9", "#84cc16", "#ec4899")
# More candles than this are merged into wider ones (a screen has only so many pixels).
MAX_CANDLES = 2_000
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def axis(**extra: Any) -> dict[str, Any]:
    return {
        "gridcolor": "#eef1f5",
        "linecolor": "#cbd5e1",
        "zeroline": False,
        "automargin": True,
        **extra,
    }


def figure(traces: list[dict[str, Any]], height: int = 320, **layout: Any) -> Figure:
    base = {
        "height": height,
        "margin": {"l": 56, "r": 20, "t": 12, "b": 36},
        "font": {"family": FONT, "size": 12, "color": "#1e293b"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "x unified",
        "showlegend": len(traces) > 1,
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
        "xaxis": axis(),
        "yaxis": axis(),
    }
    return {"data": traces, "layout": {**base, **layout}}


def values(array: Sequence[float] | np.ndarray | pd.Series) -> list[float | None]:
    """JSON numbers; NaN/inf (undefined) become null, which Plotly draws as a gap."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(array, dtype=float)]


def days(index: pd.DatetimeIndex) -> list[str]:
    return list(index.strftime("%Y-%m-%d"))


def line(x: list[Any], y: list[float | None], name: str, color: str, **extra: Any) -> dict:
    return {
        "type": "scatter",
        "mode": "lines",
        "x": x,
        "y": y,
        "name": name,
        "line": {"color": color, "width": 1.6},
        **extra,
    }


def equity_chart(
    dates: pd.DatetimeIndex,
    equity: np.ndarray,
    benchmark: tuple[str, np.ndarray] | None,
    shaded: Sequence[DrawdownPeriod],
) -> Figure:
    """Equity and buy-and-hold benchmark, the worst drawdowns shaded from peak to recovery."""
    x = days(dates)
    traces = [line(x, values(equity), "Strategy", BLUE, hovertemplate="%{y:$,.2f}")]
    if benchmark is not None:
        name, curve = benchmark
        traces.append(
            line(x, values(curve), f"{name} buy & hold", GREY, hovertemplate="%{y:$,.2f}")
        )
    shapes = [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": period.peak.strftime("%Y-%m-%d"),
            "x1": (period.recovery or dates[-1]).strftime("%Y-%m-%d"),
            "y0": 0,
            "y1": 1,
            "fillcolor": "rgba(220, 38, 38, 0.07)",
            "line": {"width": 0},
            "layer": "below",
        }
        for period in shaded
    ]
    return figure(traces, 380, shapes=shapes, yaxis=axis(tickformat="$,.0f"))


def underwater_chart(dates: pd.DatetimeIndex, depth: np.ndarray) -> Figure:
    trace = line(
        days(dates),
        values(depth),
        "Drawdown",
        RED,
        fill="tozeroy",
        fillcolor="rgba(220, 38, 38, 0.18)",
        hovertemplate="%{y:.2%}",
    )
    return figure([trace], 240, yaxis=axis(tickformat=".0%", rangemode="tozero"))


def monthly_heatmap(table: pd.DataFrame) -> Figure:
    z = table.to_numpy() * 100
    cells = [[calendar_cell(v) for v in row] for row in table.to_numpy()]
    text = [[f"{cell}%" if cell else "" for cell in row] for row in cells]
    trace = {
        "type": "heatmap",
        "z": [values(row) for row in z],
        "x": list(_MONTHS),
        "y": [str(year) for year in table.index],
        "text": text,
        "texttemplate": "%{text}",
        "hovertemplate": "%{x} %{y}: %{text}<extra></extra>",
        "colorscale": [[0.0, "#b91c1c"], [0.5, "#f8fafc"], [1.0, "#15803d"]],
        "zmid": 0,
        "showscale": False,
        "xgap": 2,
        "ygap": 2,
    }
    height = 90 + 34 * len(table.index)
    return figure(
        [trace],
        height,
        hovermode="closest",
        xaxis=axis(side="top", showgrid=False),
        yaxis=axis(autorange="reversed", showgrid=False, type="category"),
        margin={"l": 56, "r": 20, "t": 30, "b": 12},
    )


def yearly_bars(strategy: pd.Series, benchmark: tuple[str, pd.Series] | None) -> Figure:
    years = [str(p.year) for p in strategy.index]

    def bars(series: pd.Series, name: str, color: str) -> dict[str, Any]:
        return {
            "type": "bar",
            "x": years,
            "y": values(series),
            "name": name,
            "marker": {"color": color},
            "hovertemplate": "%{y:+.2%}",
        }

    traces = [bars(strategy, "Strategy", BLUE)]
    if benchmark is not None:
        traces.append(bars(benchmark[1].reindex(strategy.index), benchmark[0], GREY))
    return figure(
        traces, 280, barmode="group", xaxis=axis(type="category"), yaxis=axis(tickformat=".0%")
    )


def _bins(data: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges; a single value still gets a visible bin."""
    if data.size and data.min() == data.max():
        return np.histogram(data, bins=1, range=(data.min() - 0.5, data.max() + 0.5))
    return np.histogram(data, bins=count)


def _bars(counts: np.ndarray, edges: np.ndarray, colors: list[str] | str, hover: str) -> dict:
    return {
        "type": "bar",
        "x": values((edges[:-1] + edges[1:]) / 2),
        "y": counts.tolist(),
        "width": float(edges[1] - edges[0]),
        "marker": {"color": colors, "line": {"width": 0.5, "color": "#ffffff"}},
        "hovertemplate": hover,
        "name": "",
    }


def returns_histogram(returns: np.ndarray) -> Figure:
    """Daily returns (in %) against the normal curve of the same mean and deviation:
    the tails show how much worse the worst days are than a normal model expects."""
    data = returns * 100
    counts, edges = _bins(data, 60)
    traces = [_bars(counts, edges, BLUE, "%{x:.2f}%: %{y} days<extra></extra>")]
    if data.size > 2 and data.std(ddof=1) > 0:
        mean, std = data.mean(), data.std(ddof=1)
        x = np.linspace(edges[0], edges[-1], 200)
        density = np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
        traces.append(
            line(
                values(x),
                values(density * data.size * (edges[1] - edges[0])),
                "normal",
                "#f59e0b",
                hoverinfo="skip",
            )
        )
    return figure(
        traces,
        280,
        hovermode="closest",
        showlegend=False,
        bargap=0,
        xaxis=axis(ticksuffix="%", title={"text": "daily return"}),
        yaxis=axis(title={"text": "days"}),
    )


def rolling_chart(series: Sequence[tuple[str, pd.Series, str]], tickformat: str) -> Figure:
    traces = [
        line(days(s.index), values(s), name, color, hovertemplate=f"%{{y:{tickformat}}}")
        for name, s, color in series
    ]
    return figure(traces, 240, yaxis=axis(tickformat=tickformat))


def trade_pnl_histogram(pnls: np.ndarray) -> Figure:
    counts, edges = _bins(pnls, 40)
    centres = (edges[:-1] + edges[1:]) / 2
    colors = [GREEN if centre > 0 else RED for centre in centres]
    trace = _bars(counts, edges, colors, "$%{x:,.0f}: %{y} trades<extra></extra>")
    return figure(
        [trace],
        260,
        hovermode="closest",
        bargap=0,
        xaxis=axis(tickprefix="$", title={"text": "net PnL per trade"}),
        yaxis=axis(title={"text": "trades"}),
    )


def _bar_times(open_ns: np.ndarray, timeframe: Timeframe) -> pd.DatetimeIndex:
    """Where a candle sits: its session day for daily bars, else its close in New York time
    (fills happen at a bar's close, so entry and exit markers sit on their bar)."""
    if timeframe is Timeframe.DAILY:
        return session_days(open_ns)
    closes = pd.to_datetime(open_ns + np.int64(timeframe.seconds * 10**9), utc=True)
    return closes.tz_convert(DAY_ZONE).tz_localize(None).as_unit("ns")


def _stamps(index: pd.DatetimeIndex, timeframe: Timeframe) -> list[str]:
    return list(index.strftime("%Y-%m-%d" if timeframe is Timeframe.DAILY else "%Y-%m-%d %H:%M"))


def _candle_of(
    candles: pd.DatetimeIndex, stamps: Sequence[Any], timeframe: Timeframe
) -> np.ndarray:
    """Index of the candle each fill belongs to: the first candle ending at or after it
    (a merged candle covers all its bars' fills)."""
    local = pd.DatetimeIndex(stamps).tz_convert(DAY_ZONE).tz_localize(None).as_unit("ns")
    if timeframe is Timeframe.DAILY:
        local = local.normalize()
    return np.minimum(np.searchsorted(candles.asi8, local.asi8, side="left"), len(candles) - 1)


@dataclass(frozen=True, slots=True)
class Candles:
    last: np.ndarray  # index of each candle's last bar (where the candle is drawn)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    bars_per_candle: int


def decimate(bars: BarArrays, limit: int = MAX_CANDLES) -> Candles:
    """Merge runs of consecutive bars into one candle so that at most ``limit`` remain."""
    size = len(bars)
    step = max(1, math.ceil(size / limit))
    starts = np.arange(0, size, step)
    last = np.minimum(starts + step, size) - 1
    if step == 1:
        return Candles(last, bars.open, bars.high, bars.low, bars.close, 1)
    return Candles(
        last=last,
        open=bars.open[starts],
        high=np.maximum.reduceat(bars.high, starts),
        low=np.minimum.reduceat(bars.low, starts),
        close=bars.close[last],
        bars_per_candle=step,
    )


def price_chart(
    instrument_id: str, bars: BarArrays, timeframe: Timeframe, trades: Sequence[TradeRecord]
) -> tuple[Figure, int]:
    """Candles with entry and exit markers; returns the figure and the bars per candle."""
    candles = decimate(bars)
    times = _bar_times(bars.ts[candles.last], timeframe)
    x = _stamps(times, timeframe)

    def at(stamps: list[Any]) -> list[str]:
        return [x[i] for i in _candle_of(times, stamps, timeframe)]

    traces: list[dict[str, Any]] = [
        {
            "type": "candlestick",
            "x": x,
            "open": values(candles.open),
            "high": values(candles.high),
            "low": values(candles.low),
            "close": values(candles.close),
            "name": instrument_id,
            "increasing": {"line": {"color": "#059669", "width": 1}, "fillcolor": "#10b981"},
            "decreasing": {"line": {"color": "#dc2626", "width": 1}, "fillcolor": "#f87171"},
            "showlegend": False,
        }
    ]
    mine = [t for t in trades if t.instrument_id == instrument_id]
    for side, symbol, color in (
        (TradeSide.LONG, "triangle-up", GREEN),
        (TradeSide.SHORT, "triangle-down", RED),
    ):
        entries = [t for t in mine if t.side is side]
        if entries:
            traces.append(
                _markers(
                    f"{side.value.lower()} entry",
                    at([t.entry_time for t in entries]),
                    [t.entry_price for t in entries],
                    symbol,
                    color,
                    [f"{side.value} {t.quantity:g} @ {t.entry_price:g}" for t in entries],
                )
            )
    exits = [t for t in mine if t.exit_time is not None and t.exit_price is not None]
    if exits:
        traces.append(
            _markers(
                "exit",
                at([t.exit_time for t in exits]),
                [t.exit_price for t in exits],  # type: ignore[misc]
                "x",
                "#0f172a",
                [f"exit @ {t.exit_price:g}, PnL {t.pnl or 0:+,.2f}" for t in exits],
            )
        )
    layout = {
        "xaxis": axis(rangeslider={"visible": False}, type="date"),
        "yaxis": axis(tickprefix="$"),
        "hovermode": "closest",
    }
    if timeframe is not Timeframe.DAILY:
        # Skip nights and weekends so intraday sessions sit side by side.
        layout["xaxis"] = axis(rangeslider={"visible": False}, type="category", nticks=10)
    return figure(traces, 420, **layout), candles.bars_per_candle


def _markers(
    name: str,
    x: list[str],
    prices: list[float],
    symbol: str,
    color: str,
    hover: list[str],
) -> dict[str, Any]:
    # Hundreds of fills on one chart: smaller, lighter markers keep the candles visible.
    size = 9 if len(x) <= 100 else 6 if len(x) <= 400 else 4
    return {
        "type": "scatter",
        "mode": "markers",
        "x": x,
        "y": values(prices),
        "name": name,
        "text": hover,
        "hovertemplate": "%{x}<br>%{text}<extra></extra>",
        "marker": {
            "symbol": symbol,
            "color": color,
            "size": size,
            "opacity": 1.0 if len(x) <= 100 else 0.7,
            "line": {"width": 1 if size > 4 else 0, "color": "#fff"},
        },
    }
