"""Output of the Interactive Brokers commands: the session, fetch progress and summary,
and the verification table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ntrader.cli.output import print_json, print_success, stderr, stdout, styled
from ntrader.models.enums import Timeframe
from ntrader.services.ib.fetch import FetchProgress, FetchReport
from ntrader.services.ib.gateway import ConnectionReport
from ntrader.services.ib.verify import VerifyReport


def render_connection(report: ConnectionReport, *, json_output: bool) -> None:
    if json_output:
        print_json(report.view().model_dump(mode="json"))
        return
    print_success(
        f"Connected to {report.host}:{report.port} (client id {report.client_id}) "
        f"in {report.seconds:.2f} s"
    )
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Server version", str(report.server_version))
    table.add_row("Connection time", styled(report.connection_time))
    accounts = ", ".join(f"{a.account_id} ({a.kind})" for a in report.accounts) or "none"
    table.add_row("Accounts", styled(accounts))
    stdout().print(table)


@contextmanager
def fetch_progress(*, enabled: bool) -> Iterator[Callable[[FetchProgress], None]]:
    """One bar per instrument: chunks done of all, bars stored, time left."""
    progress = Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks · {task.fields[bars]:,} bars"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        disable=not (enabled and stderr().is_terminal),
    )
    tasks: dict[str, TaskID] = {}

    def update(event: FetchProgress) -> None:
        if event.instrument not in tasks:
            tasks[event.instrument] = progress.add_task(
                event.instrument, total=event.chunks_total, bars=0
            )
        progress.update(
            tasks[event.instrument], completed=event.chunks_done, bars=event.bars_stored
        )

    with progress:
        yield update


def render_fetch(report: FetchReport, timeframe: Timeframe, *, json_output: bool) -> None:
    if json_output:
        print_json(report.summary(timeframe).model_dump(mode="json"))
        return
    table = Table(title=f"Fetched {timeframe.value} bars", title_justify="left")
    table.add_column("Instrument", style="bold cyan")
    table.add_column("Chunks fetched", justify="right")
    table.add_column("Already stored", justify="right")
    table.add_column("Bars stored", justify="right")
    table.add_column("Retries", justify="right")
    table.add_column("Seconds", justify="right")
    for r in report.results:
        table.add_row(
            styled(r.instrument_id or r.instrument),
            f"{r.chunks_fetched:,} of {r.chunks - r.chunks_without_sessions:,}",
            f"{r.chunks_already_stored:,}",
            f"{r.bars_stored:,}",
            f"{r.retries:,}",
            f"{r.seconds:.1f}",
        )
    stdout().print(table)
    skipped = sum(r.chunks_already_stored for r in report.results)
    fetched = sum(r.chunks_fetched for r in report.results)
    if skipped and not fetched:
        print_success("Everything in that range was stored already; nothing was fetched.")
    elif skipped:
        print_success(
            f"Fetched only what was missing: {skipped:,} chunks were stored already "
            f"and {fetched:,} were fetched."
        )


def render_verify(report: VerifyReport, *, json_output: bool) -> None:
    if json_output:
        print_json(
            {
                "instrument_id": report.instrument_id,
                "timeframe": report.timeframe.value,
                "first_day": report.first_day.isoformat(),
                "last_day": report.last_day.isoformat(),
                "bars": report.bars,
                "ok": report.ok,
                "problems": [asdict(p) for p in report.problems],
            }
        )
        return
    title = (
        f"{report.instrument_id} {report.timeframe.value}: {report.bars:,} bars, "
        f"{report.first_day} to {report.last_day}"
    )
    if report.ok:
        print_success(f"{title}: no gaps, unsound bars or off-hours bars.")
        return
    # On its own line: a table's title wraps at the table's width, narrower than this one.
    stdout().print(styled(title))
    table = Table()
    table.add_column("Check", style="bold")
    table.add_column("Count", justify="right", style="red")
    table.add_column("First examples")
    for problem in report.problems:
        table.add_row(
            styled(problem.check), f"{problem.count:,}", styled(", ".join(problem.examples))
        )
    stdout().print(table)
