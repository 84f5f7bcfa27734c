"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 14:18:14.840842
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ntrader.db.tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instruments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instrument_id", sa.String(length=64), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("asset_class", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("price_precision", sa.SmallInteger(), nullable=False),
        sa.Column("tick_size", sa.Float(), nullable=False),
        sa.Column("lot_size", sa.Float(), nullable=False),
        sa.Column("trading_hours", sa.JSON(), nullable=True),
        sa.Column("margin_requirement", sa.Float(), nullable=True),
        sa.Column("created_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instruments")),
        sa.UniqueConstraint("instrument_id", name=op.f("uq_instruments_instrument_id")),
    )
    with op.batch_alter_table("instruments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instruments_symbol"), ["symbol"], unique=False)

    op.create_table(
        "strategies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("strategy_type", sa.String(length=64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategies")),
        sa.UniqueConstraint("name", name=op.f("uq_strategies_name")),
    )
    op.create_table(
        "backtest_configurations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("strategy_id", sa.String(length=36), nullable=True),
        sa.Column("strategy_type", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_backtest_configurations_strategy_id_strategies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_configurations")),
    )
    op.create_table(
        "bars",
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("open", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("close", sa.Float(), nullable=False),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_bars_instrument_id_instruments")
        ),
        sa.PrimaryKeyConstraint("instrument_id", "timeframe", "ts", name=op.f("pk_bars")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "backtest_results",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("configuration_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("started_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("trades_count", sa.Integer(), nullable=True),
        sa.Column("winning_trades", sa.Integer(), nullable=True),
        sa.Column("losing_trades", sa.Integer(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("data_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("ntrader_version", sa.String(length=32), nullable=True),
        sa.Column("nautilus_version", sa.String(length=32), nullable=True),
        sa.Column("host_pid", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["configuration_id"],
            ["backtest_configurations.id"],
            name=op.f("fk_backtest_results_configuration_id_backtest_configurations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_results")),
    )
    with op.batch_alter_table("backtest_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backtest_results_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_backtest_results_status"), ["status"], unique=False)

    op.create_table(
        "performance_reports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("backtest_id", sa.String(length=36), nullable=False),
        sa.Column("report_type", sa.String(length=8), nullable=False),
        sa.Column("generated_at", ntrader.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("file_path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["backtest_id"],
            ["backtest_results.id"],
            name=op.f("fk_performance_reports_backtest_id_backtest_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_performance_reports")),
    )
    with op.batch_alter_table("performance_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_performance_reports_backtest_id"), ["backtest_id"], unique=False
        )

    op.create_table(
        "portfolio_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("backtest_id", sa.String(length=36), nullable=False),
        sa.Column("ts", ntrader.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("cash", sa.Float(), nullable=False),
        sa.Column("positions", sa.JSON(), nullable=False),
        sa.Column("total_value", sa.Float(), nullable=False),
        sa.Column("margin_used", sa.Float(), nullable=False),
        sa.Column("buying_power", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["backtest_id"],
            ["backtest_results.id"],
            name=op.f("fk_portfolio_snapshots_backtest_id_backtest_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_snapshots")),
    )
    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portfolio_snapshots_backtest_ts", ["backtest_id", "ts"], unique=False
        )

    op.create_table(
        "trades",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("backtest_id", sa.String(length=36), nullable=False),
        sa.Column("instrument_id", sa.String(length=64), nullable=False),
        sa.Column("side", sa.String(length=5), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("entry_time", ntrader.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("entry_price", sa.Float(), nullable=False),
        sa.Column("exit_time", ntrader.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("exit_price", sa.Float(), nullable=True),
        sa.Column("commission", sa.Float(), nullable=False),
        sa.Column("slippage_cost", sa.Float(), nullable=False),
        sa.Column("pnl", sa.Float(), nullable=True),
        sa.Column("pnl_pct", sa.Float(), nullable=True),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["backtest_id"],
            ["backtest_results.id"],
            name=op.f("fk_trades_backtest_id_backtest_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trades")),
    )
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trades_backtest_id"), ["backtest_id"], unique=False)
    _make_bars_hypertable_if_available()


# Monthly chunks, in the unit of ``bars.ts`` (nanoseconds).
_CHUNK_NS = 30 * 86_400 * 1_000_000_000


def _make_bars_hypertable_if_available() -> None:
    """Turn ``bars`` into a TimescaleDB hypertable when the server has the extension loaded."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    preload = bind.execute(sa.text("SHOW shared_preload_libraries")).scalar() or ""
    if "timescaledb" not in preload:
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    op.execute(
        f"SELECT create_hypertable('bars', 'ts', chunk_time_interval => {_CHUNK_NS}, "
        "migrate_data => true)"
    )


def downgrade() -> None:
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trades_backtest_id"))

    op.drop_table("trades")
    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_portfolio_snapshots_backtest_ts")

    op.drop_table("portfolio_snapshots")
    with op.batch_alter_table("performance_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_performance_reports_backtest_id"))

    op.drop_table("performance_reports")
    with op.batch_alter_table("backtest_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_results_status"))
        batch_op.drop_index(batch_op.f("ix_backtest_results_created_at"))

    op.drop_table("backtest_results")
    op.drop_table("bars")
    op.drop_table("backtest_configurations")
    op.drop_table("strategies")
    with op.batch_alter_table("instruments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_instruments_symbol"))

    op.drop_table("instruments")
