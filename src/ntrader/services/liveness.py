"""Whose process holds a RUNNING record (a backtest, a sweep, a walk-forward analysis), and
the one rule that tells a stale one: RUNNING, recorded on this host, its process gone.

A stale record was left by a process killed with SIGKILL, a crash or a power cut: resume
accepts it as it accepts an INTERRUPTED one. After a reboot, or once its holder ended, its
pid may name another process: the record keeps which process claimed it (the boot and the
clock tick it started at), so that one is not taken for its holder. Its host cannot
be checked from another machine, and a record stored before its process was recorded (no
host) is not known stale: both stay refused unless the user, who can check, takes them over
with ``--force``. A process this machine sees running, and that is the one that claimed the
record, is never taken over.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Protocol

from ntrader.core.errors import ConflictError
from ntrader.db.database import Repositories
from ntrader.db.repositories import Holder
from ntrader.utils.logging import get_logger

RUNNING = "RUNNING"  # the same in RunStatus and SweepStatus
_log = get_logger(__name__)


class Held(Protocol):
    """A stored record that a process claims RUNNING, with that process."""

    @property
    def status(self) -> str: ...

    @property
    def host(self) -> str | None: ...

    @property
    def host_pid(self) -> int | None: ...

    @property
    def holder_start(self) -> str | None: ...


_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def process_start(pid: int) -> str | None:
    """Which process ``pid`` is, whatever its number: the id of this boot and the clock tick
    since boot it started at (Linux's /proc: neither moves when the wall clock is set). None
    where it cannot be read: another system, or the process is gone."""
    try:
        boot = _BOOT_ID.read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 of stat(5); the command name (field 2) may hold spaces and parentheses, so the
    # fields are counted from after its closing one.
    return f"{boot}:{stat[stat.rindex(')') + 2 :].split()[19]}"


def this_process() -> Holder:
    """What a record claimed by this process stores: this host's name, our pid and which
    process that pid is."""
    pid = os.getpid()
    return socket.gethostname(), pid, process_start(pid)


def is_stale(record: Held) -> bool:
    """A RUNNING record whose process on this host is gone (killed, crashed, power cut), its
    pid dead or naming another process now."""
    return _gone_holder(record) is not None


def _gone_holder(record: Held) -> Holder | None:
    """The process a stale record names, as its rows are to be released: with no start when
    its pid is dead (whatever that pid held is gone), with the record's own start when the
    pid names another process now (whose own claims stay). None when not stale; a start
    not known (stored before 0015, or unreadable here) counts as the same process."""
    host, pid = record.host, record.host_pid
    if record.status != RUNNING or pid is None or host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return host, pid, None
    except PermissionError:  # alive, owned by someone else
        pass
    if record.holder_start is None:
        return None
    now = process_start(pid)
    return (host, pid, record.holder_start) if now not in (None, record.holder_start) else None


def unverifiable(record: Held) -> bool:
    """A RUNNING record whose process cannot be checked from here: it runs on another
    machine, or an earlier version of ntrader did not record it."""
    if record.status != RUNNING:
        return False
    return record.host is None or record.host_pid is None or record.host != socket.gethostname()


def holder(record: Held) -> str:
    """Which process holds a RUNNING record, for the sentence that refuses to touch it."""
    if record.host is None or record.host_pid is None:
        return "a process an earlier version of ntrader did not record"
    if record.host != socket.gethostname():
        return (
            f"process {record.host_pid} on {record.host}, another machine (whether it still "
            "runs cannot be checked from here)"
        )
    return f"process {record.host_pid} on this machine ({record.host}), which is still running"


class HeldRecord(Held, Protocol):
    @property
    def id(self) -> str: ...


class HeldRecords[R: HeldRecord](Protocol):
    """The repository of one kind of held record (sweeps, walk-forward analyses)."""

    def get(self, reference: str, /) -> R: ...

    def running(self) -> list[R]: ...

    def interrupt_held(self, holder: Holder, reason: str) -> None: ...


class TakenOver[R](Protocol):
    """A repository whose records ``--force`` can take over (runs, sweeps, analyses)."""

    def take_over(self, record: R, reason: str, /) -> bool: ...


def take_over[R: HeldRecord](records: TakenOver[R], record: R, noun: str, show: str) -> str:
    """Store ``record`` (RUNNING in a process that cannot be checked from here) INTERRUPTED
    as taken over with ``--force``, in one conditional update; returns the reason stored.
    Refused when it changed since it was read: another resume took it first."""
    if record.host is None or record.host_pid is None:
        reason = "taken over with --force from a process ntrader did not record"
    else:
        reason = f"taken over with --force from process {record.host_pid} on {record.host}"
    if not records.take_over(record, reason):
        raise ConflictError(
            f"{noun} {record.id} changed while it was being taken over: another resume took "
            "it first.",
            hint=f"`{show}` shows where it is now.",
        )
    # The record's reason is cleared when the resume claims it: the log keeps the trace.
    _log.warning("record.taken_over", record=record.id, reason=reason)
    return reason


def _release_stale(repos: Repositories, record: Held, records: HeldRecords[Any]) -> bool:
    """If ``record`` (one of ``records``) is stale, mark it INTERRUPTED with the runs its
    dead process left RUNNING (an analysis's test run), so that resume takes it as it takes
    an interrupted one. True if it was stale."""
    gone = _gone_holder(record)
    if gone is None:
        return False
    reason = f"its process {record.host_pid} on {record.host} ended before it finished"
    records.interrupt_held(gone, reason)
    repos.backtests.interrupt_held(gone, reason)
    return True


def released[R: HeldRecord](repos: Repositories, record: R, records: HeldRecords[R]) -> R:
    """``record`` as resume takes it: stored INTERRUPTED first if it was stale."""
    return records.get(record.id) if _release_stale(repos, record, records) else record


def release_all_stale(repos: Repositories, records: HeldRecords[Any]) -> list[str]:
    """Release every stale record of ``records`` (the server's start-up); their ids."""
    return [record.id for record in records.running() if _release_stale(repos, record, records)]
