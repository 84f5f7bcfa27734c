"""CSV files of a run: trades, metrics and portfolio snapshots, at full precision.

Floats are written with ``repr`` (the shortest text that reads back to the same double),
times as ISO 8601 UTC, nulls as empty fields, booleans as ``true``/``false``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ntrader.models.backtest import PortfolioSnapshot, TradeRecord
from ntrader.services.reports.data import RunData, snapshot_days
from ntrader.services.reports.files import write_atomic
from ntrader.utils.sessions import last_of_day

TRADES_FILE = "trades.csv"
METRICS_FILE = "metrics.csv"
SNAPSHOTS_FILE = "snapshots.csv"
FILES = (METRICS_FILE, SNAPSHOTS_FILE, TRADES_FILE)

TRADE_COLUMNS = tuple(TradeRecord.model_fields)
SNAPSHOT_COLUMNS = (
    "ts",
    "cash",
    "total_value",
    "margin_used",
    "buying_power",
    "positions",
    "day_close",
)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def trades_csv(trades: Sequence[TradeRecord]) -> str:
    return _csv(
        TRADE_COLUMNS, ([getattr(trade, name) for name in TRADE_COLUMNS] for trade in trades)
    )


def _flatten(prefix: str, values: Mapping[str, Any]) -> Iterable[tuple[str, str, Any]]:
    """Nested groups (``per_instrument`` → instrument → figure) become dotted group names."""
    for key, value in values.items():
        if isinstance(value, Mapping):
            yield from _flatten(f"{prefix}.{key}" if prefix else key, value)
        else:
            yield prefix, key, value


def metrics_csv(metrics: Mapping[str, Any], risk_free_rate: float) -> str:
    rows = [("settings", "risk_free_rate", risk_free_rate), *_flatten("", metrics)]
    return _csv(("group", "metric", "value"), rows)


def snapshots_csv(snapshots: Sequence[PortfolioSnapshot]) -> str:
    """Every stored snapshot (each day's close and each fill); ``day_close`` marks the last
    one of its trading day, which together make the daily equity curve."""
    day_close = last_of_day(snapshot_days(snapshots))
    return _csv(
        SNAPSHOT_COLUMNS,
        (
            (
                s.ts,
                s.cash,
                s.total_value,
                s.margin_used,
                s.buying_power,
                json.dumps(s.positions, sort_keys=True),
                bool(close),
            )
            for s, close in zip(snapshots, day_close, strict=True)
        ),
    )


def csv_files(data: RunData, *, trades: bool = True, snapshots: bool = True) -> dict[str, str]:
    """The CSV report's files by name, in digest order (metrics always; trades and
    snapshots unless turned off)."""
    contents = {METRICS_FILE: metrics_csv(data.metrics.stored(), data.risk_free_rate)}
    if snapshots:
        contents[SNAPSHOTS_FILE] = snapshots_csv(data.snapshots)
    if trades:
        contents[TRADES_FILE] = trades_csv(data.trades)
    return {name: contents[name] for name in FILES if name in contents}


def write_csv_directory(directory: Path, files: dict[str, str]) -> tuple[str, ...]:
    """Write the files into ``directory``; returns their names in digest order."""
    for name, content in files.items():
        write_atomic(directory / name, content)
    return tuple(files)
