"""`backtest run` handed to a process kept ready, its imports done (the ``warm_worker`` setting).

Before `backtest run` does anything, Python starts and imports nautilus, pandas, SQLAlchemy
and pydantic: about a second, as long as a third of a year's minute bars take in the engine.
With ``warm_worker`` on, a spare process (``ntrader.cli.warm_worker``) has done that already
and waits on a Unix socket; the command passes it its stdin, stdout and stderr, its command
line, environment, working directory and umask, forwards Ctrl-C and SIGTERM to it and exits
with its exit code. The spare runs the command as this process would have, starts the next
spare and exits: every spare is a fresh process serving one command.

This side decides without importing anything heavy and without the settings (pydantic costs
0.3 s): it only tries the socket. Spares exist only when the setting was on; one still
waiting after it was turned off declines the command (it reads the settings with the
command's environment), and the command runs here. A command run here starts a spare for
the next one when the setting is on.

The socket is named by a fingerprint of the interpreter, the installed packages and
ntrader's own source files, so a spare never runs code older than what the command would
have imported.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click

# hashlib, json, site, socket and subprocess load when a command is to be handed over, so
# that `ntrader --help` and every other command, which pass through here, never pay for
# them (about 12 ms).
# The commands a spare runs: long enough for the second saved to matter, and neither
# interactive nor a server.
WARM_COMMANDS = frozenset({("backtest", "run")})
_HELP_FLAGS = frozenset({"--help", "-h"})

SPARE_MODULE = "ntrader.cli.warm_worker"
ACCEPTED = b"accepted"
DECLINED = b"declined"
EXIT = b"exit"


def warm_command(argv: Sequence[str], group: click.Group) -> bool:
    """Whether ``argv`` (without the program) runs one of ``WARM_COMMANDS``, its help not
    asked for. Global options may come first; an eager one (``--version``) or any option
    the group does not know leaves the command to this process."""
    takes_value = {
        name: not (param.is_flag or param.count)
        for param in group.params
        if isinstance(param, click.Option) and not param.is_eager
        for name in (*param.opts, *param.secondary_opts)
    }
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        name, equals, _ = argv[index].partition("=")
        if name not in takes_value:
            return False
        index += 2 if takes_value[name] and not equals else 1
    rest = list(argv[index + 2 :])
    options = rest[: rest.index("--")] if "--" in rest else rest
    return tuple(argv[index : index + 2]) in WARM_COMMANDS and not _HELP_FLAGS & set(options)


def spare_directory() -> Path:
    """Where spares listen: ``$XDG_RUNTIME_DIR/ntrader``, or ``$XDG_STATE_HOME/ntrader/warm``
    (``~/.local/state/ntrader/warm``); private to the user."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "ntrader"
    state = os.environ.get("XDG_STATE_HOME")
    return (Path(state) if state else Path.home() / ".local" / "state") / "ntrader" / "warm"


def socket_path(directory: Path, fingerprint: str) -> Path:
    return directory / f"{fingerprint}.sock"


def fingerprint(package: Path | None = None) -> str:
    """What the code a command would run depends on: the interpreter, the variables it reads
    at start-up, the installed packages (their directories change when one is added, removed
    or upgraded) and each source file of ``package`` (ntrader's own; path, size, modification
    time). About 2 ms."""
    import hashlib
    import site

    parts = [sys.executable, sys.version, sys.prefix]
    parts += [
        f"{name}={value}"
        for name, value in sorted(os.environ.items())
        if name.startswith(("PYTHON", "LC_")) or name == "LANG"
    ]
    for directory in site.getsitepackages():
        try:
            parts.append(f"{directory}:{os.stat(directory).st_mtime_ns}")
        except OSError:
            parts.append(directory)
    package = package or Path(__file__).resolve().parent.parent
    for root, folders, files in os.walk(package):
        folders[:] = sorted(folder for folder in folders if folder != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                stat = os.stat(os.path.join(root, name))
                parts.append(f"{root}/{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=8).hexdigest()


def start_spare(directory: Path, fingerprint: str, idle_seconds: float) -> None:
    """Start a spare in the background: its own session (a Ctrl-C at the terminal is not
    its business), no stdio, working directory ``/``, and ``-P`` so that no module of the
    directory it was started from shadows an installed one."""
    import subprocess

    subprocess.Popen(
        [sys.executable, "-P", "-m", SPARE_MODULE, str(directory), fingerprint, str(idle_seconds)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
        start_new_session=True,
    )


def start_spare_if_enabled() -> None:
    """After a command ran here: a spare for the next one, when the settings ask for it.

    The settings the command read (cached): loading them again would cost every cold run,
    the setting off included, a quarter of a second of pydantic."""
    from ntrader.core.errors import UserInputError
    from ntrader.utils.settings import get_settings

    try:
        settings = get_settings()
    except UserInputError:  # the command reported it
        return
    if settings.warm_worker:
        start_spare(spare_directory(), fingerprint(), settings.warm_worker_idle_minutes * 60)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _Forwarder:
    """SIGINT and SIGTERM sent on to the spare; one that comes before the spare took the
    command waits for its pid, or for this process if the command runs here after all."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.received: list[int] = []

    def __call__(self, signum: int, _frame: object) -> None:
        self.received.append(signum)
        if self.pid is not None:
            os.kill(self.pid, signum)

    def target(self, pid: int) -> None:
        self.pid = pid
        for signum in self.received:
            os.kill(pid, signum)

    @contextmanager
    def installed(self) -> Iterator[None]:
        # An ignored SIGINT (a background job of a script) stays ignored, as it would here.
        signums = [signal.SIGTERM]
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signums.append(signal.SIGINT)
        previous = {signum: signal.signal(signum, self) for signum in signums}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def run_in_spare(argv: Sequence[str]) -> int | None:
    """The exit code of the command line ``argv`` (the program first), run by the spare;
    None when no spare took it, and it is to run here."""
    import json
    import socket

    directory = spare_directory()
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    forwarder = _Forwarder()
    try:
        with connection, forwarder.installed():
            try:
                connection.connect(str(socket_path(directory, fingerprint())))
                job = json.dumps(
                    {
                        "argv": list(argv),
                        "env": dict(os.environ),
                        "cwd": os.getcwd(),
                        "umask": _umask(),
                    }
                ).encode()
                socket.send_fds(connection, [len(job).to_bytes(4, "big") + job], [0, 1, 2])
                replies = connection.makefile("rb")
                word, _, pid = replies.readline().strip().partition(b" ")
            except OSError:  # no spare, or one that left (idle) as the command came
                return None
            if word != ACCEPTED:
                return None
            forwarder.target(int(pid))
            return _exit_code(replies.readline(), int(pid), forwarder.received)
    finally:
        if forwarder.pid is None:
            # Signals that came before a spare took the command are this process's again.
            for signum in forwarder.received:
                os.kill(os.getpid(), signum)


def _exit_code(reply: bytes, pid: int, signals: list[int]) -> int:
    word, _, code = reply.strip().partition(b" ")
    if word == EXIT:
        return int(code)
    if signals:  # it died of the signal forwarded to it, before the command caught it
        return 128 + signals[-1]
    print(
        f"Error: the warm worker (pid {pid}) running the command ended without an exit "
        "status; the command may not have finished.",
        file=sys.stderr,
    )
    return 1
