"""The docs name only things that exist: source paths, ntrader commands and their flags,
linked pages, and every setting. Checked in-process against click's command tree."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import click
import pytest

from ntrader.cli.main import cli
from ntrader.core.strategy_registry import PATH_VARIABLE
from ntrader.utils.settings import Settings
from tests.conftest import REPO_ROOT

DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
PAGES = [*DOCS, REPO_ROOT / "README.md"]

# Shell blocks only: a `text` block shows output, where `ntrader interactive:` is no command.
_SHELL_FENCE = re.compile(
    r"^[ \t]*```(?:bash|sh|shell|console)?\n(.*?)^[ \t]*```$", re.MULTILINE | re.DOTALL
)
_ANY_FENCE = re.compile(r"^[ \t]*```.*?^[ \t]*```$", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")
_SOURCE_PATH = re.compile(r"\bsrc/ntrader/[\w/.-]*\w")
_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
# A shell line's words before `ntrader`: an environment assignment, `uv run`, a prompt.
_PREFIX_WORDS = re.compile(r"^(?:\$|uv|run|[A-Z_]+=\S*)$")


def _page_id(page: Path) -> str:
    return page.name


def _code_lines(markdown: str) -> Iterator[str]:
    """Fenced lines (continuations joined) and inline code spans."""
    for block in _SHELL_FENCE.findall(markdown):
        yield from block.replace("\\\n", " ").splitlines()
    yield from _INLINE.findall(_ANY_FENCE.sub("", markdown))


def ntrader_commands(markdown: str) -> Iterator[list[str]]:
    """The words after `ntrader` of each command line the page shows."""
    for line in _code_lines(markdown):
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        while words and _PREFIX_WORDS.match(words[0]) and words[0] != "ntrader":
            words = words[1:]
        if words[:3] == ["docker", "compose", "run"]:
            # The service `ntrader` runs the image's entrypoint, ntrader, with the rest.
            words = words[3:]
            while words and words[0].startswith("-"):
                words = words[1:]
        if len(words) > 1 and words[0] == "ntrader":
            yield words[1:]


def _options(command: click.Command) -> dict[str, click.Option]:
    return {
        name: param
        for param in command.params
        if isinstance(param, click.Option)
        for name in (*param.opts, *param.secondary_opts)
    }


@cache
def _global_options() -> dict[str, click.Option]:
    return _options(cli)


def unknown_words(args: list[str]) -> list[str]:
    """The subcommands and flags of ``args`` that the command tree does not have."""
    context = click.Context(cli)
    command: click.Command = cli
    unknown: list[str] = []
    descending = True
    words = iter(args)
    for word in words:
        if word in {"...", "…"}:
            break  # the rest is left out (`ntrader backtest run ...`)
        if word.startswith("-"):
            flag, _, value = word.partition("=")
            option = (_options(command) | _global_options()).get(flag)
            if option is None and flag not in {"--help", "-h"}:
                unknown.append(flag)
            elif option is not None and not option.is_flag and not value:
                next(words, None)  # the option's value
            continue
        if descending and isinstance(command, click.Group):
            sub = command.get_command(context, word)
            if sub is None:
                if not command.invoke_without_command:
                    unknown.append(word)
                descending = False
                continue
            command = sub
            continue
        descending = False
    return unknown


def test_the_command_check_finds_unknown_commands_and_flags() -> None:
    assert unknown_words(["backtest", "run", "--instruments", "AAPL", "--json"]) == []
    assert unknown_words(["--json", "backtest", "sweep", "--grid", "x=1:2:1"]) == []
    assert unknown_words(["backtest", "sprint"]) == ["sprint"]
    assert unknown_words(["data", "import", "--fil", "F.csv"]) == ["--fil"]
    assert unknown_words(["--log-format", "json", "--json", "db", "current"]) == []
    markdown = (
        "Run `ntrader demo`.\n```bash\nNTRADER_X=1 uv run ntrader db current  # note\n```\n"
        "```sh\ndocker compose run --rm ntrader db upgrade\n```\n"
    )
    assert list(ntrader_commands(markdown)) == [["db", "current"], ["db", "upgrade"], ["demo"]]


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_ntrader_command_exists(page: Path) -> None:
    wrong = {
        " ".join(args): unknown
        for args in ntrader_commands(page.read_text(encoding="utf-8"))
        if (unknown := unknown_words(args))
    }
    assert not wrong, f"{page.name} names commands or flags ntrader does not have: {wrong}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_source_path_exists(page: Path) -> None:
    missing = sorted(
        path
        for path in set(_SOURCE_PATH.findall(page.read_text(encoding="utf-8")))
        if not (REPO_ROOT / path).exists()
    )
    assert not missing, f"{page.name} names paths that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_relative_link_resolves(page: Path) -> None:
    links = _LINK.findall(page.read_text(encoding="utf-8"))
    missing = sorted(
        link for link in links if "://" not in link and not (page.parent / link).exists()
    )
    assert not missing, f"{page.name} links to files that do not exist: {missing}"


def test_architecture_names_only_modules_that_exist() -> None:
    # architecture.md names modules relative to src/ntrader/ (`services/metrics.py`).
    text = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:cli|api|services|core|db|models|utils)/[\w/]*\.py)`", text))
    missing = sorted(path for path in named if not (REPO_ROOT / "src/ntrader" / path).exists())
    assert named and not missing, f"architecture.md names modules that do not exist: {missing}"


def _command_paths(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[str]:
    if not isinstance(command, click.Group) or command.invoke_without_command:
        yield " ".join(path)
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None
            yield from _command_paths(sub, (*path, name))


def test_the_commands_table_lists_every_command() -> None:
    text = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    rows = text.split("## Commands", 1)[1].split("\n## ", 1)[0].splitlines()

    def listed(path: str) -> bool:
        parent, _, name = path.rpartition(" ")
        return any(
            f"`ntrader {path}`" in row or (f"`ntrader {parent}" in row and f"`{name}`" in row)
            for row in rows
        )

    paths = [path for path in _command_paths(cli) if path]
    missing = [path for path in paths if not listed(path)]
    assert len(paths) > 40 and not missing, f"docs/cli.md's commands table misses {missing}"


def test_the_settings_table_lists_every_setting() -> None:
    text = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    table = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(NTRADER_[A-Z_]+)`", table, flags=re.MULTILINE))
    fields = {f"NTRADER_{name.upper()}" for name in Settings.model_fields}
    # Read by the strategy registry itself, before any settings exist.
    fields.add(PATH_VARIABLE)
    assert listed == fields, (
        f"docs/cli.md's settings table: missing {sorted(fields - listed)}, "
        f"unknown {sorted(listed - fields)}"
    )
