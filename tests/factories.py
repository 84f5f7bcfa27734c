"""Small builders for records the tests need in many places."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from jsonschema import Draft202012Validator
from sqlalchemy import Connection, delete

from ntrader.db.tables import bar_blocks, bars
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


# The metrics of a run as stored today, byte for byte: ``ntrader run-simple --bars 300
# --json`` before the metrics were typed (all winners: the profit factor is null).
TODAY_ROW = json.loads(
    '{"returns": {"total_return": 0.015054200000000018, "cagr": 0.012655604674662202, '
    '"annualized_return": 0.01259381575502865}, "risk": {"max_drawdown": -0.00647775459486033, '
    '"sharpe_ratio": 2.1366398811889384, "sortino_ratio": 3.6138769096939214, '
    '"calmar_ratio": 1.953702396306212, "volatility": 0.00589421542951861}, "trading": '
    '{"closed_trades": 4, "open_trades": 1, "win_rate": 1.0, "avg_win": 357.03999999999996, '
    '"avg_loss": null, "profit_factor": null, "expectancy": 357.03999999999996, '
    '"total_trades": 4, "winning_trades": 4, "losing_trades": 0}, "benchmark": '
    '{"benchmark_return": null, "alpha": null, "beta": null}, "annualisation": '
    '{"calendar": "XNYS", "periods_per_year": 252.5}, "per_instrument": {"MOCK.SIM": '
    '{"bars": 300, "total_trades": 4, "winning_trades": 4, "win_rate": 1.0, '
    '"open_positions": 1, "realized_pnl": 1428.1599999999999, '
    '"unrealized_pnl": 77.26000000000204, "net_pnl": 1505.420000000002, '
    '"return_contribution": 0.01505420000000002, "average_exposure": 0.04399238376565009, '
    '"maximum_exposure": 0.108777575248959}}, "exposure": {"average": 0.04399238376565009, '
    '"maximum": 0.108777575248959}}'
)

# A run stored by the first multi-instrument version: no open-trade counts, no realised or
# unrealised split, no exposures, no calendar.
OLD_ROW = {
    "returns": {"total_return": -0.0125, "cagr": -0.0042, "annualized_return": -0.0039},
    "risk": {
        "max_drawdown": -0.031,
        "sharpe_ratio": -0.4,
        "sortino_ratio": None,
        "calmar_ratio": -0.135,
        "volatility": 0.011,
    },
    "trading": {
        "win_rate": 0.25,
        "avg_win": 40.0,
        "avg_loss": -5.0,
        "profit_factor": 2.6666666666666665,
        "expectancy": 6.25,
        "total_trades": 4,
        "winning_trades": 1,
        "losing_trades": 3,
    },
    "benchmark": {"benchmark_return": 0.21, "alpha": -0.05, "beta": 0.3},
    "per_instrument": {
        name: {
            "bars": 756,
            "total_trades": 2,
            "winning_trades": wins,
            "win_rate": wins / 2,
            "open_positions": 0,
            "net_pnl": pnl,
            "return_contribution": pnl / 100_000,
        }
        for name, wins, pnl in (("AAPL.NASDAQ", 1, 35.0), ("MSFT.NASDAQ", 0, -10.0))
    },
}


def delete_stored_bars(connection: Connection, instrument_pk: int | None = None) -> None:
    """Remove bars behind ntrader's back (no command deletes them): the rows and the column
    blocks loads read, of one instrument or all."""
    for table in (bars, bar_blocks):
        query = delete(table)
        if instrument_pk is not None:
            query = query.where(table.c.instrument_id == instrument_pk)
        connection.execute(query)
