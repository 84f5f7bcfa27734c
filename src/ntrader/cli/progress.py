"""Progress bars on stderr, so stdout stays clean for results and JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from ntrader.cli.output import stderr


@contextmanager
def import_progress(name: str, *, enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A bar for parsing then storing rows; invisible for small, fast files."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
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
        yield lambda text: status.update(f"[bold]{text}…")
