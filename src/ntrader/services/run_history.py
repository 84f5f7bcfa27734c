"""The run history: read, delete and prune runs. Kept free of the engine so
`backtest list/show/delete` start fast."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ntrader.core import strategy_registry
from ntrader.core.errors import ConflictError, UserInputError
from ntrader.db.database import Database
from ntrader.models.backtest import PortfolioSnapshot, ReportRecord, RunRecord, TradeRecord
from ntrader.models.enums import RunStatus
from ntrader.services.cursors import encode_cursor, newest_first_page, page_start
from ntrader.services.liveness import is_stale
from ntrader.services.run_lookup import find_run

MAX_AGE = timedelta(days=36_500)
_AGE = re.compile(r"\s*([0-9]+)\s*([hdw])\s*", re.IGNORECASE)
_AGE_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """``12h``, ``7d`` or ``2w`` as a duration (a whole number of hours, days or weeks)."""
    match = _AGE.fullmatch(text)
    if match is None:
        raise UserInputError(
            f"{text!r} is not an age; use a whole number and h, d or w, e.g. 12h, 7d or 2w."
        )
    amount = int(match.group(1))
    unit = _AGE_UNITS[match.group(2).lower()]
    if amount == 0 or amount > MAX_AGE / timedelta(**{unit: 1}):
        raise UserInputError(f"{text!r} is out of range; give an age from 1h to 100 years.")
    return timedelta(**{unit: amount})


class RunHistory:
    def __init__(self, database: Database) -> None:
        self._database = database

    def get(self, run_ref: str) -> RunRecord:
        """A run by full id, unique prefix, or ``latest``."""
        with self._database.transaction() as repos:
            return find_run(repos, run_ref)

    def list(
        self, *, status: RunStatus | None = None, strategy: str | None = None, last: int = 20
    ) -> list[RunRecord]:
        """Newest first. ``strategy`` is a strategy type or a stored strategy's name."""
        strategy_type = strategy_name = None
        if strategy:
            try:
                strategy_type = strategy_registry.resolve(strategy).name
            except UserInputError:
                strategy_name = strategy
        with self._database.transaction() as repos:
            return repos.backtests.list(
                status=status,
                strategy_type=strategy_type,
                strategy_name=strategy_name,
                last=last,
            )

    def page(
        self,
        *,
        status: RunStatus | None = None,
        strategy: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """One page of the run list, newest first; ``cursor`` is the previous page's
        ``next_cursor`` (an opaque text), and a page after the last has none."""
        strategy_type = strategy_name = None
        if strategy:
            try:
                strategy_type = strategy_registry.resolve(strategy).name
            except UserInputError:
                strategy_name = strategy
        with self._database.transaction() as repos:
            runs = repos.backtests.list(
                status=status,
                strategy_type=strategy_type,
                strategy_name=strategy_name,
                last=limit + 1,
                before=page_start(cursor),
            )
        return RunPage(*newest_first_page(runs, limit))

    def trades(self, run_ref: str) -> list[TradeRecord]:
        """A run's trades in entry order (open positions at the end of the run included)."""
        with self._database.transaction() as repos:
            return repos.backtests.trades(find_run(repos, run_ref).id)

    def trade_page(self, run_ref: str, *, limit: int, cursor: str | None = None) -> TradePage:
        """One page of a run's trades in entry order; ``cursor`` is the previous page's
        ``next_cursor``. The database reads only the page (keyset on entry time and id)."""
        after = page_start(cursor)
        with self._database.transaction() as repos:
            run_id = find_run(repos, run_ref).id
            rows = repos.backtests.trades_after(run_id, after, limit=limit + 1)
            total = repos.backtests.trade_count(run_id)
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last_id, last = page[-1]
            next_cursor = encode_cursor(last.entry_time, last_id)
        return TradePage(tuple(record for _id, record in page), total, next_cursor)

    def snapshots(self, run_ref: str) -> list[PortfolioSnapshot]:
        """A run's portfolio snapshots in time order: its equity curve."""
        with self._database.transaction() as repos:
            return repos.backtests.snapshots(find_run(repos, run_ref).id)

    def mark_ended(self, run_id: str, status: RunStatus, reason: str) -> None:
        """Record that a run ended without a result (FAILED or INTERRUPTED) and why."""
        with self._database.transaction() as repos:
            repos.backtests.mark_finished(run_id, status, reason)

    def interrupt_abandoned(self, started_before: datetime) -> list[str]:
        """Mark INTERRUPTED (resumable) the runs a stopped job runner left behind: RUNNING
        ones whose process on this host is gone, and PENDING ones created before
        ``started_before``, when this runner started. Returns their ids."""
        with self._database.transaction() as repos:
            running = repos.backtests.select([RunStatus.RUNNING])
            pending = repos.backtests.select([RunStatus.PENDING], created_before=started_before)
            abandoned = [run for run in running if is_stale(run)] + pending
            for run in abandoned:
                repos.backtests.mark_finished(
                    run.id,
                    RunStatus.INTERRUPTED,
                    "the server running it stopped before it finished",
                )
        return [run.id for run in abandoned]

    def plan_delete(self, run_refs: Sequence[str], *, force: bool = False) -> DeletionPlan:
        """What deleting these runs (ids, unique prefixes or ``latest``) would remove.

        Every reference must match a run; RUNNING runs whose process is alive are refused
        unless ``force``.
        """
        with self._database.transaction() as repos:
            runs = list({run.id: run for run in map(repos.backtests.get, run_refs)}.values())
        return self._plan(runs, force=force)

    def plan_prune(
        self,
        statuses: Sequence[RunStatus],
        older_than: timedelta | None = None,
        *,
        force: bool = False,
        now: datetime | None = None,
    ) -> DeletionPlan:
        """What deleting every run in ``statuses`` created more than ``older_than`` ago
        would remove."""
        before = None if older_than is None else (now or datetime.now(UTC)) - older_than
        with self._database.transaction() as repos:
            runs = repos.backtests.select(statuses, created_before=before)
        return self._plan(runs, force=force)

    def delete(self, plan: DeletionPlan, *, delete_files: bool = False) -> DeletionResult:
        """Delete the planned runs in one transaction, then (with ``delete_files``) the
        report files nothing else refers to and whose content is still what was recorded."""
        runs = [item.run for item in plan.items]
        paths = plan.report_paths
        with self._database.transaction() as repos:
            deleted = repos.backtests.delete(runs)
            in_use = repos.backtests.report_paths_in_use(paths)
        files = tuple(
            _settle_file(path, plan.reports_at(path), in_use=path in in_use, delete=delete_files)
            for path in paths
        )
        return DeletionResult(
            run_ids=tuple(run.id for run in runs),
            trades=deleted.trades,
            snapshots=deleted.snapshots,
            reports=deleted.reports,
            configurations=deleted.configurations,
            files=files,
        )

    def _plan(self, runs: Sequence[RunRecord], *, force: bool) -> DeletionPlan:
        live = [run for run in runs if run.status is RunStatus.RUNNING and not is_stale(run)]
        if live and not force:
            run = live[0]
            where = f" (process {run.host_pid} on {run.host})" if run.host_pid else ""
            others = f" (and {len(live) - 1} more)" if len(live) > 1 else ""
            raise ConflictError(
                f"Backtest {run.id}{where} is still RUNNING{others}; deleting it would pull "
                "its records away from the run. Nothing was deleted.",
                hint="Wait for it to finish or stop it; add --force if you know its process is "
                "gone (a run on another machine cannot be checked from here).",
            )
        ids = [run.id for run in runs]
        with self._database.transaction() as repos:
            counts = repos.backtests.row_counts(ids)
            reports = {run_id: tuple(repos.backtests.reports(run_id)) for run_id in ids}
        return DeletionPlan(
            tuple(DeletionItem(run, *counts[run.id], reports=reports[run.id]) for run in runs)
        )


@dataclass(frozen=True, slots=True)
class RunPage:
    runs: tuple[RunRecord, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class TradePage:
    trades: tuple[TradeRecord, ...]
    total: int
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DeletionItem:
    """One run to delete and what goes with it."""

    run: RunRecord
    trades: int
    snapshots: int
    reports: tuple[ReportRecord, ...]


@dataclass(frozen=True, slots=True)
class DeletionPlan:
    items: tuple[DeletionItem, ...]

    @property
    def report_paths(self) -> list[str]:
        """The report files of the runs, each once, in the order they were written."""
        return list(dict.fromkeys(r.file_path for item in self.items for r in item.reports))

    def reports_at(self, path: str) -> list[ReportRecord]:
        return [r for item in self.items for r in item.reports if r.file_path == path]


@dataclass(frozen=True, slots=True)
class ReportFile:
    """What became of a deleted run's report file: ``deleted``, ``kept`` or ``missing``."""

    path: str
    outcome: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DeletionResult:
    run_ids: tuple[str, ...]
    trades: int
    snapshots: int
    reports: int
    configurations: int
    files: tuple[ReportFile, ...]


def _settle_file(
    path: str, records: Sequence[ReportRecord], *, in_use: bool, delete: bool
) -> ReportFile:
    """Delete one report file (or CSV report directory) if that is safe, else say why not."""
    from ntrader.services.reports.files import sha256_file

    target = Path(path)
    # The runs are already deleted: a file problem is reported per file, never raised.
    try:
        if not target.exists():
            return ReportFile(path, "missing")
        if not delete:
            return ReportFile(path, "kept", "left in place (use --delete-files to delete it)")
        if in_use:
            return ReportFile(path, "kept", "another backtest's report record points to it")
        if target.is_dir():
            return _delete_csv_directory(target, records)
        if not any(sha256_file(target) == r.sha256 for r in records):
            return ReportFile(path, "kept", "its content changed since the report was written")
        target.unlink()
    except OSError as exc:
        return ReportFile(path, "kept", f"could not be checked or deleted: {exc.strerror or exc}")
    return ReportFile(path, "deleted")


def _delete_csv_directory(directory: Path, records: Sequence[ReportRecord]) -> ReportFile:
    """A CSV report is a directory: delete the files it recorded, then the directory if
    nothing else is in it."""
    from ntrader.services.reports.files import sha256_manifest

    for record in records:
        names = (record.metadata or {}).get("files")
        # Only plain file names inside the directory: a record never reaches outside it.
        if not isinstance(names, list) or not all(
            isinstance(n, str) and n not in {"", ".", ".."} and Path(n).name == n for n in names
        ):
            continue
        try:
            if sha256_manifest(directory, names) != record.sha256:
                continue
        except FileNotFoundError:  # one of its files is gone: not the recorded content
            continue
        for name in names:
            (directory / name).unlink()
        if any(directory.iterdir()):
            return ReportFile(str(directory), "deleted", "other files in the directory kept")
        directory.rmdir()
        return ReportFile(str(directory), "deleted")
    return ReportFile(str(directory), "kept", "its files changed since the report was written")
