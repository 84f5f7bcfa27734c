"""Small builders for records the tests need in many places."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from jsonschema import Draft202012Validator

from ntrader.models.backtest import TradeRecord
from ntrader.models.enums import TradeSide

_NOW = datetime(2024, 1, 2, tzinfo=UTC)
METRICS_SCHEMA_FILE = Path(__file__).parent.parent / "docs" / "schemas" / "metrics.schema.json"
# The checked-in schema that --json and report consumers read (not the model's own export).
METRICS_SCHEMA = Draft202012Validator(json.loads(METRICS_SCHEMA_FILE.read_text(encoding="utf-8")))


def trade_with_pnl(pnl: float | None, *, is_open: bool = False) -> TradeRecord:
    """A one-day LONG trade in AAPL whose only figure that matters is its net PnL."""
    return TradeRecord(
        instrument_id="AAPL.NASDAQ",
        side=TradeSide.LONG,
        quantity=10,
        entry_time=_NOW,
        entry_price=100.0,
        exit_time=None if is_open else _NOW,
        exit_price=None if is_open else 101.0,
        commission=2.0,
        pnl=pnl,
        is_open=is_open,
    )
