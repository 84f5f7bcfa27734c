"""A spare for `backtest run` (see ``ntrader.cli.warm``):
``python -P -m ntrader.cli.warm_worker DIRECTORY FINGERPRINT IDLE_SECONDS``.

It takes the fingerprint's lock (one spare per fingerprint; one that finds it taken
leaves), listens on the fingerprint's socket, then imports what `backtest run` needs; a
command that arrives meanwhile waits in the socket's queue. It takes one command, stops
listening, starts its successor and runs the command in the caller's stdio, environment
and working directory through the same ``execute`` as the console script, then sends the
exit code and exits. With no command for IDLE_SECONDS, or on SIGTERM while it waits, it
removes its socket and exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import io
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from ntrader.cli import warm

# What `backtest run` imports on its way, on SQLite or PostgreSQL (measured with
# `python -X importtime`); what is left out still loads, only later.
_COMMAND_MODULES = (
    "ntrader.cli.main",
    "ntrader.cli.backtest",
    "ntrader.cli.lookahead",
    "ntrader.cli.output",
    "ntrader.cli.progress",
    "ntrader.cli.render",
    "ntrader.services.backtest_service",
    "ntrader.services.store",
    "ntrader.services.reports.catalog",
    "ntrader.utils.config_loader",
    "ntrader.utils.json_safe",
    "ntrader.utils.logging",
    "ntrader.core.strategies.sma_crossover",
    "ntrader.core.strategies.mean_reversion",
    "ntrader.core.strategies.momentum",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
    "rich.progress",
    "rich.live",
)


class _TerminatedWhileIdleError(Exception):
    """SIGTERM while waiting for a command."""


def _terminated_while_idle(_signum: int, _frame: object) -> None:
    raise _TerminatedWhileIdleError


def _lock(path: Path) -> IO[bytes] | None:
    """``path`` locked by this process, or None when another holds it. The file locked is
    the one at ``path`` (one removed meanwhile by a sweep is locked again anew)."""
    while True:
        file = path.open("ab")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return None
        try:
            if os.stat(path).st_ino == os.fstat(file.fileno()).st_ino:
                return file
        except FileNotFoundError:
            pass
        file.close()


def _sweep(directory: Path, fingerprint: str) -> None:
    """Remove the socket and lock files of other fingerprints that no spare holds (spares of
    an older install or of edited source that have left)."""
    for lock_path in directory.glob("*.lock"):
        if lock_path.stem == fingerprint:
            continue
        lock = _lock(lock_path)
        if lock is None:
            continue
        with lock:
            warm.socket_path(directory, lock_path.stem).unlink(missing_ok=True)
            lock_path.unlink()


def _same_user(connection: socket.socket) -> bool:
    credentials = connection.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
    )
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return uid == os.getuid()


def _wait_for_command(listener: socket.socket, idle_seconds: float) -> socket.socket | None:
    listener.settimeout(idle_seconds)
    while True:
        try:
            connection, _ = listener.accept()
        except (TimeoutError, _TerminatedWhileIdleError):
            return None
        if _same_user(connection):
            return connection
        connection.close()


def _receive(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The command (argv, env, cwd, umask) and the caller's stdin, stdout and stderr."""
    data, fds, _flags, _address = socket.recv_fds(connection, 65_536, 3)
    size = int.from_bytes(data[:4], "big")
    data = data[4:]
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the command was cut short")
        data += chunk
    if len(fds) != 3:
        raise ConnectionError("the command came without its stdio")
    return json.loads(data), fds


def _take_over(job: dict[str, Any]) -> None:
    """Become the caller's process, as far as the command can tell."""
    os.environ.clear()
    os.environ.update(job["env"])
    time.tzset()
    os.chdir(job["cwd"])
    os.umask(job["umask"])
    sys.argv = list(job["argv"])
    # Settings read while the spare started would be those of the command that started it.
    from ntrader.utils.settings import get_settings

    get_settings.cache_clear()


def _enabled() -> tuple[bool, float]:
    """The ``warm_worker`` setting and the idle timeout, as the command's environment and
    working directory give them."""
    from ntrader.core.errors import UserInputError
    from ntrader.utils.settings import load_settings

    try:
        settings = load_settings()
    except UserInputError:  # the command reports it, run in the caller
        return False, 0.0
    return settings.warm_worker, settings.warm_worker_idle_minutes * 60


def _use_stdio(fds: list[int]) -> None:
    """The caller's stdin, stdout and stderr as this process's own; stdout line-buffered
    when it is a terminal, as Python sets it up at start-up."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    assert isinstance(sys.stdout, io.TextIOWrapper)
    sys.stdout.reconfigure(line_buffering=sys.stdout.isatty())


def _run(job: dict[str, Any]) -> int:
    """The command, as the console script runs it, to the point its process would end."""
    from ntrader.cli.context import AppContext
    from ntrader.cli.main import execute, run_exit_handlers

    argv = list(job["argv"])
    code = execute(argv[1:], AppContext(), prog_name=os.path.basename(argv[0]))
    main_thread = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main_thread and not thread.daemon:
            thread.join()
    # 120: what Python's own exit reports when stdout or stderr cannot be flushed.
    return code if run_exit_handlers() else 120


def main(argv: list[str]) -> int:
    from ntrader.cli.main import tune_collector

    tune_collector()  # as the console script does
    directory, fingerprint, idle_seconds = Path(argv[0]), argv[1], float(argv[2])
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _terminated_while_idle)
    lock = _lock(directory / f"{fingerprint}.lock")
    if lock is None:  # another spare serves this fingerprint
        return 0
    path = warm.socket_path(directory, fingerprint)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _sweep(directory, fingerprint)
        path.unlink(missing_ok=True)  # left by a spare that was killed
        listener.bind(str(path))
        listener.listen(16)
        for module in _COMMAND_MODULES:
            importlib.import_module(module)
        connection = _wait_for_command(listener, idle_seconds)
    except _TerminatedWhileIdleError:
        connection = None
    finally:
        # Not listening any more: commands queued behind this one find the socket closed
        # and run in their own process; the successor takes the lock.
        path.unlink(missing_ok=True)
        listener.close()
        lock.close()
    if connection is None:
        return 0
    # The dispositions a command started at a terminal has (this process's SIGINT may have
    # been ignored by whoever started it): the signals forwarded from now on are the
    # command's.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError):
        connection.setblocking(True)
    try:
        job, fds = _receive(connection)
        _take_over(job)
    except (OSError, ValueError, KeyError):
        return 1  # the caller runs the command itself
    enabled, successor_idle_seconds = _enabled()
    if not enabled:
        connection.sendall(warm.DECLINED + b"\n")
        return 0
    connection.sendall(warm.ACCEPTED + b" %d\n" % os.getpid())
    with contextlib.suppress(OSError):  # without one, the next command starts one
        warm.start_spare(directory, fingerprint, successor_idle_seconds)
    _use_stdio(fds)
    code = _run(job)
    with contextlib.suppress(OSError):
        connection.sendall(warm.EXIT + b" %d\n" % code)
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
