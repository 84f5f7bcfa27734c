"""Progress bars on stderr, so stdout stays clean for results and JSON."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ntrader.cli.output import stderr


@contextmanager
def import_progress(name: str, *, enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A bar for parsing then storing rows; invisible for small, fast files."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", style="bold", markup=False),  # file names: literal
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr(),
        transient=True,
        disable=not (enabled and stderr().is_terminal),
    )
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        label = f"{'Reading' if stage == 'parse' else 'Storing'} {name}"
        if stage not in tasks:
            tasks[stage] = progress.add_task(label, total=total or None)
        progress.update(tasks[stage], completed=done, total=total or None)

    with progress:
        yield update


@contextmanager
def stage_status(*, enabled: bool) -> Iterator[Callable[[str], None]]:
    """A spinner naming the current stage of a longer job."""
    if not (enabled and stderr().is_terminal):
        yield lambda _text: None
        return
    with stderr().status("Starting") as status:
        yield lambda text: status.update(Text(f"{text}…", style="bold"))


# Off a terminal (a log file, CI), one line at most this often: a short run prints nothing.
PLAIN_INTERVAL_SECONDS = 5.0


class RunProgress:
    """A backtest's stages and the engine's progress through the bars, on stderr.

    On a terminal: a bar with bars processed, percent, elapsed time and ETA, labelled with
    the stage. Otherwise a plain line every ``interval`` seconds while the engine runs.
    ``stage`` and ``bars`` are the callbacks the backtest service takes.
    """

    def __init__(
        self,
        console: Console,
        *,
        live: Progress | None,
        interval: float = PLAIN_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._console = console
        self._live = live
        self._task: TaskID | None = live.add_task("Starting", total=None) if live else None
        self._interval = interval
        self._clock = clock
        self._stage = "Starting"
        self._started: float | None = None
        self._last_line: float | None = None

    def stage(self, text: str) -> None:
        self._stage = text
        if self._live is not None and self._task is not None:
            self._live.update(self._task, description=text)

    def bars(self, done: int, total: int) -> None:
        if self._live is not None and self._task is not None:
            self._live.update(self._task, completed=done, total=total or None)
            return
        now = self._clock()
        if self._started is None or done == 0:
            self._started = self._last_line = now
            return
        if self._last_line is not None and now - self._last_line < self._interval:
            return
        self._last_line = now
        self._console.print(self._plain_line(done, total, now - self._started), markup=False)

    def _plain_line(self, done: int, total: int, elapsed: float) -> str:
        line = f"{self._stage}: {done:,} of {total:,} bars ({done / total:.0%})"
        if 0 < done < total and elapsed > 0:
            remaining = (total - done) * elapsed / done
            line += f", about {_duration(remaining)} left"
        return line


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


@contextmanager
def run_progress(*, enabled: bool, console: Console | None = None) -> Iterator[RunProgress]:
    """Progress of one backtest run on stderr (see ``RunProgress``); silent when disabled."""
    console = console or stderr()
    if not enabled:
        yield RunProgress(console, live=None, interval=float("inf"))
        return
    if not console.is_terminal:
        yield RunProgress(console, live=None)
        return
    live = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("bars"),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with live:
        yield RunProgress(console, live=live)
