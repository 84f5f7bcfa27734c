"""The console script's side of the warm worker: which command lines go to a spare, and the
fingerprint that keeps a spare from running code other than what the command would import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ntrader.cli.main import cli
from ntrader.cli.warm import fingerprint, warm_command


@pytest.mark.parametrize(
    "argv",
    [
        ("backtest", "run", "--strategy", "sma_crossover"),
        ("--json", "backtest", "run"),
        ("--database-url", "sqlite:///x.db", "--debug", "backtest", "run", "--json"),
        ("--database-url=sqlite:///x.db", "backtest", "run"),
        ("--strategy-path", "plugins", "--log-format", "json", "backtest", "run"),
        ("backtest", "run", "--json", "--", "--help"),
    ],
)
def test_backtest_run_goes_to_a_spare(argv: tuple[str, ...]) -> None:
    assert warm_command(argv, cli)


@pytest.mark.parametrize(
    "argv",
    [
        (),
        ("--help",),
        ("backtest", "run", "--help"),
        ("backtest", "run", "-h"),
        ("--version", "backtest", "run"),
        ("backtest", "list"),
        ("backtest",),
        ("interactive",),
        ("serve",),
        ("--json", "run-simple"),
        ("--no-such-flag", "backtest", "run"),
        ("--database-url", "backtest", "run"),  # "backtest" is the URL
    ],
)
def test_anything_else_runs_in_its_own_process(argv: tuple[str, ...]) -> None:
    assert not warm_command(argv, cli)


def test_the_fingerprint_changes_with_a_source_file_and_only_then(tmp_path: Path) -> None:
    package = tmp_path / "package"
    (package / "sub" / "__pycache__").mkdir(parents=True)
    module = package / "sub" / "module.py"
    module.write_text("VALUE = 1\n")
    first = fingerprint(package)
    (package / "sub" / "__pycache__" / "module.cpython-312.pyc").write_bytes(b"compiled")
    (package / "notes.txt").write_text("not code")
    assert fingerprint(package) == first
    module.write_text("VALUE = 2\n")  # same size: the modification time tells
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    edited = fingerprint(package)
    assert edited != first
    (package / "sub" / "new.py").write_text("")
    assert fingerprint(package) not in (first, edited)


def test_the_fingerprint_changes_with_the_interpreter_s_start_up_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = fingerprint(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    assert fingerprint(tmp_path) != before


def test_deciding_imports_nothing_heavy(tmp_path: Path) -> None:
    """`--help` passes the warm check with nothing more than click loaded; a `backtest run`
    with no spare to take it tries the socket without pydantic, SQLAlchemy or the engine."""
    probe = (
        "import sys\n"
        "from ntrader.cli.main import cli\n"
        "from ntrader.cli import warm\n"
        "assert not warm.warm_command(['--help'], cli)\n"
        "help_path = {'socket', 'subprocess', 'json', 'hashlib'} & set(sys.modules)\n"
        "assert warm.run_in_spare(['ntrader', 'backtest', 'run']) is None\n"
        "heavy = ('pydantic', 'sqlalchemy', 'nautilus_trader', 'pandas', 'numpy')\n"
        "print(sorted(help_path), [m for m in sys.modules if m.startswith(heavy)])\n"
    )
    # Without coverage's start-up hook (CI measures subprocesses): it loads json, socket and
    # hashlib itself, which would hide the same imports made by the CLI.
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("COVERAGE_")
    }
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**environment, "XDG_RUNTIME_DIR": str(tmp_path)},
    )
    assert result.stdout.strip() == "[] []"
