"""Prometheus metrics: one registry, recorded by the services, exported once per invocation.

A CLI invocation is a batch job, so nothing is scraped from it: at the end it pushes to a
Pushgateway (``NTRADER_PUSHGATEWAY_URL``) and/or writes a textfile for node_exporter's textfile
collector (``NTRADER_METRICS_TEXTFILE``). Only an invocation that recorded something exports,
so ``backtest list`` does not overwrite the last run's figures with zeros. The values are that
invocation's (the Pushgateway keeps the last push per job and instance).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import push_to_gateway, write_to_textfile

from ntrader.models.enums import RunStatus
from ntrader.utils.logging import get_logger
from ntrader.utils.settings import Settings

JOB = "ntrader"
PUSH_TIMEOUT_SECONDS = 5.0

REGISTRY = CollectorRegistry()

runs_total = Counter(
    "ntrader_runs", "Backtest runs by final status.", ["status"], registry=REGISTRY
)
run_duration_seconds = Histogram(
    "ntrader_run_duration_seconds",
    "Wall time of a backtest run, loading to saved results.",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
bars_processed_total = Counter(
    "ntrader_bars_processed", "Bars fed to the engine by completed runs.", registry=REGISTRY
)
import_rows_total = Counter(
    "ntrader_import_rows",
    "CSV rows imported, by what happened to them.",
    ["outcome"],
    registry=REGISTRY,
)
errors_total = Counter(
    "ntrader_errors", "Commands that ended in an error, by its type.", ["type"], registry=REGISTRY
)
cache_requests_total = Counter(
    "ntrader_cache_requests", "Bar cache lookups: hit or miss.", ["result"], registry=REGISTRY
)

_log = get_logger(__name__)


class _Recorded:
    """Whether this process recorded anything worth exporting."""

    value = False


def record_run(status: RunStatus, seconds: float | None = None, bars: int = 0) -> None:
    runs_total.labels(status=status.value.lower()).inc()
    if seconds is not None:
        run_duration_seconds.observe(seconds)
    if bars:
        bars_processed_total.inc(bars)
    _Recorded.value = True


def record_import(imported: int, replaced: int, unchanged: int) -> None:
    for outcome, rows in (("imported", imported), ("replaced", replaced), ("unchanged", unchanged)):
        import_rows_total.labels(outcome=outcome).inc(rows)
    _Recorded.value = True


def record_error(error_type: str) -> None:
    errors_total.labels(type=error_type).inc()
    _Recorded.value = True


def record_cache(hit: bool) -> None:
    cache_requests_total.labels(result="hit" if hit else "miss").inc()
    _Recorded.value = True


@dataclass(frozen=True, slots=True)
class ExportResult:
    pushed_to: str | None = None
    textfile: str | None = None


def export(settings: Settings, command: str | None) -> ExportResult:
    """Push and/or write the registry when configured and something was recorded. A
    Pushgateway that cannot be reached costs one warning event, never the command's result."""
    if not _Recorded.value:
        return ExportResult()
    pushed_to = textfile = None
    if settings.pushgateway_url:
        grouping = {"instance": socket.gethostname(), "command": command or "none"}
        try:
            push_to_gateway(
                settings.pushgateway_url,
                job=JOB,
                registry=REGISTRY,
                grouping_key=grouping,
                timeout=PUSH_TIMEOUT_SECONDS,
            )
            pushed_to = settings.pushgateway_url
        except OSError as exc:
            _log.warning("metrics.push_failed", gateway=settings.pushgateway_url, error=str(exc))
    if settings.metrics_textfile is not None:
        try:
            # prometheus_client writes a temporary file beside it and renames it: atomic.
            write_to_textfile(str(settings.metrics_textfile), REGISTRY)
            textfile = str(settings.metrics_textfile)
        except OSError as exc:
            _log.warning(
                "metrics.textfile_failed", path=str(settings.metrics_textfile), error=str(exc)
            )
    return ExportResult(pushed_to=pushed_to, textfile=textfile)
