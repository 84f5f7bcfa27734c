"""Report generation for the CLI and the demo: load a run, write a file, record it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ntrader.core.errors import UserInputError
from ntrader.db.database import Database
from ntrader.models.backtest import ReportRecord
from ntrader.models.enums import ReportType
from ntrader.services.reports.analytics import TradeStats, trade_stats
from ntrader.services.reports.comparison import Comparison, compare
from ntrader.services.reports.comparison_report import (
    render_comparison_html,
    render_comparison_text,
)
from ntrader.services.reports.csv_report import csv_files, trades_csv, write_csv_directory
from ntrader.services.reports.data import RunData, load_run_data
from ntrader.services.reports.files import (
    DEFAULT_DIR,
    default_path,
    sha256_file,
    sha256_manifest,
    write_atomic,
)
from ntrader.services.reports.html_report import render_html
from ntrader.services.reports.json_report import render_json
from ntrader.services.reports.text import render_text

Renderer = Callable[[RunData, TradeStats, datetime], str]

_RENDERERS: dict[ReportType, tuple[Renderer, str]] = {
    ReportType.TEXT: (render_text, "txt"),
    ReportType.JSON: (render_json, "json"),
    ReportType.HTML: (render_html, "html"),
}
_COMPARISON_RENDERERS: dict[ReportType, tuple[Callable[[Comparison, datetime], str], str]] = {
    ReportType.TEXT: (render_comparison_text, "txt"),
    ReportType.HTML: (render_comparison_html, "html"),
}


def parse_format(value: ReportType | str) -> ReportType:
    try:
        return ReportType(str(value).upper())
    except ValueError:
        known = ", ".join(t.value.lower() for t in ReportType)
        raise UserInputError(
            f"Unknown report format {value!r}.", hint=f"Use one of: {known}."
        ) from None


@dataclass(frozen=True, slots=True)
class Written:
    """Where a report went and the digest that proves its content."""

    path: Path
    sha256: str
    size: int
    files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RenderedReport:
    """A run's report in memory: its files by name (one, or the CSV report's)."""

    run_id: str
    short_id: str
    report_type: ReportType
    files: dict[str, str]
    generated_at: datetime
    data: RunData


def _target(output: Path | None, fallback: Path, *, directory: bool) -> Path:
    path = (output or fallback).expanduser().resolve()
    if directory and path.is_file():
        raise UserInputError(
            f"{path} is a file; a CSV report is a directory of files.",
            hint="Give a directory path with --output (it is created if missing).",
        )
    if not directory and path.is_dir():
        raise UserInputError(
            f"{path} is a directory.", hint="Give a file path with --output, e.g. report.html."
        )
    return path


def _write_file(path: Path, content: str) -> Written:
    write_atomic(path, content)
    return Written(path=path, sha256=sha256_file(path), size=path.stat().st_size)


class ReportService:
    def __init__(self, database: Database) -> None:
        self._database = database

    def load(
        self, run_ref: str, *, risk_free_rate: float | None = None, with_prices: bool = False
    ) -> RunData:
        return load_run_data(
            self._database, run_ref, risk_free_rate=risk_free_rate, with_prices=with_prices
        )

    def summary(
        self, run_ref: str, *, risk_free_rate: float | None = None
    ) -> tuple[RunData, TradeStats]:
        data = self.load(run_ref, risk_free_rate=risk_free_rate)
        return data, trade_stats(data)

    def render(
        self,
        run_ref: str,
        fmt: ReportType | str,
        *,
        risk_free_rate: float | None = None,
        csv_trades: bool = True,
        csv_snapshots: bool = True,
        generated_at: datetime | None = None,
    ) -> RenderedReport:
        """One run's report as ``generate`` writes it, without writing it: one file, or the
        CSV report's files."""
        report_type = parse_format(fmt)
        data = self.load(
            run_ref, risk_free_rate=risk_free_rate, with_prices=report_type is ReportType.HTML
        )
        when = generated_at or datetime.now(UTC)
        if report_type is ReportType.CSV:
            files = csv_files(data, trades=csv_trades, snapshots=csv_snapshots)
        else:
            render, extension = _RENDERERS[report_type]
            name = default_path(data.short_id, report_type.value.lower(), extension).name
            files = {name: render(data, trade_stats(data), when)}
        return RenderedReport(data.run.id, data.short_id, report_type, files, when, data)

    def generate(
        self,
        run_ref: str,
        fmt: ReportType | str,
        output: Path | None = None,
        *,
        risk_free_rate: float | None = None,
        csv_trades: bool = True,
        csv_snapshots: bool = True,
    ) -> ReportRecord:
        """Write one run's report and record it; ``output`` defaults to
        ``reports/<id-prefix>_<format>.<ext>`` (a directory for CSV, whose trades and
        snapshots files can be left out)."""
        started = time.perf_counter()
        report = self.render(
            run_ref,
            fmt,
            risk_free_rate=risk_free_rate,
            csv_trades=csv_trades,
            csv_snapshots=csv_snapshots,
        )
        kind = report.report_type.value.lower()
        if report.report_type is ReportType.CSV:
            directory = _target(output, default_path(report.short_id, kind, None), directory=True)
            names = write_csv_directory(directory, report.files)
            written = Written(
                path=directory,
                sha256=sha256_manifest(directory, names),
                size=sum((directory / name).stat().st_size for name in names),
                files=names,
            )
        else:
            [(name, content)] = report.files.items()
            path = _target(output, DEFAULT_DIR / name, directory=False)
            written = _write_file(path, content)
        return self._record(
            [report.run_id],
            report.report_type,
            written,
            report.generated_at,
            started,
            content="backtest",
            risk_free_rate=report.data.risk_free_rate,
        )

    def export_trades(self, run_ref: str, output: Path | None = None) -> ReportRecord:
        """The run's trades as one CSV file (the same columns as in the CSV report)."""
        started = time.perf_counter()
        data = self.load(run_ref)
        generated_at = datetime.now(UTC)
        path = _target(output, default_path(data.short_id, "trades", "csv"), directory=False)
        written = _write_file(path, trades_csv(data.trades))
        return self._record(
            [data.run.id], ReportType.CSV, written, generated_at, started, content="trades"
        )

    def compare(
        self, run_refs: Sequence[str], *, risk_free_rate: float | None = None
    ) -> Comparison:
        return compare([self.load(ref, risk_free_rate=risk_free_rate) for ref in run_refs])

    def write_comparison(
        self, comparison: Comparison, fmt: ReportType | str, output: Path | None = None
    ) -> ReportRecord:
        """Write a comparison report; it is recorded against every run it compares."""
        report_type = parse_format(fmt)
        if report_type not in _COMPARISON_RENDERERS:
            raise UserInputError(
                f"Comparisons are written as text or html, not {report_type.value.lower()}.",
                hint="Use --format text or --format html (or --json for the numbers).",
            )
        started = time.perf_counter()
        render, extension = _COMPARISON_RENDERERS[report_type]
        generated_at = datetime.now(UTC)
        stem = "compare_" + "_".join(comparison.labels)
        path = _target(
            output, default_path(stem, report_type.value.lower(), extension), directory=False
        )
        written = _write_file(path, render(comparison, generated_at))
        return self._record(
            [run.run.id for run in comparison.runs],
            report_type,
            written,
            generated_at,
            started,
            content="comparison",
            risk_free_rate=comparison.risk_free_rate,
        )

    def _record(
        self,
        run_ids: Sequence[str],
        report_type: ReportType,
        written: Written,
        generated_at: datetime,
        started: float,
        **details: Any,
    ) -> ReportRecord:
        metadata: dict[str, Any] = {
            **details,
            "bytes": written.size,
            "generation_seconds": round(time.perf_counter() - started, 4),
        }
        if written.files:
            metadata["files"] = list(written.files)
            metadata["sha256_of"] = "sha256sum listing of the files, sorted by name"
        if len(run_ids) > 1:
            metadata["runs"] = list(run_ids)
        record = ReportRecord(
            id=str(uuid.uuid4()),
            report_type=report_type,
            generated_at=generated_at,
            file_path=str(written.path),
            sha256=written.sha256,
            metadata=metadata,
        )
        with self._database.transaction() as repos:
            repos.backtests.add_report(run_ids[0], record)
            for run_id in run_ids[1:]:
                # One row per run, so each run lists the comparison among its reports.
                copy = record.model_copy(update={"id": str(uuid.uuid4())})
                repos.backtests.add_report(run_id, copy)
        return record
