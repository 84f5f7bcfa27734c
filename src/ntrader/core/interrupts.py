"""SIGTERM as an interrupt: a command a supervisor stops (``kill``, ``docker stop``,
systemd) ends the way Ctrl-C ends it, storing what it was doing as INTERRUPTED, instead of
dying where it stands."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised wherever the main thread is."""


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into ``Terminated`` for the duration, then put the previous handler back.

    Signal handlers belong to the main thread; code in another thread (the HTTP API, a
    sweep worker) leaves them alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        # None means a handler installed outside Python; the default is the best stand-in.
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def by_sigterm(exc: BaseException | None) -> bool:
    """Whether ``exc`` came of a SIGTERM: it is, or was raised from, ``Terminated``."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, Terminated):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def stop_signal(exc: BaseException | None) -> signal.Signals:
    """The signal that stopped the work ``exc`` ended: SIGTERM or Ctrl-C's SIGINT."""
    return signal.SIGTERM if by_sigterm(exc) else signal.SIGINT


def how_stopped(stopped_by: signal.Signals) -> str:
    """How a message says the work ended: "stopped by SIGTERM" or "interrupted" (Ctrl-C)."""
    return "stopped by SIGTERM" if stopped_by is signal.SIGTERM else "interrupted"


def stop_reason(exc: BaseException) -> str:
    """The reason a run or sweep stored INTERRUPTED gives for the interrupt ``exc``."""
    return "interrupted by SIGTERM" if by_sigterm(exc) else "interrupted by the user"
