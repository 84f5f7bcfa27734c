"""The JSON report: metrics, configuration, trades and curves with stable keys.

The schema is documented in docs/reports.md; bump ``SCHEMA_VERSION`` on any change that
renames or removes a key (adding keys keeps the version).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd

from ntrader import __version__
from ntrader.models.metrics import Metrics
from ntrader.services.reports.analytics import DrawdownPeriod, TradeStats, worst_drawdowns
from ntrader.services.reports.catalog import GROUPS, metrics_of, value_of
from ntrader.services.reports.data import RunData

SCHEMA_VERSION = 1


def _day(stamp: pd.Timestamp | None) -> str | None:
    return None if stamp is None else stamp.strftime("%Y-%m-%d")


def drawdown_document(period: DrawdownPeriod) -> dict[str, Any]:
    return {
        "peak": _day(period.peak),
        "trough": _day(period.trough),
        "recovery": _day(period.recovery),
        "depth": period.depth,
        "days": period.days,
    }


def stats_document(stats: TradeStats) -> dict[str, Any]:
    return {
        "closed_trades": stats.closed_trades,
        "open_positions": stats.open_positions,
        "long_trades": stats.long_trades,
        "short_trades": stats.short_trades,
        "largest_win": stats.largest_win,
        "largest_loss": stats.largest_loss,
        "avg_holding_seconds": (
            stats.avg_holding.total_seconds() if stats.avg_holding is not None else None
        ),
        "max_consecutive_wins": stats.max_consecutive_wins,
        "max_consecutive_losses": stats.max_consecutive_losses,
        "total_commission": stats.total_commission,
        "exposure": stats.exposure,
        "longest_drawdown": (
            drawdown_document(stats.longest_drawdown) if stats.longest_drawdown else None
        ),
        "best_day": stats.best_day,
        "worst_day": stats.worst_day,
        "best_month": stats.best_month,
        "worst_month": stats.worst_month,
        "skew": stats.skew,
        "kurtosis": stats.kurtosis,
        "probabilistic_sharpe": stats.probabilistic_sharpe,
    }


def metrics_document(metrics: Metrics) -> dict[str, dict[str, Any]]:
    """The four metric groups with every key present (null where undefined), in the catalog's
    order (the report's documented key order); valid against docs/schemas/metrics.schema.json."""
    return {group: {m.key: value_of(metrics, m) for m in metrics_of(group)} for group, _ in GROUPS}


def run_document(data: RunData) -> dict[str, Any]:
    run = data.run
    return {
        "id": run.id,
        "status": run.status.value,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "completed_at": run.completed_at.isoformat() if run.completed_at else None,
        "duration_seconds": run.duration_seconds,
        "data_fingerprint": run.data_fingerprint,
        "ntrader_version": run.ntrader_version,
        "nautilus_version": run.nautilus_version,
    }


def _curve(dates: pd.DatetimeIndex, values: Any, name: str) -> list[dict[str, Any]]:
    return [
        {"date": _day(day), name: float(value)} for day, value in zip(dates, values, strict=True)
    ]


def report_document(data: RunData, stats: TradeStats, generated_at: datetime) -> dict[str, Any]:
    curve = data.curve
    bench_curve = data.benchmark_curve()
    metrics = data.metrics.model_dump(mode="json")
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at.isoformat(),
        "generator": {"name": "ntrader", "version": __version__},
        "run": run_document(data),
        "configuration": data.run.config.model_dump(mode="json"),
        "risk_free_rate": data.risk_free_rate,
        "metrics": metrics_document(data.metrics),
        "per_instrument": metrics["per_instrument"],
        # The calendar and trading days a year behind every annualised figure (null for runs
        # stored before calendars, which used 252).
        "annualisation": metrics["annualisation"],
        "statistics": stats_document(stats),
        "worst_drawdowns": [drawdown_document(p) for p in worst_drawdowns(curve.series())],
        "equity_curve": _curve(curve.dates, curve.values, "equity"),
        "benchmark": None
        if data.benchmark is None or bench_curve is None
        else {
            "instrument_id": data.benchmark.symbol,
            "curve": _curve(curve.dates, bench_curve.to_numpy()[1:], "value"),
        },
        "trades": [trade.model_dump(mode="json") for trade in data.trades],
    }


def render_json(data: RunData, stats: TradeStats, generated_at: datetime) -> str:
    document = report_document(data, stats, generated_at)
    return json.dumps(document, indent=2, allow_nan=False) + "\n"
