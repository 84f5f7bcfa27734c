"""Repositories: the storage interface services use. One code path for every backend."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    delete,
    distinct,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ntrader.core.errors import NotFoundError, UserInputError
from ntrader.db import bar_blocks, bar_bulk
from ntrader.db.tables import (
    backtest_configurations,
    backtest_results,
    bar_revisions,
    bars,
    ib_fetch_jobs,
    instruments,
    performance_reports,
    portfolio_snapshots,
    store_secrets,
    strategies,
    sweep_points,
    sweeps,
    trades,
    walk_forwards,
)
from ntrader.models.backtest import (
    BacktestConfig,
    PortfolioSnapshot,
    ReportRecord,
    RunRecord,
    TradeRecord,
)
from ntrader.models.bars import BarArrays, BarCoverage
from ntrader.models.enums import AssetClass, RunStatus, StrategyStatus, Timeframe
from ntrader.models.ib_fetch import FetchJob, FetchProgressView, FetchRequestBody, FetchSummary
from ntrader.models.instrument import InstrumentSpec
from ntrader.models.metrics import Metrics
from ntrader.models.strategy import StrategyRecord
from ntrader.models.sweep import SweepPoint, SweepRecord, SweepSpec, SweepStatus
from ntrader.models.walk_forward import WalkForwardRecord, WindowResult
from ntrader.utils.timeutil import NS_PER_DAY


def utc_now() -> datetime:
    return datetime.now(UTC)


# The process that claims a record RUNNING: host, pid, and which process that pid is
# (``liveness.process_start``; None where it cannot be read).
type Holder = tuple[str, int, str | None]


@dataclass(frozen=True, slots=True)
class StoredInstrument:
    pk: int
    spec: InstrumentSpec


@dataclass(frozen=True, slots=True)
class DeletedRows:
    """How many rows deleting some runs removed, per kind."""

    runs: int
    trades: int
    snapshots: int
    reports: int
    configurations: int


class InstrumentRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def get(self, instrument_id: str) -> StoredInstrument | None:
        row = self._connection.execute(
            select(instruments).where(instruments.c.instrument_id == instrument_id.upper())
        ).one_or_none()
        return None if row is None else _instrument_from_row(row._mapping)

    def by_symbol(self, symbol: str) -> list[StoredInstrument]:
        rows = self._connection.execute(
            select(instruments).where(instruments.c.symbol == symbol.upper())
        ).all()
        return [_instrument_from_row(row._mapping) for row in rows]

    def all(self) -> list[StoredInstrument]:
        rows = self._connection.execute(select(instruments).order_by(instruments.c.instrument_id))
        return [_instrument_from_row(row._mapping) for row in rows]

    def add(self, spec: InstrumentSpec) -> StoredInstrument:
        """Store ``spec`` unless its instrument id is already stored; returns the stored one.

        An upsert, so two imports creating the same new instrument at once both succeed
        (the later one gets the row the earlier one stored).
        """
        dialect = postgresql if self._connection.dialect.name == "postgresql" else sqlite
        self._connection.execute(
            dialect.insert(instruments)
            .values(
                **spec.model_dump(mode="json"),
                instrument_id=spec.instrument_id,
                tick_size=spec.tick_size,
                created_at=utc_now(),
            )
            .on_conflict_do_nothing(index_elements=[instruments.c.instrument_id])
        )
        stored = self.get(spec.instrument_id)
        if stored is None:
            raise RuntimeError(f"instrument {spec.instrument_id} vanished after its upsert")
        return stored

    def raise_precision(self, stored: StoredInstrument, precision: int) -> StoredInstrument:
        """Precision belongs to the instrument: finer data widens it, never narrows it."""
        if precision <= stored.spec.price_precision:
            return stored
        spec = stored.spec.model_copy(update={"price_precision": precision})
        self._connection.execute(
            update(instruments)
            .where(instruments.c.id == stored.pk)
            .values(price_precision=precision, tick_size=spec.tick_size)
        )
        return StoredInstrument(pk=stored.pk, spec=spec)


def _instrument_from_row(row: Any) -> StoredInstrument:
    spec = InstrumentSpec(
        symbol=row["symbol"],
        venue=row["venue"],
        asset_class=AssetClass(row["asset_class"]),
        currency=row["currency"],
        price_precision=row["price_precision"],
        lot_size=row["lot_size"],
        trading_hours=row["trading_hours"],
        margin_requirement=row["margin_requirement"],
    )
    return StoredInstrument(pk=int(row["id"]), spec=spec)


@dataclass(frozen=True, slots=True)
class BarRevision:
    """One import that changed a series: its data version after the import."""

    import_id: str
    instrument_id: str
    timeframe: Timeframe
    revision: int
    rows_added: int
    rows_replaced: int
    created_at: datetime


class BarRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def lock(self, instrument: StoredInstrument, timeframe: Timeframe) -> None:
        """Hold the series until the transaction ends: compare-then-write stays exact."""
        bar_bulk.lock_series(self._connection, instrument.pk, timeframe.value)

    def compare(
        self, instrument: StoredInstrument, timeframe: Timeframe, data: BarArrays
    ) -> bar_bulk.BarDiff:
        """``data`` against the bars stored at the same times, at the instrument's precision.

        Take ``lock`` first, so nothing changes between this and the write.
        """
        start, end = (int(data.ts[0]), int(data.ts[-1]) + 1) if len(data) else (0, 0)
        columns = self._read(instrument, timeframe, start, end)
        precision = max(instrument.spec.price_precision, data.price_precision)
        stored = BarArrays(**columns, price_precision=precision)
        return bar_bulk.compare_bars(stored, data, precision)

    def insert(self, instrument: StoredInstrument, timeframe: Timeframe, data: BarArrays) -> int:
        """Store bars of which none is stored yet (see ``compare``). Returns rows added."""
        added = bar_bulk.insert_bars(self._connection, instrument.pk, timeframe.value, data)
        bar_blocks.write(self._connection, instrument.pk, timeframe.value, data)
        return added

    def replace(self, instrument: StoredInstrument, timeframe: Timeframe, data: BarArrays) -> int:
        """Overwrite stored bars with ``data`` at the same times. Returns rows replaced."""
        replaced = bar_bulk.update_bars(self._connection, instrument.pk, timeframe.value, data)
        bar_blocks.write(self._connection, instrument.pk, timeframe.value, data)
        return replaced

    def add(self, instrument: StoredInstrument, timeframe: Timeframe, data: BarArrays) -> int:
        """Store the bars not stored yet, keeping stored ones as they are, as one revision of
        the series (so cached loads of the range are not served). Returns rows added."""
        self.lock(instrument, timeframe)
        diff = self.compare(instrument, timeframe, data)
        new = bar_bulk.select_bars(data, diff.new)
        added = self.insert(instrument, timeframe, new)
        if added:
            self.record_revision(
                instrument,
                timeframe,
                import_id=str(uuid.uuid4()),
                rows_added=added,
                rows_replaced=0,
                first_ts=int(new.ts[0]),
                last_ts=int(new.ts[-1]),
                source=None,
            )
        return added

    def record_revision(
        self,
        instrument: StoredInstrument,
        timeframe: Timeframe,
        *,
        import_id: str,
        rows_added: int,
        rows_replaced: int,
        first_ts: int,
        last_ts: int,
        source: str | None,
    ) -> BarRevision:
        """Bump the series' data version for an import that changed it (hold ``lock``)."""
        created_at = utc_now()
        revision = self.revision(instrument, timeframe) + 1
        self._connection.execute(
            insert(bar_revisions).values(
                import_id=import_id,
                instrument_id=instrument.pk,
                timeframe=timeframe.value,
                revision=revision,
                created_at=created_at,
                rows_added=rows_added,
                rows_replaced=rows_replaced,
                first_ts=first_ts,
                last_ts=last_ts,
                source=source,
            )
        )
        return BarRevision(
            import_id=import_id,
            instrument_id=instrument.spec.instrument_id,
            timeframe=timeframe,
            revision=revision,
            rows_added=rows_added,
            rows_replaced=rows_replaced,
            created_at=created_at,
        )

    def revision(self, instrument: StoredInstrument, timeframe: Timeframe) -> int:
        """The series' data version: 0 until an import (since versions exist) changed it."""
        return int(
            self._connection.execute(
                select(func.coalesce(func.max(bar_revisions.c.revision), 0)).where(
                    bar_revisions.c.instrument_id == instrument.pk,
                    bar_revisions.c.timeframe == timeframe.value,
                )
            ).scalar_one()
        )

    def range_version(
        self, instrument: StoredInstrument, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> str | None:
        """The id of the last import that changed bars with ``start_ns <= ts < end_ns``.

        Every import that changes a series records the times it touched, so this id changes
        exactly when the bars in the range do, and no other database ever holds it (an
        import id is a fresh UUID). None when no recorded import touched the range: no
        bars there, or only bars stored before revisions were recorded.
        """
        return self._connection.execute(
            select(bar_revisions.c.import_id)
            .where(
                bar_revisions.c.instrument_id == instrument.pk,
                bar_revisions.c.timeframe == timeframe.value,
                bar_revisions.c.first_ts < end_ns,
                bar_revisions.c.last_ts >= start_ns,
            )
            .order_by(bar_revisions.c.revision.desc())
            .limit(1)
        ).scalar_one_or_none()

    def revision_of_import(self, import_id: str) -> BarRevision | None:
        """The revision an import stored, or None if it stored none (committed nothing)."""
        row = self._connection.execute(
            select(bar_revisions, instruments.c.instrument_id.label("instrument_name"))
            .join(instruments, instruments.c.id == bar_revisions.c.instrument_id)
            .where(bar_revisions.c.import_id == import_id)
        ).one_or_none()
        if row is None:
            return None
        values = row._mapping
        return BarRevision(
            import_id=import_id,
            instrument_id=values["instrument_name"],
            timeframe=Timeframe(values["timeframe"]),
            revision=int(values["revision"]),
            rows_added=int(values["rows_added"]),
            rows_replaced=int(values["rows_replaced"]),
            created_at=values["created_at"],
        )

    def load(
        self, instrument: StoredInstrument, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> BarArrays:
        """The bars with ``start_ns <= ts < end_ns``, including those this transaction wrote
        and has not committed yet."""
        columns = self._read(instrument, timeframe, start_ns, end_ns)
        return BarArrays(**columns, price_precision=instrument.spec.price_precision)

    def cache_secret(self) -> bytes:
        """The secret that signs this store's bars in a cache (made by migration 0014; made
        again if its row was deleted, by an upsert: two processes get the same one)."""
        dialect = postgresql if self._connection.dialect.name == "postgresql" else sqlite
        query = select(store_secrets.c.value).where(store_secrets.c.name == "bar_cache")
        found = self._connection.execute(query).scalar_one_or_none()
        if found is None:
            self._connection.execute(
                dialect.insert(store_secrets)
                .values(name="bar_cache", value=secrets.token_bytes(32))
                .on_conflict_do_nothing(index_elements=[store_secrets.c.name])
            )
            found = self._connection.execute(query).scalar_one()
        return bytes(found)

    def rows(
        self, instrument: StoredInstrument, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> BarArrays:
        """The rows of the ``bars`` table with ``start_ns <= ts < end_ns`` in time order:
        what `data verify` checks (SQL users may edit them; loads read the blocks)."""
        columns = bar_bulk.read_in_transaction(
            self._connection, instrument.pk, timeframe.value, start_ns, end_ns
        )
        return BarArrays(**columns, price_precision=instrument.spec.price_precision)

    def rebuild_blocks(self) -> bar_blocks.Rebuilt:
        """Write every series' column blocks anew from its rows (repairs damaged blocks);
        a series with unsound rows keeps its blocks and is named in what this returns."""
        return bar_blocks.rebuild_all(self._connection)

    def _read(
        self, instrument: StoredInstrument, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> dict[str, np.ndarray]:
        try:
            return bar_blocks.read(
                self._connection, instrument.pk, timeframe.value, start_ns, end_ns
            )
        except bar_blocks.DamagedBlocksError as exc:
            series = f"{instrument.spec.instrument_id} {timeframe.value}"
            raise bar_blocks.DamagedBlocksError(series, exc.problem) from None

    def coverage(
        self, instrument_id: str | None = None, timeframe: Timeframe | None = None
    ) -> list[BarCoverage]:
        query = (
            select(
                instruments.c.instrument_id,
                bars.c.timeframe,
                func.count(),
                func.min(bars.c.ts),
                func.max(bars.c.ts),
            )
            .join(instruments, instruments.c.id == bars.c.instrument_id)
            .group_by(instruments.c.instrument_id, bars.c.timeframe)
            .order_by(instruments.c.instrument_id, bars.c.timeframe)
        )
        if instrument_id:
            query = query.where(instruments.c.instrument_id == instrument_id.upper())
        if timeframe:
            query = query.where(bars.c.timeframe == timeframe.value)
        return [
            BarCoverage(iid, Timeframe(tf), int(rows), int(first), int(last))
            for iid, tf, rows, first, last in self._connection.execute(query)
        ]

    def trading_days(
        self, instrument: StoredInstrument, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> int:
        """The UTC days with a bar in ``start_ns <= ts < end_ns``, counted by the database
        (as ``trading_days`` counts loaded bars), so a check reads no bars."""
        day = bars.c.ts // NS_PER_DAY
        in_range = _series_range(instrument, timeframe, start_ns, end_ns)
        query = select(func.count(distinct(day))).where(in_range)
        return int(self._connection.execute(query).scalar_one())

    def count(
        self, instrument: StoredInstrument, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> int:
        in_range = _series_range(instrument, timeframe, start_ns, end_ns)
        return int(self._connection.execute(select(func.count()).where(in_range)).scalar_one())


def _series_range(
    instrument: StoredInstrument, timeframe: Timeframe, start_ns: int, end_ns: int
) -> ColumnElement[bool]:
    """One series' bars with ``start_ns <= ts < end_ns``."""
    return and_(
        bars.c.instrument_id == instrument.pk,
        bars.c.timeframe == timeframe.value,
        bars.c.ts >= start_ns,
        bars.c.ts < end_ns,
    )


class BacktestRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def create(self, config: BacktestConfig, strategy_id: str | None = None) -> str:
        """Store the configuration and a PENDING run for it; returns the run id."""
        configuration_id = str(uuid.uuid4())
        self._connection.execute(
            insert(backtest_configurations).values(
                id=configuration_id,
                strategy_id=strategy_id,
                strategy_type=config.strategy_type,
                config=config.model_dump(mode="json"),
                created_at=utc_now(),
            )
        )
        return self.create_for(configuration_id)

    def create_for(self, configuration_id: str) -> str:
        """A new PENDING run of a stored configuration; returns the run id."""
        run_id = str(uuid.uuid4())
        self._connection.execute(
            insert(backtest_results).values(
                id=run_id,
                configuration_id=configuration_id,
                status=RunStatus.PENDING.value,
                created_at=utc_now(),
            )
        )
        return run_id

    def configuration_id_of(self, run_id: str) -> str:
        return str(
            self._connection.execute(
                select(backtest_results.c.configuration_id).where(backtest_results.c.id == run_id)
            ).scalar_one()
        )

    def mark_running(
        self,
        run_id: str,
        holder: Holder,
        versions: tuple[str, str],
        started_at: datetime | None = None,
    ) -> None:
        """Mark a run RUNNING in process ``holder`` (host, pid, start: see
        ``liveness.this_process``). ``started_at``: when the run began elsewhere (a sweep's
        worker), else now."""
        self._set(run_id, **_running(holder, versions, started_at))

    def claim(self, run: RunRecord, holder: Holder, versions: tuple[str, str]) -> bool:
        """Mark a stored run RUNNING in process ``holder`` only if it is still as ``run`` was
        read (status and process): of two resumes or starts of one run, the later one finds
        it changed and gets False, instead of running it a second time into the same record."""
        return _if_unchanged(
            self._connection, backtest_results, run, **_running(holder, versions, None)
        )

    def mark_finished(
        self, run_id: str, status: RunStatus, error_message: str | None = None
    ) -> None:
        self._set(run_id, status=status.value, error_message=error_message, completed_at=utc_now())

    def interrupt_held(self, holder: Holder, reason: str) -> None:
        """Mark INTERRUPTED the runs left RUNNING by ``holder`` (see ``_interrupt_held``)."""
        _interrupt_held(self._connection, backtest_results, holder, reason, completed_at=utc_now())

    def take_over(self, run: RunRecord, reason: str) -> bool:
        """Mark ``run`` INTERRUPTED with ``reason`` if it is still RUNNING in the process it
        was read with; False if anyone changed it since (see ``_take_over``)."""
        return _take_over(self._connection, backtest_results, run, reason, completed_at=utc_now())

    def complete(
        self,
        run_id: str,
        *,
        metrics: Metrics,
        trade_records: Sequence[TradeRecord],
        snapshots: Sequence[PortfolioSnapshot],
        data_fingerprint: str,
    ) -> None:
        closed = [t for t in trade_records if not t.is_open and t.pnl is not None]
        self._insert_trades(run_id, trade_records)
        self._insert_snapshots(run_id, snapshots)
        self._set(
            run_id,
            status=RunStatus.COMPLETED.value,
            completed_at=utc_now(),
            metrics=metrics.stored(),
            trades_count=len(closed),
            winning_trades=sum(1 for t in closed if (t.pnl or 0) > 0),
            losing_trades=sum(1 for t in closed if (t.pnl or 0) <= 0),
            data_fingerprint=data_fingerprint,
        )

    def get(self, run_ref: str) -> RunRecord:
        """A run by full id, unique id prefix, or ``latest``."""
        query = _run_select()
        ref = run_ref.strip().lower()
        if not ref:  # an empty prefix would match every run
            raise UserInputError(
                "An empty backtest id matches nothing.",
                hint="Give an id, a unique prefix of one, or `latest`.",
            )
        if ref == "latest":
            rows = self._connection.execute(
                query.order_by(backtest_results.c.created_at.desc()).limit(1)
            ).all()
        else:
            rows = self._connection.execute(
                query.where(backtest_results.c.id.startswith(ref, autoescape=True)).limit(2)
            ).all()
        if not rows:
            # The hint names a command, so the service adds it (services/run_lookup.py).
            raise NotFoundError(f"No backtest matches {run_ref!r}.")
        if len(rows) > 1:
            raise UserInputError(
                f"The id prefix {run_ref!r} matches more than one backtest.",
                hint="Give more characters of the id.",
            )
        return _run_from_row(rows[0]._mapping)

    def list(
        self,
        *,
        status: RunStatus | None = None,
        strategy_type: str | None = None,
        strategy_name: str | None = None,
        last: int = 20,
        before: tuple[datetime, str] | None = None,
    ) -> list[RunRecord]:
        """Newest first, filtered by status, strategy type or stored strategy name; with
        ``before`` (a run's creation time and id) only the runs listed after that one, so a
        page never repeats or skips a run while new ones arrive."""
        query = (
            _run_select()
            .order_by(backtest_results.c.created_at.desc(), backtest_results.c.id.desc())
            .limit(last)
        )
        if before is not None:
            created, run_id = before
            query = query.where(
                or_(
                    backtest_results.c.created_at < created,
                    and_(backtest_results.c.created_at == created, backtest_results.c.id < run_id),
                )
            )
        if status:
            query = query.where(backtest_results.c.status == status.value)
        if strategy_type:
            query = query.where(backtest_configurations.c.strategy_type == strategy_type)
        if strategy_name:
            query = query.join(
                strategies, strategies.c.id == backtest_configurations.c.strategy_id
            ).where(func.lower(strategies.c.name) == strategy_name.strip().lower())
        return [_run_from_row(row._mapping) for row in self._connection.execute(query)]

    def trades(self, run_id: str) -> list[TradeRecord]:
        """Every trade of a run in entry order (the trade id orders equal entry times)."""
        return [record for _id, record in self.trades_after(run_id, None, limit=None)]

    def trades_after(
        self, run_id: str, after: tuple[datetime, str] | None, *, limit: int | None
    ) -> list[tuple[str, TradeRecord]]:
        """(id, trade) in entry order, from the one after ``after`` (a trade's entry time
        and id): a page is read by the database, never cut from the whole list."""
        query = (
            select(trades)
            .where(trades.c.backtest_id == run_id)
            .order_by(trades.c.entry_time, trades.c.id)
            .limit(limit)
        )
        if after is not None:
            # A row-value comparison: both backends seek the (run, entry time, id) index to
            # it, where the equivalent OR reads every trade of the run.
            entered, trade_id = after
            key = tuple_(
                literal(entered, trades.c.entry_time.type), literal(trade_id, trades.c.id.type)
            )
            query = query.where(tuple_(trades.c.entry_time, trades.c.id) > key)
        fields = TradeRecord.model_fields
        return [
            (row.id, TradeRecord(**{k: v for k, v in row._mapping.items() if k in fields}))
            for row in self._connection.execute(query)
        ]

    def trade_count(self, run_id: str) -> int:
        return int(
            self._connection.execute(
                select(func.count()).where(trades.c.backtest_id == run_id)
            ).scalar_one()
        )

    def snapshots(self, run_id: str) -> list[PortfolioSnapshot]:
        rows = self._connection.execute(
            select(portfolio_snapshots)
            .where(portfolio_snapshots.c.backtest_id == run_id)
            .order_by(portfolio_snapshots.c.ts)
        )
        fields = PortfolioSnapshot.model_fields
        return [
            PortfolioSnapshot(**{k: v for k, v in row._mapping.items() if k in fields})
            for row in rows
        ]

    def add_report(self, run_id: str, report: ReportRecord) -> None:
        self._connection.execute(
            insert(performance_reports).values(
                backtest_id=run_id, **report.model_dump(by_alias=False)
            )
        )

    def reports(self, run_id: str) -> list[ReportRecord]:
        rows = self._connection.execute(
            select(performance_reports)
            .where(performance_reports.c.backtest_id == run_id)
            .order_by(performance_reports.c.generated_at)
        )
        fields = ReportRecord.model_fields
        return [
            ReportRecord(**{k: v for k, v in row._mapping.items() if k in fields}) for row in rows
        ]

    def select(
        self, statuses: Sequence[RunStatus], created_before: datetime | None = None
    ) -> list[RunRecord]:
        """Every run in one of ``statuses`` (created before ``created_before``), newest first."""
        query = (
            _run_select()
            .where(backtest_results.c.status.in_([status.value for status in statuses]))
            .order_by(backtest_results.c.created_at.desc())
        )
        if created_before is not None:
            query = query.where(backtest_results.c.created_at < created_before)
        return [_run_from_row(row._mapping) for row in self._connection.execute(query)]

    def row_counts(self, run_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Each run's number of trades and of portfolio snapshots."""
        counts = {run_id: [0, 0] for run_id in run_ids}
        for position, table in enumerate((trades, portfolio_snapshots)):
            for chunk in _chunks(run_ids):
                query = (
                    select(table.c.backtest_id, func.count())
                    .where(table.c.backtest_id.in_(chunk))
                    .group_by(table.c.backtest_id)
                )
                for run_id, count in self._connection.execute(query):
                    counts[run_id][position] = int(count)
        return {run_id: (pair[0], pair[1]) for run_id, pair in counts.items()}

    def delete(self, runs: Sequence[RunRecord]) -> DeletedRows:
        """Delete runs with their trades, snapshots and report records, and every
        configuration no remaining run uses. Refused (nothing deleted) when a run changed
        since it was read: another process may have started, resumed or deleted it."""
        run_ids = [run.id for run in runs]
        current: dict[str, tuple[str, int | None]] = {}
        for chunk in _chunks(run_ids):
            rows = self._connection.execute(
                select(
                    backtest_results.c.id, backtest_results.c.status, backtest_results.c.host_pid
                )
                .where(backtest_results.c.id.in_(chunk))
                .with_for_update()
            )
            current.update({row.id: (row.status, row.host_pid) for row in rows})
        for run in runs:
            if current.get(run.id) != (run.status.value, run.host_pid):
                raise UserInputError(
                    f"Backtest {run.id} changed or was deleted while this command ran; "
                    "nothing was deleted.",
                    hint="Run the command again to see the runs as they are now.",
                )
        # Children first: the foreign keys' ON DELETE CASCADE is not relied upon, and the
        # counts show the user exactly what went.
        removed: dict[str, int] = {}
        for table in (trades, portfolio_snapshots, performance_reports, backtest_results):
            column = table.c.id if table is backtest_results else table.c.backtest_id
            removed[table.name] = sum(
                self._connection.execute(delete(table).where(column.in_(chunk))).rowcount
                for chunk in _chunks(run_ids)
            )
        configuration_ids = sorted({run.configuration_id for run in runs})
        still_used = self._present(backtest_results.c.configuration_id, configuration_ids)
        unused = [cid for cid in configuration_ids if cid not in still_used]
        configurations = 0
        for chunk in _chunks(unused):
            configurations += self._connection.execute(
                delete(backtest_configurations).where(backtest_configurations.c.id.in_(chunk))
            ).rowcount
        return DeletedRows(
            runs=removed[backtest_results.name],
            trades=removed[trades.name],
            snapshots=removed[portfolio_snapshots.name],
            reports=removed[performance_reports.name],
            configurations=configurations,
        )

    def report_paths_in_use(self, paths: Sequence[str]) -> set[str]:
        """Which of ``paths`` some stored report record still points to."""
        return self._present(performance_reports.c.file_path, paths)

    def _present(self, column: Any, values: Sequence[str]) -> set[str]:
        """Which of ``values`` appear in ``column`` (queried in chunks of bound parameters)."""
        found: set[str] = set()
        for chunk in _chunks(values):
            found.update(
                self._connection.execute(
                    select(column).where(column.in_(chunk)).distinct()
                ).scalars()
            )
        return found

    def _set(self, run_id: str, **values: Any) -> None:
        """Update a run that is not yet COMPLETED: completed runs are immutable."""
        result = self._connection.execute(
            update(backtest_results)
            .where(
                backtest_results.c.id == run_id,
                backtest_results.c.status != RunStatus.COMPLETED.value,
            )
            .values(**values)
        )
        if result.rowcount != 1:
            raise UserInputError(
                f"Backtest {run_id} is completed and cannot be changed.",
                # A backstop: BacktestService refuses first, with the command to use.
                hint="Run it again as a new backtest.",
            )

    def _insert_trades(self, run_id: str, records: Iterable[TradeRecord]) -> None:
        rows = [
            {"id": str(uuid.uuid4()), "backtest_id": run_id, **record.model_dump()}
            for record in records
        ]
        if rows:
            self._connection.execute(insert(trades), rows)

    def _insert_snapshots(self, run_id: str, snapshots: Iterable[PortfolioSnapshot]) -> None:
        rows = [{"backtest_id": run_id, **snapshot.model_dump()} for snapshot in snapshots]
        if rows:
            self._connection.execute(insert(portfolio_snapshots), rows)


class SweepRepository:
    """Sweeps and their points; each point's run is a normal stored run."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def create(
        self,
        base_config: BacktestConfig,
        spec: SweepSpec,
        executor: str,
        points: Sequence[dict[str, Any]],
    ) -> str:
        sweep_id = str(uuid.uuid4())
        self._connection.execute(
            insert(sweeps).values(
                id=sweep_id,
                status=SweepStatus.PENDING.value,
                strategy_type=base_config.strategy_type,
                base_config=base_config.model_dump(mode="json"),
                spec=spec.model_dump(mode="json"),
                executor=executor,
                created_at=utc_now(),
            )
        )
        rows = [
            {"sweep_id": sweep_id, "point_index": index, "parameters": parameters}
            for index, parameters in enumerate(points)
        ]
        self._connection.execute(insert(sweep_points), rows)
        return sweep_id

    def get(self, sweep_ref: str) -> SweepRecord:
        """A sweep by full id, unique id prefix, or ``latest``, with its points in order."""
        return self._record(_by_reference(self._connection, sweeps, sweep_ref, "sweep"))

    def list(self, last: int = 20, before: tuple[datetime, str] | None = None) -> list[SweepRecord]:
        """Newest first, without their points; with ``before`` (a sweep's creation time
        and id) only those listed after that one (keyset pages, as runs are paged)."""
        query = select(sweeps).order_by(sweeps.c.created_at.desc(), sweeps.c.id.desc()).limit(last)
        if before is not None:
            created, sweep_id = before
            query = query.where(
                or_(
                    sweeps.c.created_at < created,
                    and_(sweeps.c.created_at == created, sweeps.c.id < sweep_id),
                )
            )
        rows = self._connection.execute(query)
        return [self._record(row._mapping, with_points=False) for row in rows]

    def interrupt_pending(self, created_before: datetime) -> list[str]:
        """Mark INTERRUPTED the PENDING sweeps created before ``created_before`` (a job
        runner that stopped left them queued); returns their ids."""
        pending = and_(
            sweeps.c.status == SweepStatus.PENDING.value, sweeps.c.created_at < created_before
        )
        ids = list(self._connection.execute(select(sweeps.c.id).where(pending)).scalars())
        if ids:
            self._connection.execute(
                update(sweeps)
                .where(sweeps.c.id.in_(ids))
                .values(
                    status=SweepStatus.INTERRUPTED.value,
                    completed_at=utc_now(),
                    error_message="the server stopped before it started this sweep",
                )
            )
        return ids

    def running(self) -> list[SweepRecord]:
        """The RUNNING sweeps, without their points."""
        query = select(sweeps).where(sweeps.c.status == SweepStatus.RUNNING.value)
        return [
            self._record(row._mapping, with_points=False) for row in self._connection.execute(query)
        ]

    def claim(self, sweep_id: str, allowed: Sequence[SweepStatus], holder: Holder) -> bool:
        """Store a sweep RUNNING in process ``holder`` (host, pid, start) only if it is in one of
        the ``allowed`` statuses, in one statement: of two processes starting or resuming
        it, one wins. A resumed sweep is no longer the one that stopped: its reason and
        statistics go. True if it moved."""
        host, pid, start = holder
        moved = self._connection.execute(
            update(sweeps)
            .where(sweeps.c.id == sweep_id, sweeps.c.status.in_([s.value for s in allowed]))
            .values(
                status=SweepStatus.RUNNING.value,
                statistics=None,
                completed_at=None,
                error_message=None,
                host=host,
                host_pid=pid,
                holder_start=start,
            )
        )
        return moved.rowcount == 1

    def interrupt_held(self, holder: Holder, reason: str) -> None:
        """Mark INTERRUPTED the sweeps left RUNNING by ``holder`` (see ``_interrupt_held``)."""
        _interrupt_held(self._connection, sweeps, holder, reason, completed_at=utc_now())

    def take_over(self, sweep: SweepRecord, reason: str) -> bool:
        """Mark ``sweep`` INTERRUPTED with ``reason`` if it is still RUNNING in the process
        it was read with; False if anyone changed it since (see ``_take_over``)."""
        return _take_over(self._connection, sweeps, sweep, reason, completed_at=utc_now())

    def _record(self, row: Any, *, with_points: bool = True) -> SweepRecord:
        points: tuple[SweepPoint, ...] = ()
        if with_points:
            found = self._connection.execute(
                select(sweep_points)
                .where(sweep_points.c.sweep_id == row["id"])
                .order_by(sweep_points.c.point_index)
            )
            points = tuple(
                SweepPoint(
                    index=p.point_index,
                    parameters=p.parameters,
                    run_id=p.backtest_id,
                    screen=p.screen,
                )
                for p in found
            )
        return SweepRecord(
            id=row["id"],
            created_at=row["created_at"],
            completed_at=row["completed_at"],
            status=SweepStatus(row["status"]),
            base_config=BacktestConfig.model_validate(row["base_config"]),
            spec=SweepSpec.model_validate(row["spec"]),
            executor=row["executor"],
            statistics=row["statistics"],
            error_message=row["error_message"],
            points=points,
            host=row["host"],
            host_pid=row["host_pid"],
            holder_start=row["holder_start"],
        )

    def set_screen(self, sweep_id: str, screens: Sequence[dict[str, Any]]) -> None:
        """Store the screen's answer for every point, in point order."""
        for index, screen in enumerate(screens):
            self._connection.execute(
                update(sweep_points)
                .where(sweep_points.c.sweep_id == sweep_id, sweep_points.c.point_index == index)
                .values(screen=screen)
            )

    def link_run(self, sweep_id: str, index: int, run_id: str) -> None:
        self._connection.execute(
            update(sweep_points)
            .where(sweep_points.c.sweep_id == sweep_id, sweep_points.c.point_index == index)
            .values(backtest_id=run_id)
        )

    def runs(self, sweep_id: str) -> dict[int, RunRecord]:
        """The stored run of each point that has one, by point index."""
        query = (
            _run_select()
            .add_columns(sweep_points.c.point_index)
            .join(sweep_points, sweep_points.c.backtest_id == backtest_results.c.id)
            .where(sweep_points.c.sweep_id == sweep_id)
        )
        return {
            int(row._mapping["point_index"]): _run_from_row(row._mapping)
            for row in self._connection.execute(query)
        }

    def equity_points(self, sweep_id: str) -> dict[int, tuple[pd.DatetimeIndex, np.ndarray]]:
        """Each point's stored equity (snapshot times, total values), in one query and
        without building a model per snapshot: a sweep has tens of thousands of them."""
        query = (
            select(
                sweep_points.c.point_index,
                portfolio_snapshots.c.ts,
                portfolio_snapshots.c.total_value,
            )
            .join(
                portfolio_snapshots, portfolio_snapshots.c.backtest_id == sweep_points.c.backtest_id
            )
            .where(sweep_points.c.sweep_id == sweep_id)
            .order_by(sweep_points.c.point_index, portfolio_snapshots.c.ts)
        )
        frame = pd.DataFrame(
            self._connection.execute(query).all(), columns=["index", "ts", "value"]
        )
        return {
            int(index): (pd.DatetimeIndex(group["ts"]), group["value"].to_numpy(dtype=float))
            for index, group in frame.groupby("index", sort=True)
        }

    def set_status(
        self,
        sweep_id: str,
        status: SweepStatus,
        statistics: dict[str, Any] | None = None,
        *,
        error_message: str | None = None,
    ) -> None:
        """Its status; a sweep stopped unfinished says why, any other status clears the
        reason (a resumed sweep is no longer the one that stopped)."""
        finished = status in (SweepStatus.COMPLETED, SweepStatus.INTERRUPTED)
        self._connection.execute(
            update(sweeps)
            .where(sweeps.c.id == sweep_id)
            .values(
                status=status.value,
                statistics=statistics,
                completed_at=utc_now() if finished else None,
                error_message=error_message if status is SweepStatus.INTERRUPTED else None,
            )
        )


class WalkForwardRepository:
    """Walk-forward analyses: each links its windows' training sweeps and test runs."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def create(self, base_config: BacktestConfig, spec: SweepSpec, settings: dict[str, Any]) -> str:
        """Store an analysis PENDING, before any window runs."""
        walk_forward_id = str(uuid.uuid4())
        self._connection.execute(
            insert(walk_forwards).values(
                id=walk_forward_id,
                strategy_type=base_config.strategy_type,
                base_config=base_config.model_dump(mode="json"),
                spec=spec.model_dump(mode="json"),
                settings=settings,
                windows=[],
                efficiency=None,
                created_at=utc_now(),
                status=RunStatus.PENDING.value,
            )
        )
        return walk_forward_id

    def get(self, walk_forward_ref: str) -> WalkForwardRecord:
        """An analysis by full id, unique id prefix, or ``latest``."""
        return self._record(
            _by_reference(
                self._connection, walk_forwards, walk_forward_ref, "walk-forward analysis"
            )
        )

    def list(
        self, last: int = 20, before: tuple[datetime, str] | None = None
    ) -> list[WalkForwardRecord]:
        """Newest first; with ``before`` (an analysis's creation time and id) only those
        listed after that one (keyset pages, as sweeps are paged)."""
        query = (
            select(walk_forwards)
            .order_by(walk_forwards.c.created_at.desc(), walk_forwards.c.id.desc())
            .limit(last)
        )
        if before is not None:
            created, walk_forward_id = before
            query = query.where(
                or_(
                    walk_forwards.c.created_at < created,
                    and_(
                        walk_forwards.c.created_at == created,
                        walk_forwards.c.id < walk_forward_id,
                    ),
                )
            )
        return [self._record(row._mapping) for row in self._connection.execute(query)]

    @staticmethod
    def _record(row: Any) -> WalkForwardRecord:
        return WalkForwardRecord(
            id=row["id"],
            created_at=row["created_at"],
            status=RunStatus(row["status"]),
            error_message=row["error_message"],
            config=BacktestConfig.model_validate(row["base_config"]),
            spec=SweepSpec.model_validate(row["spec"]) if row["spec"] is not None else None,
            settings=row["settings"],
            windows=tuple(WindowResult.from_dict(w) for w in row["windows"]),
            efficiency=row["efficiency"],
            current_sweep_id=row["current_sweep_id"],
            host=row["host"],
            host_pid=row["host_pid"],
            holder_start=row["holder_start"],
        )

    def claim(
        self,
        walk_forward_id: str,
        allowed: Sequence[RunStatus],
        status: RunStatus,
        holder: Holder | None = None,
    ) -> bool:
        """Move an analysis to ``status`` only if it is in one of the ``allowed`` ones, in
        one statement: of two processes starting or resuming it, one wins. ``holder``
        (host, pid, start) is the process that runs it now (None: none yet, it is queued). True if
        it moved."""
        host, pid, start = holder or (None, None, None)
        moved = self._connection.execute(
            update(walk_forwards)
            .where(
                walk_forwards.c.id == walk_forward_id,
                walk_forwards.c.status.in_([s.value for s in allowed]),
            )
            .values(
                status=status.value,
                efficiency=None,
                error_message=None,
                host=host,
                host_pid=pid,
                holder_start=start,
            )
        )
        return moved.rowcount == 1

    def running(self) -> list[WalkForwardRecord]:
        """The RUNNING analyses."""
        query = select(walk_forwards).where(walk_forwards.c.status == RunStatus.RUNNING.value)
        return [self._record(row._mapping) for row in self._connection.execute(query)]

    def interrupt_held(self, holder: Holder, reason: str) -> None:
        """Mark INTERRUPTED the analyses left RUNNING by ``holder`` (see ``_interrupt_held``)."""
        _interrupt_held(self._connection, walk_forwards, holder, reason)

    def take_over(self, record: WalkForwardRecord, reason: str) -> bool:
        """Mark ``record`` INTERRUPTED with ``reason`` if it is still RUNNING in the process
        it was read with; False if anyone changed it since (see ``_take_over``)."""
        return _take_over(self._connection, walk_forwards, record, reason)

    def set_current_sweep(self, walk_forward_id: str, sweep_id: str) -> None:
        """Record the training sweep of the window the analysis is running."""
        self._connection.execute(
            update(walk_forwards)
            .where(walk_forwards.c.id == walk_forward_id)
            .values(current_sweep_id=sweep_id)
        )

    def windows(self, walk_forward_id: str) -> list[dict[str, Any]]:
        """The stored windows of one analysis, in order; a miss is a NotFoundError."""
        row = self._connection.execute(
            select(walk_forwards.c.windows).where(walk_forwards.c.id == walk_forward_id)
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"No walk-forward analysis {walk_forward_id!r}.")
        return list(row.windows)

    def update(
        self,
        walk_forward_id: str,
        status: RunStatus,
        *,
        windows: Sequence[dict[str, Any]] | None = None,
        efficiency: float | None = None,
        error_message: str | None = None,
    ) -> None:
        """Its status, with the windows done so far (when given) and, once complete, the
        efficiency; an analysis that did not complete says why."""
        values: dict[str, Any] = {
            "status": status.value,
            "efficiency": efficiency,
            "error_message": error_message,
        }
        if windows is not None:
            values["windows"] = list(windows)
        self._connection.execute(
            update(walk_forwards).where(walk_forwards.c.id == walk_forward_id).values(**values)
        )

    def interrupt_pending(self, created_before: datetime) -> list[str]:
        """Mark INTERRUPTED the PENDING analyses created before ``created_before`` (a job
        runner that stopped left them queued); returns their ids."""
        pending = and_(
            walk_forwards.c.status == RunStatus.PENDING.value,
            walk_forwards.c.created_at < created_before,
        )
        ids = list(self._connection.execute(select(walk_forwards.c.id).where(pending)).scalars())
        if ids:
            self._connection.execute(
                update(walk_forwards)
                .where(walk_forwards.c.id.in_(ids))
                .values(
                    status=RunStatus.INTERRUPTED.value,
                    error_message="the server stopped before it started this analysis",
                )
            )
        return ids


class FetchJobRepository:
    """The HTTP API's IB fetch jobs: the request, its last progress, and how it ended."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def create(self, request: FetchRequestBody) -> str:
        """Store a job PENDING, before its worker starts it."""
        job_id = str(uuid.uuid4())
        self._connection.execute(
            insert(ib_fetch_jobs).values(
                id=job_id,
                status=RunStatus.PENDING.value,
                request=request.model_dump(mode="json"),
                created_at=utc_now(),
            )
        )
        return job_id

    def get(self, job_ref: str) -> FetchJob:
        """A job by full id, unique id prefix, or ``latest``."""
        return _fetch_job(_by_reference(self._connection, ib_fetch_jobs, job_ref, "IB fetch job"))

    def list(self, last: int, before: tuple[datetime, str] | None = None) -> list[FetchJob]:
        """Newest first; with ``before`` (a job's creation time and id) only those listed
        after that one (keyset pages, as sweeps are paged)."""
        table = ib_fetch_jobs.c
        query = select(ib_fetch_jobs).order_by(table.created_at.desc(), table.id.desc()).limit(last)
        if before is not None:
            created, job_id = before
            query = query.where(
                or_(
                    table.created_at < created,
                    and_(table.created_at == created, table.id < job_id),
                )
            )
        return [_fetch_job(row._mapping) for row in self._connection.execute(query)]

    def requeue(self, job_id: str) -> None:
        """PENDING again, for a job to run the same request: what it stored stays stored."""
        self._set(
            job_id,
            status=RunStatus.PENDING,
            progress=None,
            result=None,
            error_message=None,
            started_at=None,
            ended_at=None,
        )

    def start(self, job_id: str) -> None:
        self._set(job_id, status=RunStatus.RUNNING, started_at=utc_now())

    def set_progress(self, job_id: str, progress: FetchProgressView) -> None:
        self._set(job_id, progress=progress.model_dump(mode="json"))

    def complete(self, job_id: str, result: FetchSummary) -> None:
        self._set(
            job_id,
            status=RunStatus.COMPLETED,
            result=result.model_dump(mode="json"),
            ended_at=utc_now(),
        )

    def end(self, job_id: str, status: RunStatus, reason: str) -> None:
        """FAILED or INTERRUPTED, with the reason."""
        self._set(job_id, status=status, error_message=reason, ended_at=utc_now())

    def unfinished(self, created_before: datetime) -> list[str]:
        """The PENDING or RUNNING jobs created before ``created_before``."""
        query = select(ib_fetch_jobs.c.id).where(
            ib_fetch_jobs.c.status.in_([RunStatus.PENDING.value, RunStatus.RUNNING.value]),
            ib_fetch_jobs.c.created_at < created_before,
        )
        return list(self._connection.execute(query).scalars())

    def _set(self, job_id: str, *, status: RunStatus | None = None, **values: Any) -> None:
        if status is not None:
            values["status"] = status.value
        found = self._connection.execute(
            update(ib_fetch_jobs).where(ib_fetch_jobs.c.id == job_id).values(**values)
        )
        if found.rowcount == 0:
            raise NotFoundError(f"No IB fetch job {job_id!r}.")


def _fetch_job(row: Any) -> FetchJob:
    return FetchJob(
        id=row["id"],
        status=RunStatus(row["status"]),
        request=FetchRequestBody.model_validate(row["request"]),
        progress=row["progress"],
        result=row["result"],
        error_message=row["error_message"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
    )


def _interrupt_held(
    connection: Connection,
    table: Any,
    holder: Holder,
    reason: str,
    **values: Any,
) -> None:
    """Mark INTERRUPTED the rows of ``table`` left RUNNING by ``holder``: its host and pid,
    and, when its start is given, only the rows that very process claimed (the pid may name
    another process since, whose own claims stay). Runs, sweeps and analyses spell both
    statuses alike."""
    host, pid, start = holder
    held = [table.c.host == host, table.c.host_pid == pid]
    if start is not None:
        held.append(table.c.holder_start == start)
    connection.execute(
        update(table)
        .where(table.c.status == RunStatus.RUNNING.value, *held)
        .values(status=RunStatus.INTERRUPTED.value, error_message=reason, **values)
    )


def _running(
    holder: Holder, versions: tuple[str, str], started_at: datetime | None
) -> dict[str, Any]:
    """The columns of a run claimed RUNNING by ``holder`` (host, pid, start)."""
    host, pid, holder_start = holder
    return {
        "status": RunStatus.RUNNING.value,
        "started_at": started_at or utc_now(),
        "completed_at": None,
        "error_message": None,
        "host": host,
        "host_pid": pid,
        "holder_start": holder_start,
        "ntrader_version": versions[0],
        "nautilus_version": versions[1],
    }


def _take_over(connection: Connection, table: Any, record: Any, reason: str, **values: Any) -> bool:
    """``record`` (a row of ``table``, read RUNNING) INTERRUPTED with ``reason`` while it is
    still RUNNING in the very process it was read with. Two ``--force`` resumes racing: the
    later one finds the row changed (INTERRUPTED, or claimed by the earlier) and is refused,
    so the earlier one's claim is never overwritten."""
    return _if_unchanged(
        connection,
        table,
        record,
        status=RunStatus.INTERRUPTED.value,
        error_message=reason,
        **values,
    )


def _if_unchanged(connection: Connection, table: Any, record: Any, **values: Any) -> bool:
    """Set ``values`` on ``record``'s row of ``table`` in one conditional update, only if
    its status and process are still as ``record`` was read; False if they changed."""
    updated = connection.execute(
        update(table)
        .where(
            table.c.id == record.id,
            table.c.status == record.status.value,
            table.c.host.is_not_distinct_from(record.host),
            table.c.host_pid.is_not_distinct_from(record.host_pid),
            table.c.holder_start.is_not_distinct_from(record.holder_start),
        )
        .values(**values)
    )
    return updated.rowcount == 1


def _by_reference(connection: Connection, table: Any, reference: str, noun: str) -> Any:
    """The row of ``table`` (with ``id`` and ``created_at``) a full id, a unique id prefix
    or ``latest`` names."""
    ref = reference.strip().lower()
    if not ref:
        raise UserInputError(
            f"An empty {noun} id matches nothing.",
            hint="Give an id, a unique prefix of one, or `latest`.",
        )
    query = select(table)
    if ref == "latest":
        query = query.order_by(table.c.created_at.desc()).limit(1)
    else:
        query = query.where(table.c.id.startswith(ref, autoescape=True)).limit(2)
    rows = connection.execute(query).all()
    if not rows:
        # The hint names a command, so the service adds it.
        raise NotFoundError(f"No {noun} matches {reference!r}.")
    if len(rows) > 1:
        raise UserInputError(
            f"The id prefix {reference!r} matches more than one {noun}.",
            hint="Give more characters of the id.",
        )
    return rows[0]._mapping


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    """Slices of ``values`` small enough for one IN list on every backend."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _run_select():  # type: ignore[no-untyped-def]
    return select(backtest_results, backtest_configurations.c.config).join(
        backtest_configurations,
        backtest_configurations.c.id == backtest_results.c.configuration_id,
    )


def _run_from_row(row: Any) -> RunRecord:
    fields = RunRecord.model_fields
    values = {k: v for k, v in row.items() if k in fields and k != "config"}
    # Runs stored before fill timing was a setting filled at the signal bar's close.
    config = {"fill_at": "close", **row["config"]}
    return RunRecord(**values, config=BacktestConfig.model_validate(config))


class StrategyRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(
        self,
        name: str,
        strategy_type: str,
        parameters: dict[str, Any],
        description: str | None = None,
    ) -> StrategyRecord:
        now = utc_now()
        record = StrategyRecord(
            id=str(uuid.uuid4()),
            name=name,
            strategy_type=strategy_type,
            parameters=parameters,
            status=StrategyStatus.DRAFT,
            description=description,
            created_at=now,
            updated_at=now,
        )
        self._connection.execute(insert(strategies).values(**record.model_dump()))
        return record

    def get(self, name: str) -> StrategyRecord | None:
        row = self._connection.execute(
            select(strategies).where(func.lower(strategies.c.name) == name.strip().lower())
        ).one_or_none()
        return None if row is None else StrategyRecord(**row._mapping)

    def list(
        self, *, strategy_type: str | None = None, status: StrategyStatus | None = None
    ) -> list[StrategyRecord]:
        query = select(strategies).order_by(strategies.c.name)
        if strategy_type:
            query = query.where(strategies.c.strategy_type == strategy_type)
        if status:
            query = query.where(strategies.c.status == status.value)
        return [StrategyRecord(**row._mapping) for row in self._connection.execute(query)]

    def update(self, record: StrategyRecord, **changes: Any) -> StrategyRecord:
        updated = record.model_copy(update={**changes, "updated_at": utc_now()})
        values = updated.model_dump(include={*changes, "updated_at"})
        self._connection.execute(
            update(strategies).where(strategies.c.id == record.id).values(**values)
        )
        return updated
