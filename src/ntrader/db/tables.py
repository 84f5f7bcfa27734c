"""SQLAlchemy table definitions: the schema every migration builds towards."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone on its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


instruments = Table(
    "instruments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instrument_id", String(64), nullable=False, unique=True),
    Column("symbol", String(32), nullable=False, index=True),
    Column("venue", String(32), nullable=False),
    Column("asset_class", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("price_precision", SmallInteger, nullable=False),
    Column("tick_size", Float, nullable=False),
    Column("lot_size", Float, nullable=False, default=1.0),
    Column("trading_hours", JSON, nullable=True),
    Column("margin_requirement", Float, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

# Bars are keyed by (instrument, timeframe, open time): the key is the unique rule and the
# index every range read uses. ``ts`` is UTC nanoseconds since the epoch (bar open time).
# No foreign key to instruments: PostgreSQL checks one per copied row, which made bulk
# imports five times slower; the import resolves the instrument in the same transaction.
bars = Table(
    "bars",
    metadata,
    Column("instrument_id", Integer, nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("open", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("close", Float, nullable=False),
    Column("volume", Float, nullable=False),
    PrimaryKeyConstraint("instrument_id", "timeframe", "ts"),
    sqlite_with_rowid=False,
)

# The same bars as ``bars``, packed: a row per span of a series, what loads read (see
# ntrader.db.bar_blocks). ``payload`` holds the times, then open, high, low, close and volume,
# ``bar_count`` little-endian 8-byte numbers each.
bar_blocks = Table(
    "bar_blocks",
    metadata,
    Column("instrument_id", Integer, nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("block", BigInteger, nullable=False),
    Column("bar_count", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    PrimaryKeyConstraint("instrument_id", "timeframe", "block"),
)

# Secrets of the store (migration 0014): ``bar_cache`` signs this store's entries in the
# Redis bar cache.
store_secrets = Table(
    "store_secrets",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

# One row per import that added or replaced bars of a series (instrument, timeframe): its
# ``revision`` counts up from 1, so a series' data version is its highest revision.
bar_revisions = Table(
    "bar_revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("import_id", String(36), nullable=False, unique=True),
    Column("instrument_id", Integer, ForeignKey("instruments.id"), nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("rows_added", Integer, nullable=False),
    Column("rows_replaced", Integer, nullable=False),
    Column("first_ts", BigInteger, nullable=False),
    Column("last_ts", BigInteger, nullable=False),
    Column("source", Text, nullable=True),
    UniqueConstraint("instrument_id", "timeframe", "revision"),
)

strategies = Table(
    "strategies",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("strategy_type", String(64), nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

backtest_configurations = Table(
    "backtest_configurations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("strategy_id", String(36), ForeignKey("strategies.id"), nullable=True),
    Column("strategy_type", String(64), nullable=False),
    Column("config", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

backtest_results = Table(
    "backtest_results",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "configuration_id",
        String(36),
        ForeignKey("backtest_configurations.id"),
        nullable=False,
    ),
    Column("status", String(16), nullable=False, index=True),
    Column("error_message", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("started_at", UtcDateTime, nullable=True),
    Column("completed_at", UtcDateTime, nullable=True),
    Column("trades_count", Integer, nullable=True),
    Column("winning_trades", Integer, nullable=True),
    Column("losing_trades", Integer, nullable=True),
    Column("metrics", JSON, nullable=True),
    Column("data_fingerprint", String(64), nullable=True),
    Column("ntrader_version", String(32), nullable=True),
    Column("nautilus_version", String(32), nullable=True),
    Column("host_pid", Integer, nullable=True),
    Column("host", String(255), nullable=True),
    # Which process that pid was (``liveness.process_start``; None before 0015).
    Column("holder_start", String(64), nullable=True),
)


def _backtest_fk(*, index: bool) -> Column[str]:
    """The owning run; a run's rows go when the run is deleted."""
    return Column(
        "backtest_id",
        String(36),
        ForeignKey("backtest_results.id", ondelete="CASCADE"),
        nullable=False,
        index=index,
    )


trades = Table(
    "trades",
    metadata,
    Column("id", String(36), primary_key=True),
    _backtest_fk(index=True),
    Column("instrument_id", String(64), nullable=False),
    Column("side", String(5), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("entry_time", UtcDateTime, nullable=False),
    Column("entry_price", Float, nullable=False),
    Column("exit_time", UtcDateTime, nullable=True),
    Column("exit_price", Float, nullable=True),
    Column("commission", Float, nullable=False),
    Column("slippage_cost", Float, nullable=False),
    Column("pnl", Float, nullable=True),
    Column("pnl_pct", Float, nullable=True),
    Column("is_open", Boolean, nullable=False),
    # Pages of a run's trades are read in this order, from a key (migration 0009).
    Index("ix_trades_backtest_entry", "backtest_id", "entry_time", "id"),
)

portfolio_snapshots = Table(
    "portfolio_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _backtest_fk(index=False),
    Column("ts", UtcDateTime, nullable=False),
    Column("cash", Float, nullable=False),
    Column("positions", JSON, nullable=False),
    Column("total_value", Float, nullable=False),
    Column("margin_used", Float, nullable=False),
    Column("buying_power", Float, nullable=False),
    Index("ix_portfolio_snapshots_backtest_ts", "backtest_id", "ts"),
)

performance_reports = Table(
    "performance_reports",
    metadata,
    Column("id", String(36), primary_key=True),
    _backtest_fk(index=True),
    Column("report_type", String(8), nullable=False),
    Column("generated_at", UtcDateTime, nullable=False),
    Column("file_path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("metadata", JSON, nullable=True),
)

# A parameter sweep (issue 11): one row per sweep, one per point. A point's run is a normal
# stored run; deleting that run leaves the point without one (resuming runs it again).
sweeps = Table(
    "sweeps",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("strategy_type", String(64), nullable=False),
    Column("base_config", JSON, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("executor", String(16), nullable=False),
    Column("statistics", JSON, nullable=True),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("completed_at", UtcDateTime, nullable=True),
    Column("error_message", Text, nullable=True),  # why an INTERRUPTED sweep stopped
    # The process that last claimed it RUNNING (None before 0012): a dead one makes it stale,
    # as does a pid that names another process now (``holder_start``; None before 0015).
    Column("host", String(255), nullable=True),
    Column("host_pid", Integer, nullable=True),
    Column("holder_start", String(64), nullable=True),
)

sweep_points = Table(
    "sweep_points",
    metadata,
    Column("sweep_id", String(36), ForeignKey("sweeps.id", ondelete="CASCADE"), nullable=False),
    Column("point_index", Integer, nullable=False),
    Column("parameters", JSON, nullable=False),
    Column(
        "backtest_id",
        String(36),
        ForeignKey("backtest_results.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    # The screen's figures and whether the engine confirmed the point (services/screen.py).
    Column("screen", JSON, nullable=True),
    PrimaryKeyConstraint("sweep_id", "point_index"),
)

# A walk-forward analysis (issue 11): its windows (dates, the training sweep's id, the
# chosen parameters, the test run's id, both objectives) in one JSON list. The sweeps and
# runs it names are normal stored ones.
walk_forwards = Table(
    "walk_forwards",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("strategy_type", String(64), nullable=False),
    Column("base_config", JSON, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("windows", JSON, nullable=False),
    Column("efficiency", Float, nullable=True),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    # PENDING (stored by the HTTP API), RUNNING, COMPLETED, FAILED or INTERRUPTED.
    Column("status", String(16), nullable=False, server_default="COMPLETED"),
    Column("error_message", Text, nullable=True),
    Column("spec", JSON, nullable=True),  # the training sweeps' space (None before 0009)
    # The training sweep of the window being run: resume continues it if it was cut short.
    Column("current_sweep_id", String(36), nullable=True),
    # The process that last claimed it RUNNING (None before 0012): a dead one makes it stale,
    # as does a pid that names another process now (``holder_start``; None before 0015).
    Column("host", String(255), nullable=True),
    Column("host_pid", Integer, nullable=True),
    Column("holder_start", String(64), nullable=True),
)

# An IB fetch job of the HTTP API: its request (`data fetch`'s options), its last progress
# and its result (`data fetch --json`'s document), stored so that a restart loses none.
ib_fetch_jobs = Table(
    "ib_fetch_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("status", String(16), nullable=False),  # a RunStatus
    Column("request", JSON, nullable=False),
    Column("progress", JSON, nullable=True),
    Column("result", JSON, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("started_at", UtcDateTime, nullable=True),
    Column("ended_at", UtcDateTime, nullable=True),
)
