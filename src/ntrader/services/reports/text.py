"""The plain-text report: every metric, the trade summary, drawdowns and calendar returns."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import pandas as pd

from ntrader.models.metrics import Metrics
from ntrader.services.reports.analytics import (
    DrawdownPeriod,
    TradeStats,
    monthly_table,
    period_returns,
    worst_drawdowns,
)
from ntrader.services.reports.catalog import (
    GROUPS,
    INSTRUMENT_FIGURES,
    Kind,
    by_key,
    calendar_cell,
    format_metric,
    format_value,
    metrics_of,
)
from ntrader.services.reports.data import RunData
from ntrader.services.reports.sparkline import sparkline

WIDTH = 78
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def heading(title: str, underline: str = "-") -> list[str]:
    return ["", title, underline * len(title)]


def pairs(rows: Iterable[tuple[str, str]], indent: int = 2) -> list[str]:
    rows = list(rows)
    width = max((len(label) for label, _ in rows), default=0)
    return [f"{' ' * indent}{label:<{width}}  {value}" for label, value in rows]


def table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: int = 2) -> list[str]:
    """Columns right-aligned except the first, sized to their widest cell."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            f"{cell:<{widths[i]}}" if i == 0 else f"{cell:>{widths[i]}}"
            for i, cell in enumerate(cells)
        ]
        return " " * indent + "  ".join(parts).rstrip()

    return [line(header), " " * indent + "  ".join("-" * w for w in widths), *map(line, rows)]


def format_duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    days, seconds = value.days, value.seconds
    if days:
        return f"{days}d {seconds // 3600}h"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


def _day(stamp: pd.Timestamp | None) -> str:
    return "not recovered" if stamp is None else stamp.strftime("%Y-%m-%d")


def drawdown_rows(periods: Sequence[DrawdownPeriod]) -> list[list[str]]:
    return [
        [
            str(number),
            _day(p.peak),
            _day(p.trough),
            _day(p.recovery),
            format_value(Kind.PERCENT, p.depth),
            f"{p.days:,}",
        ]
        for number, p in enumerate(periods, start=1)
    ]


DRAWDOWN_HEADER = ("#", "Peak", "Trough", "Recovery", "Depth", "Days")
# The per-instrument columns the reports show (the terminal shows every figure).
REPORT_FIGURES = tuple(
    by_key(key, INSTRUMENT_FIGURES)
    for key in ("total_trades", "win_rate", "net_pnl", "return_contribution")
)


def stats_rows(stats: TradeStats) -> list[tuple[str, str]]:
    longest = stats.longest_drawdown
    return [
        (
            "Closed trades",
            f"{stats.closed_trades:,} ({stats.long_trades} long, {stats.short_trades} short)",
        ),
        ("Open positions at end", str(stats.open_positions)),
        ("Largest win", format_value(Kind.MONEY, stats.largest_win)),
        ("Largest loss", format_value(Kind.MONEY, stats.largest_loss)),
        ("Average holding time", format_duration(stats.avg_holding)),
        ("Most wins in a row", str(stats.max_consecutive_wins)),
        ("Most losses in a row", str(stats.max_consecutive_losses)),
        ("Commission paid", format_value(Kind.MONEY, stats.total_commission)),
        ("Exposure (time in market)", format_value(Kind.RATE, stats.exposure)),
        (
            "Longest drawdown",
            "—"
            if longest is None
            else f"{longest.days:,} days, {_day(longest.peak)} → {_day(longest.recovery)}",
        ),
        (
            "Best / worst day",
            f"{format_value(Kind.PERCENT, stats.best_day)} / "
            f"{format_value(Kind.PERCENT, stats.worst_day)}",
        ),
        (
            "Best / worst month",
            f"{format_value(Kind.PERCENT, stats.best_month)} / "
            f"{format_value(Kind.PERCENT, stats.worst_month)}",
        ),
        (
            "Skew / kurtosis (daily)",
            f"{format_value(Kind.RATIO, stats.skew)} / {format_value(Kind.RATIO, stats.kurtosis)}",
        ),
        ("Probabilistic Sharpe (vs 0)", format_value(Kind.RATE, stats.probabilistic_sharpe)),
    ]


def describe_exposure(metrics: Metrics | None) -> str:
    """Average and maximum gross exposure, % of equity (runs stored before it: a dash)."""
    exposure = metrics.exposure if metrics else None
    if exposure is None:
        return "—"
    average, maximum = (format_value(Kind.RATE, v) for v in (exposure.average, exposure.maximum))
    return f"average {average}, maximum {maximum} of equity"


def header_rows(data: RunData, generated_at: datetime) -> list[tuple[str, str]]:
    run, config = data.run, data.run.config
    final = float(data.curve.values[-1])
    return [
        ("Run", run.id),
        ("Strategy", config.strategy_name or config.strategy_type),
        ("Parameters", json.dumps(config.parameters, sort_keys=True)),
        ("Instruments", ", ".join(config.instruments)),
        ("Period", f"{config.start} → {config.end} ({config.timeframe.value} bars)"),
        (
            "Capital",
            f"{format_value(Kind.MONEY, config.initial_capital)} → "
            f"{format_value(Kind.MONEY, final)}",
        ),
        ("Fills", config.describe_fill()),
        ("Sizing", config.describe_sizing()),
        ("Position cap", f"{config.max_position_pct:g}% of equity"),
        ("Exits", config.describe_exits()),
        ("Exposure", describe_exposure(run.metrics)),
        ("Commission", config.commission.describe()),
        ("Slippage", f"{config.slippage_bps} bps"),
        ("Benchmark", data.benchmark.symbol if data.benchmark else f"{config.benchmark} (no data)"),
        ("Risk-free rate", format_value(Kind.RATE, data.risk_free_rate)),
        ("Data fingerprint", run.data_fingerprint or "—"),
        ("Versions", f"ntrader {run.ntrader_version}, nautilus_trader {run.nautilus_version}"),
        ("Generated", generated_at.isoformat(timespec="seconds")),
    ]


def _calendar(data: RunData) -> list[str]:
    months = monthly_table(data.curve.series())
    yearly = period_returns(data.curve.series(), "Y")
    rows = [
        [
            str(year),
            *(calendar_cell(value) for value in months.loc[year].to_numpy()),
            calendar_cell(yearly[pd.Period(str(year), "Y")]),
        ]
        for year in months.index
    ]
    return table(("Year", *_MONTHS, "Year"), rows)


def render_text(data: RunData, stats: TradeStats, generated_at: datetime) -> str:
    title = f"Backtest report · {data.title}"
    lines = [title, "=" * min(len(title), WIDTH)]
    lines += pairs(header_rows(data, generated_at), indent=0)
    lines += heading("Equity curve")
    lines.append("  " + sparkline(data.curve.equity, width=WIDTH - 4))
    for group, label in GROUPS:
        lines += heading(label)
        lines += pairs(
            (metric.label, format_metric(data.metrics, metric)) for metric in metrics_of(group)
        )
    if data.benchmark is None:
        lines.append(f"  (no daily bars of {data.run.config.benchmark} stored for the period)")
    per_instrument = data.metrics.per_instrument or {}
    if len(per_instrument) > 1:
        lines += heading("Per instrument")
        lines += table(
            ("Instrument", *(m.label for m in REPORT_FIGURES)),
            [
                [name, *(m.format(figures.value(m.key)) for m in REPORT_FIGURES)]
                for name, figures in per_instrument.items()
            ],
        )
    lines += heading("Trade summary")
    lines += pairs(stats_rows(stats))
    lines += heading("Worst drawdowns")
    periods = worst_drawdowns(data.curve.series())
    lines += table(DRAWDOWN_HEADER, drawdown_rows(periods)) if periods else ["  none"]
    lines += heading("Monthly returns (%)")
    lines += _calendar(data)
    return "\n".join(lines) + "\n"
