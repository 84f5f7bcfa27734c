"""The HTML report of one run: charts, metric tables, drawdowns, trades and provenance."""

from __future__ import annotations

from datetime import datetime
from html import escape

from ntrader.models.backtest import TradeRecord
from ntrader.services.metrics import closed_pnls
from ntrader.services.reports import charts
from ntrader.services.reports.analytics import (
    ROLLING_WINDOW,
    TradeStats,
    monthly_table,
    period_returns,
    rolling_beta,
    rolling_sharpe,
    rolling_volatility,
    underwater,
    worst_drawdowns,
)
from ntrader.services.reports.catalog import (
    GROUPS,
    Kind,
    Metric,
    by_key,
    format_metric,
    format_value,
    metric_tone,
    metrics_of,
    sign_tone,
)
from ntrader.services.reports.data import RunData
from ntrader.services.reports.html import (
    Cell,
    card,
    chart,
    grid,
    key_values,
    kpi,
    page,
    table,
    tone_class,
    warning,
)
from ntrader.services.reports.text import (
    DRAWDOWN_HEADER,
    REPORT_FIGURES,
    drawdown_rows,
    format_duration,
    header_rows,
    stats_rows,
)

_MONO_ROWS = {"Run", "Parameters", "Data fingerprint"}
_KPIS = (
    "total_return",
    "cagr",
    "sharpe_ratio",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "total_trades",
)


def _signed(value: float | None, kind: Kind) -> Cell:
    tone = sign_tone(value)
    return Cell(format_value(kind, value), tone_class(tone), value if value is not None else "")


def metric_tables(data: RunData) -> str:
    cards = []
    for group, label in GROUPS:
        rows = [
            (
                metric.label,
                Cell(
                    format_metric(data.metrics, metric),
                    tone_class(metric_tone(data.metrics, metric)),
                ),
            )
            for metric in metrics_of(group)
        ]
        note = ""
        if group == "benchmark" and data.benchmark is None:
            note = f"No daily bars of {data.run.config.benchmark} are stored for the period."
        cards.append(card(label, key_values(rows), note=note))
    return grid(*cards)


def price_text(price: float | None) -> str:
    """At least cents, and every decimal a finer tick size needs (up to 8)."""
    if price is None:
        return "—"
    text = f"{price:,.8f}".rstrip("0")
    return text if len(text.partition(".")[2]) >= 2 else f"{price:,.2f}"


def _trade_row(number: int, t: TradeRecord) -> str:
    """One row of the trade table, written out directly: with thousands of trades, going
    through the generic table helper would cost more than all the charts together."""
    held = (t.exit_time - t.entry_time) if t.exit_time else None
    exit_time = t.exit_time.strftime("%Y-%m-%d %H:%M") if t.exit_time else "open"
    pnl, pnl_pct = _signed(t.pnl, Kind.MONEY), _signed(t.pnl_pct, Kind.PERCENT)
    return (
        f"<tr><td>{number}</td><td class='text'>{escape(t.instrument_id)}</td>"
        f"<td class='text'>{t.side.value}</td><td data-v='{t.quantity!r}'>{t.quantity:,.6g}</td>"
        f"<td class='text' data-v='{t.entry_time.isoformat()}'>"
        f"{t.entry_time.strftime('%Y-%m-%d %H:%M')}</td>"
        f"<td data-v='{t.entry_price!r}'>{price_text(t.entry_price)}</td>"
        f"<td class='text' data-v='{t.exit_time.isoformat() if t.exit_time else '~'}'>"
        f"{exit_time}</td>"
        f"<td data-v='{'' if t.exit_price is None else repr(t.exit_price)}'>"
        f"{price_text(t.exit_price)}</td>"
        f"<td data-v='{held.total_seconds() if held else ''}'>{format_duration(held)}</td>"
        f"<td data-v='{t.commission!r}'>{format_value(Kind.MONEY, t.commission)}</td>"
        f"<td class='{pnl.css}' data-v='{pnl.sort}'>{pnl.text}</td>"
        f"<td class='{pnl_pct.css}' data-v='{pnl_pct.sort}'>{pnl_pct.text}</td></tr>"
    )


_TRADE_HEADER = (
    "#",
    Cell("Instrument", "text"),
    Cell("Side", "text"),
    "Qty",
    Cell("Entry (UTC)", "text"),
    "Entry price",
    Cell("Exit (UTC)", "text"),
    "Exit price",
    "Held",
    "Commission",
    "PnL",
    "PnL %",
)


def trades_table(trades: list[TradeRecord]) -> str:
    header = table(_TRADE_HEADER, [], css="sortable").removesuffix("<tbody></tbody></table>")
    rows = "".join(_trade_row(number, t) for number, t in enumerate(trades, start=1))
    return f"<div class='scroll'>{header}<tbody>{rows}</tbody></table></div>"


def _figure_cell(metric: Metric, value: float | None) -> Cell:
    return Cell(metric.format(value), tone_class(metric.tone(value)), value)


def _per_instrument(data: RunData) -> str:
    figures = data.metrics.per_instrument or {}
    if len(figures) < 2:
        return ""
    rows = [
        [name, *(_figure_cell(m, f.value(m.key)) for m in REPORT_FIGURES)]
        for name, f in figures.items()
    ]
    header = ["Instrument", *(m.label for m in REPORT_FIGURES)]
    return card("Per instrument", table(header, rows), wide=True)


class Charts:
    """Collects the figures while the page is laid out; each chart div gets its figure."""

    def __init__(self) -> None:
        self.figures: dict[str, charts.Figure] = {}

    def add(self, figure_id: str, figure: charts.Figure) -> str:
        self.figures[figure_id] = figure
        return chart(figure_id)


def curves(data: RunData, plots: Charts) -> str:
    curve, bench = data.curve, data.benchmark
    series = curve.series()
    bench_curve = data.benchmark_curve()
    equity = plots.add(
        "fig-equity",
        charts.equity_chart(
            curve.chart_dates,
            curve.equity,
            (bench.symbol, bench_curve.to_numpy()) if bench and bench_curve is not None else None,
            worst_drawdowns(series),
        ),
    )
    if bench is None:
        equity += warning(
            f"No daily bars of the benchmark {data.run.config.benchmark} are stored for this "
            "period; the chart shows the strategy alone."
        )
    underwater_chart = plots.add(
        "fig-underwater", charts.underwater_chart(curve.chart_dates, underwater(series).to_numpy())
    )
    return card("Equity curve", equity, wide=True, small="worst 5 drawdowns shaded") + card(
        "Drawdown", underwater_chart, wide=True, small="underwater curve"
    )


def _calendar(data: RunData, plots: Charts) -> str:
    series = data.curve.series()
    bench_curve = data.benchmark_curve()
    bench_yearly = (
        (data.benchmark.symbol, period_returns(bench_curve, "Y"))
        if data.benchmark and bench_curve is not None
        else None
    )
    monthly = plots.add("fig-monthly", charts.monthly_heatmap(monthly_table(series)))
    yearly = plots.add("fig-yearly", charts.yearly_bars(period_returns(series, "Y"), bench_yearly))
    distribution = plots.add(
        "fig-distribution", charts.returns_histogram(data.curve.returns().to_numpy())
    )
    return card("Monthly returns", monthly, wide=True) + grid(
        card("Yearly returns", yearly),
        card("Distribution of daily returns", distribution, small="with a fitted normal curve"),
    )


def _rolling(data: RunData, plots: Charts) -> str:
    returns = data.curve.returns()
    year = {"periods_per_year": data.periods_per_year}  # the run's calendar, docs/metrics.md
    window = f"{ROLLING_WINDOW} days"
    short = (
        f"The run is shorter than the {ROLLING_WINDOW}-day window."
        if len(returns) < ROLLING_WINDOW
        else ""
    )
    sharpe = plots.add(
        "fig-sharpe",
        charts.rolling_chart(
            [("Sharpe", rolling_sharpe(returns, data.risk_free_rate, **year), charts.BLUE)],
            ".2f",
        ),
    )
    volatility = [("Strategy", rolling_volatility(returns, **year), charts.BLUE)]
    cards = [card("Rolling Sharpe ratio", sharpe, small=window, note=short)]
    bench_curve = data.benchmark_curve()
    if data.benchmark is not None and bench_curve is not None:
        bench_returns = bench_curve.pct_change().iloc[1:]
        volatility.append(
            (data.benchmark.symbol, rolling_volatility(bench_returns, **year), charts.GREY)
        )
        beta = plots.add(
            "fig-beta",
            charts.rolling_chart(
                [("Beta", rolling_beta(returns, bench_returns), "#7c3aed")], ".2f"
            ),
        )
        cards.append(card("Rolling beta", beta, small=f"{window} vs {data.benchmark.symbol}"))
    volatility_chart = plots.add("fig-volatility", charts.rolling_chart(volatility, ".0%"))
    cards.insert(1, card("Rolling volatility", volatility_chart, small=f"{window}, annualized"))
    return grid(*cards)


def _tables(data: RunData, stats: TradeStats) -> str:
    periods = worst_drawdowns(data.curve.series())
    drawdowns = (
        table(list(DRAWDOWN_HEADER), drawdown_rows(periods)) if periods else "<p>No drawdowns.</p>"
    )
    return grid(
        card(
            "Worst 5 drawdowns",
            drawdowns,
            note="Days are trading days from the peak to the recovery (or to the end).",
        ),
        card("Trade statistics", key_values(stats_rows(stats))),
    )


def _trading(data: RunData, plots: Charts) -> str:
    timeframe = data.run.config.timeframe
    cards = []
    for number, (instrument_id, bars) in enumerate(data.prices.items()):
        if bars.is_empty:
            continue
        figure, per_candle = charts.price_chart(instrument_id, bars, timeframe, data.trades)
        note = "▲ long entry · ▼ short entry · ✕ exit"
        if per_candle > 1:
            candles = -(-len(bars) // per_candle)
            note += f" · {len(bars):,} bars drawn as {candles:,} candles of {per_candle} bars"
        cards.append(
            card(
                f"{instrument_id} price with entries and exits",
                plots.add(f"fig-price-{number}", figure),
                note=note,
                wide=True,
                small=timeframe.value,
            )
        )
    pnls = closed_pnls(data.trades)
    if pnls.size:
        pnl_chart = plots.add("fig-pnl", charts.trade_pnl_histogram(pnls))
        cards.append(card("Trade PnL distribution", pnl_chart, wide=True))
    cards.append(_per_instrument(data))
    cards.append(
        card(
            "Trades",
            trades_table(data.trades) if data.trades else "<p>No trades.</p>",
            wide=True,
            small=f"{len(data.trades):,} · click a column to sort",
        )
    )
    return "".join(cards)


def _kpis(data: RunData) -> list[str]:
    tiles = [
        kpi(m.label, format_metric(data.metrics, m), metric_tone(data.metrics, m))
        for m in map(by_key, _KPIS)
    ]
    final = float(data.curve.values[-1])
    tiles.append(
        kpi("Final equity", format_value(Kind.MONEY, final), sign_tone(final - data.curve.initial))
    )
    return tiles


def render_html(data: RunData, stats: TradeStats, generated_at: datetime) -> str:
    plots = Charts()
    provenance = [
        (label, Cell(value, "mono" if label in _MONO_ROWS else ""))
        for label, value in header_rows(data, generated_at)
    ]
    body = "".join(
        [
            curves(data, plots),
            metric_tables(data),
            _calendar(data, plots),
            _rolling(data, plots),
            _tables(data, stats),
            _trading(data, plots),
            card("Configuration and provenance", key_values(provenance, css="props"), wide=True),
        ]
    )
    return page(
        title=f"Backtest {data.short_id}",
        subtitle=data.title,
        tag=data.run.config.strategy_type,
        kpis=_kpis(data),
        body=body,
        figures=plots.figures,
    )
