"""``ntrader`` run inside the test process, as the console script runs it but 1 to 2 s cheaper.

``ntrader.cli.main.main`` is called with the command line in ``sys.argv``, so its mapping of
errors to messages and exit codes is the one under test. What a fresh process would give each
command is given here too: its own environment, working directory, stdin and consoles, and no
settings cached from an earlier command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from click.testing import CliRunner

from ntrader.cli import output
from ntrader.cli.main import main
from ntrader.core import strategy_registry
from ntrader.utils.settings import get_settings


def _fresh_state() -> None:
    """Forget what a previous command cached: settings and consoles read the environment."""
    get_settings.cache_clear()
    output.stdout.cache_clear()
    output.stderr.cache_clear()


@contextmanager
def _own_strategy_registry() -> Iterator[None]:
    """A registry of the built-in strategies only, as a new process has: what --strategy-path
    loads must not stay known to later commands."""
    previous = strategy_registry._REGISTRY
    strategy_registry._REGISTRY = strategy_registry.StrategyRegistry()
    try:
        yield
    finally:
        strategy_registry._REGISTRY = previous


@contextmanager
def _console_script_main() -> Iterator[None]:
    """A ``__main__`` without a package, as the console script's is: click names the program
    after it (under ``python -m pytest`` it would say "python -m pytest", not "ntrader")."""
    previous = sys.modules["__main__"]
    sys.modules["__main__"] = ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = previous


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def invoke_ntrader(
    args: tuple[str, ...], *, env: Mapping[str, str], cwd: Path, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``ntrader *args`` in-process with exactly ``env`` as its environment."""
    # Only the differences are applied (and undone afterwards) by click's isolation.
    overrides: dict[str, str | None] = {key: None for key in os.environ if key not in env}
    overrides.update({key: value for key, value in env.items() if os.environ.get(key) != value})
    argv = ["ntrader", *args]
    runner = CliRunner()
    saved_argv = sys.argv
    with (
        _working_directory(cwd),
        _own_strategy_registry(),
        _console_script_main(),
        runner.isolation(input=input, env=overrides) as (stdout, stderr, _),
    ):
        sys.argv = argv
        _fresh_state()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = saved_argv
            _fresh_state()
        sys.stdout.flush()
        sys.stderr.flush()
        return subprocess.CompletedProcess(
            argv, code, stdout.getvalue().decode(), stderr.getvalue().decode()
        )
