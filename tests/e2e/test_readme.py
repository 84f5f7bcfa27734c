"""README.md's commands, run as written: the README cannot drift from the CLI.

Every line of every fenced ``bash`` block is either an ``ntrader`` command (with or without
``uv run``), which runs here in order on a fresh store, or one of OTHER_COMMANDS.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import RunCli

pytestmark = pytest.mark.slow

README = REPO_ROOT / "README.md"

# Inputs the README's examples read, relative to the checkout (where `uv run` is used).
CHECKOUT_INPUTS = ("data", "configs", "examples")

# README lines that are not ntrader commands, and where they are covered instead.
OTHER_COMMANDS = {
    "uv run pytest": "the test suite itself",
    "uv run python benchmarks/run.py": "minutes long; run by hand (benchmarks/README.md)",
    "uv run ruff check . && uv run ruff format --check .": "test_the_lint_command_passes",
    "bash .ci/run": "CI itself",
}

# ntrader commands that cannot run on a fresh store as written, and why. Keep this short.
SKIPPED = {
    "ntrader backtest resume 3f2a": "needs an interrupted run: tests/e2e/test_interrupt.py",
}

# Example run ids in the README; each stands for a different completed run of this store.
PLACEHOLDER_IDS = ("3f2a", "9c1e")


def bash_commands(markdown: str) -> Iterator[list[str]]:
    """Each command of the fenced bash blocks as words: continuations joined, comments dropped."""
    for block in re.findall(r"^```bash\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            if words := shlex.split(line, comments=True):
                yield words


def ntrader_args(words: list[str]) -> list[str] | None:
    if words[:3] == ["uv", "run", "ntrader"]:
        return words[3:]
    if words[:1] == ["ntrader"]:
        return words[1:]
    return None


def test_bash_commands_join_continuations_and_drop_comments() -> None:
    markdown = (
        "text\n```bash\nuv run ntrader a \\\n    --b 'c d'   # note\n\n# only a comment\n```\n"
        "```yaml\nntrader not: bash\n```\n"
    )
    assert list(bash_commands(markdown)) == [["uv", "run", "ntrader", "a", "--b", "c d"]]
    assert ntrader_args(["uv", "run", "ntrader", "a", "--b", "c d"]) == ["a", "--b", "c d"]
    assert ntrader_args(["uv", "run", "pytest"]) is None


def test_readme_starts_with_the_demo_and_the_tests() -> None:
    first_two = [" ".join(words) for words in bash_commands(README.read_text())][:2]
    assert first_two == ["uv run ntrader demo", "uv run pytest"]


def _completed_run_ids(run_cli: RunCli) -> list[str]:
    listing = run_cli("--json", "backtest", "list", "--status", "completed").stdout
    return [run["id"] for run in json.loads(listing)]


def test_every_readme_command_runs(run_cli: RunCli, invoke_cli: RunCli, tmp_path: Path) -> None:
    """In-process, but for the demo: the first thing a new user runs goes through the console
    script."""
    for name in CHECKOUT_INPUTS:
        (tmp_path / name).symlink_to(REPO_ROOT / name, target_is_directory=True)
    commands = list(bash_commands(README.read_text()))
    others = {" ".join(words) for words in commands if ntrader_args(words) is None}
    assert sorted(others) == sorted(OTHER_COMMANDS), "update OTHER_COMMANDS"
    to_run = [words for words in commands if ntrader_args(words) is not None]
    lines = [" ".join(words) for words in to_run]
    assert set(SKIPPED) <= set(lines), "a SKIPPED command is no longer in the README"
    ran: set[tuple[str, ...]] = set()
    for words, line in zip(to_run, lines, strict=True):
        args = ntrader_args(words) or []
        # A command the README repeats (`ntrader demo`, `backtest show latest`) runs once.
        if line in SKIPPED or tuple(args) in ran:
            continue
        ran.add(tuple(args))
        if any(placeholder in line for placeholder in PLACEHOLDER_IDS):
            run_ids = _completed_run_ids(invoke_cli)
            assert len(run_ids) >= len(PLACEHOLDER_IDS), f"{line}: too few runs yet"
            for placeholder, run_id in zip(PLACEHOLDER_IDS, run_ids, strict=False):
                args = [arg.replace(placeholder, run_id) for arg in args]
        execute = run_cli if args == ["demo"] else invoke_cli
        result = execute(*args, check_exit=None)
        assert result.returncode == 0, (
            f"README command failed (exit {result.returncode}): {line}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )


def test_the_lint_command_passes() -> None:
    (command,) = (line for line in OTHER_COMMANDS if "ruff" in line)
    bin_dir = Path(sys.executable).parent
    for part in command.split(" && "):
        tokens = part.split()
        assert tokens[:3] == ["uv", "run", "ruff"], part
        # The project venv's ruff is what `uv run ruff` runs; calling it directly skips a sync.
        result = subprocess.run(
            [str(bin_dir / "ruff"), *tokens[3:]],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env={**os.environ, "NO_COLOR": "1"},
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{part}\n{result.stdout}\n{result.stderr}"
