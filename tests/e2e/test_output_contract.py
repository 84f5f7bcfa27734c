"""What the CLI prints: help with runnable examples, hostile text, --json on failure, colours.

The contract (SPEC §4): with --json, stdout carries exactly one JSON document, also when the
command fails; stderr carries one human sentence; no traceback, SQL or password ever shows.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click
import pytest
from sqlalchemy import create_engine, text

from ntrader.cli.main import cli
from ntrader.services import run_history
from tests.e2e.conftest import NTRADER, RunCli


def _walk(
    command: click.Command, ctx: click.Context
) -> Iterator[tuple[click.Command, click.Context]]:
    yield command, ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from _walk(sub, click.Context(sub, parent=ctx, info_name=name))


def _examples(help_text: str) -> list[str]:
    """The lines under each "Example(s):" heading, with backslash continuations joined."""
    examples: list[str] = []
    lines = help_text.splitlines()
    for number, heading in enumerate(lines):
        if not re.fullmatch(r"\s*Examples?\b.*:\s*", heading):
            continue
        indent = len(heading) - len(heading.lstrip())
        pending = ""
        for line in lines[number + 1 :]:
            if not line.strip() or len(line) - len(line.lstrip()) <= indent:
                break
            pending = f"{pending} {line.strip()}".strip()
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip()
                continue
            examples.append(pending)
            pending = ""
        assert not pending, f"unfinished continuation: {pending}"
    return examples


_HELP = click.Option(["-h", "--help"], is_flag=True)


def _flags(command: click.Command) -> dict[str, click.Parameter]:
    flags: dict[str, click.Parameter] = {"--help": _HELP, "-h": _HELP}
    for param in command.params:
        if isinstance(param, click.Option):
            flags.update((name, param) for name in (*param.opts, *param.secondary_opts))
    return flags


def _invoked_path(example: str) -> list[str]:
    """The command an example runs (as names from the root), checking each --flag on the way
    against the options of the group or command it is given to."""
    words = shlex.split(example)
    assert words[0] == "ntrader", example
    command: click.Command = cli
    ctx = click.Context(cli, info_name="ntrader")
    path = ["ntrader"]
    rest = words[1:]
    while rest:
        word = rest.pop(0)
        if word.startswith("-"):
            flag = word.split("=", 1)[0]
            param = _flags(command).get(flag)
            assert param is not None, f"{example}: `{' '.join(path)}` has no option {flag}"
            if isinstance(param, click.Option) and not param.is_flag and "=" not in word:
                assert rest, f"{example}: {flag} needs a value"
                rest.pop(0)
        elif isinstance(command, click.Group):
            sub = command.get_command(ctx, word)
            assert sub is not None, f"{example}: `{' '.join(path)}` has no command {word}"
            command, ctx = sub, click.Context(sub, parent=ctx, info_name=word)
            path.append(word)
    return path


def test_every_command_and_group_shows_runnable_examples() -> None:
    root = click.Context(cli, info_name="ntrader")
    checked = 0
    for command, ctx in _walk(cli, root):
        help_text = command.get_help(ctx)
        examples = _examples(help_text)
        assert examples, f"`{ctx.command_path} --help` has no Example(s) block:\n{help_text}"
        for example in examples:
            assert example.startswith("ntrader "), example
            invoked = _invoked_path(example)
            assert invoked[: len(ctx.command_path.split())] == ctx.command_path.split(), (
                f"`{ctx.command_path}` shows an example of `{' '.join(invoked)}`"
            )
        checked += 1
    assert checked >= 33  # the lazily loaded groups were walked too


def _cli_env(cli_env: dict[str, str], database_url: str, **overrides: str) -> dict[str, str]:
    return {**cli_env, "NTRADER_DATABASE_URL": database_url, **overrides}


def _json_error(result: subprocess.CompletedProcess[str], exit_code: int) -> dict[str, Any]:
    """stdout is exactly one error object, and the exit code matches it."""
    assert result.returncode == exit_code, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"error", "exit_code", "hint"}
    assert payload["exit_code"] == exit_code
    assert "Traceback" not in result.stderr
    return payload


def _stored_runs(invoke_cli: RunCli, database_url: str) -> list[Any]:
    return json.loads(invoke_cli("backtest", "list", "--json", database_url=database_url).stdout)


@pytest.mark.slow
def test_a_markup_like_run_id_is_echoed_verbatim(invoke_cli: RunCli, database_url: str) -> None:
    human = invoke_cli("backtest", "show", "[/]", database_url=database_url, check_exit=1)
    assert human.stdout == ""
    assert "Error: No backtest matches '[/]'." in human.stderr
    assert "Traceback" not in human.stderr
    machine = invoke_cli(
        "backtest", "show", "[bold", "--json", database_url=database_url, check_exit=1
    )
    payload = _json_error(machine, 1)
    assert payload["error"] == "No backtest matches '[bold'."
    assert "ntrader backtest list" in payload["hint"]
    assert "No backtest matches '[bold'." in machine.stderr  # the sentence stays on stderr
    assert _stored_runs(invoke_cli, database_url) == []


# Slow SMA periods that never cross in Q1 2020: no trade, exactly 0.00 % return.
_ZERO_RETURN_RUN = (
    *("backtest", "run", "--instruments", "AAPL", "--start", "2020-01-01", "--end", "2020-03-31"),
    *("--fast-period", "50", "--slow-period", "60"),
)


@pytest.mark.slow
def test_a_zero_return_run_is_listed_and_its_lines_are_not_broken(
    invoke_cli: RunCli, stocked: str, cli_env: dict[str, str]
) -> None:
    """A run that never trades returns exactly 0.00 %; `backtest list` used to crash on it."""
    run = subprocess.run(
        [str(NTRADER), *_ZERO_RETURN_RUN],
        env=_cli_env(cli_env, stocked, COLUMNS="40"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    # The closing line names the command to copy; at 40 columns it must stay one line.
    footer = re.search(
        r"^Run ([0-9a-f-]{36}) · .*`ntrader backtest show (\w{8})`$", run.stdout, re.M
    )
    assert footer is not None, run.stdout
    listed = invoke_cli("backtest", "list", database_url=stocked)
    assert "0.00%" in listed.stdout
    assert footer.group(2) in listed.stdout
    assert "+0.00%" not in listed.stdout and "-0.00%" not in listed.stdout
    assert "0.00%" in invoke_cli("backtest", "show", "latest", database_url=stocked).stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backtest", "run", "--instruments", "AAPL", "--timeframe", "2MIN", "--json"], "2MIN"),
        (["--json", "backtest", "run", "--no-such-flag"], "--no-such-flag"),
        (["--json", "backtest", "launch"], "launch"),
        (["--json", "data"], "`ntrader data` needs a command."),
    ],
)
def test_usage_errors_with_json_print_one_error_object(
    invoke_cli: RunCli, tmp_path: Path, args: list[str], message: str
) -> None:
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    result = invoke_cli(*args, database_url=url, check_exit=2)
    payload = _json_error(result, 2)
    assert message in payload["error"]
    assert payload["hint"].startswith("Run `ntrader ")
    assert "Usage:" in result.stderr


@pytest.mark.slow
def test_an_unreachable_database_with_json_exits_3_without_the_password(invoke_cli: RunCli) -> None:
    url = "postgresql+psycopg://nobody:s3cret-pw@127.0.0.1:1/none"
    result = invoke_cli("data", "list", "--json", database_url=url, check_exit=3)
    payload = _json_error(result, 3)
    assert payload["error"].startswith("Cannot reach the database at postgresql+psycopg://nobody:")
    assert "s3cret-pw" not in result.stdout + result.stderr


def _buggy_get(*_args: object, **_kwargs: object) -> NoReturn:
    """A bug planted where `backtest show` reads the run: a real SQLAlchemy error, whose text
    embeds the INSERT and its secret parameter, escapes every expected-error handler."""
    with create_engine("sqlite://").begin() as connection:
        connection.execute(text("CREATE TABLE t (name TEXT PRIMARY KEY)"))
        for _ in range(2):
            connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": "hunter2-secret"})
    raise AssertionError("the second INSERT must fail")


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_an_unexpected_error_shows_no_sql_or_parameters(
    invoke_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    json_flag: tuple[str, ...],
) -> None:
    monkeypatch.setattr(run_history.RunHistory, "get", _buggy_get)
    result = invoke_cli(
        *("backtest", "show", "latest", *json_flag),
        database_url=f"sqlite:///{tmp_path / 'bug.db'}",
        check_exit=1,
    )
    message = "Unexpected error: IntegrityError: UNIQUE constraint failed: t.name"
    assert f"Error: {message}" in result.stderr
    for leak in ("INSERT", "[SQL", "parameters", "hunter2", "Traceback"):
        assert leak not in result.stdout + result.stderr
    if json_flag:
        payload = _json_error(result, 1)
        assert payload["error"] == message
        assert payload["hint"].startswith("Re-run with --debug")
    else:
        assert result.stdout == ""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "listing"),
    [
        (("data", "import", "--instrument", "AAPL", "--file"), ("data", "list")),
        (
            ("strategy", "create", "--name", "x", "--type", "sma", "--params-file"),
            ("strategy", "list"),
        ),
    ],
)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_with_json_prints_one_error_object_and_stores_nothing(
    invoke_cli: RunCli,
    database_url: str,
    cli_env: dict[str, str],
    tmp_path: Path,
    command: tuple[str, ...],
    listing: tuple[str, ...],
    stop: signal.Signals,
) -> None:
    """Interrupt a command (Ctrl-C, or a supervisor's SIGTERM, taken the same way) while it
    reads a file from a pipe that never delivers the rest."""
    fifo = tmp_path / "input"
    os.mkfifo(fifo)
    process = subprocess.Popen(
        [str(NTRADER), *command, str(fifo), "--json"],
        env=_cli_env(cli_env, database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Opening the write end returns once the command has opened the file to read it.
    writer = os.open(fifo, os.O_WRONLY)
    try:
        os.write(writer, b"timestamp,open,high,low,close,volume\n")
        time.sleep(0.5)  # let it block reading the rest
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        os.close(writer)
    payload = _json_error(
        subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), 128 + stop
    )
    said = payload["error"].lower()
    assert "interrupted" in said or (stop is signal.SIGTERM and "stopped by sigterm" in said)
    assert f"Error: {payload['error']}" in stderr
    assert json.loads(invoke_cli(*listing, "--json", database_url=database_url).stdout) == []


@pytest.mark.slow
@pytest.mark.parametrize(("no_color", "coloured"), [(None, True), ("1", False)])
def test_no_color_turns_colours_off(
    cli_env: dict[str, str], tmp_path: Path, no_color: str | None, coloured: bool
) -> None:
    env = {k: v for k, v in cli_env.items() if k != "NO_COLOR"}
    env.update(TERM="xterm-256color", FORCE_COLOR="1")
    if no_color:
        env["NO_COLOR"] = no_color
    result = subprocess.run(
        [str(NTRADER), "backtest", "show", "nope"],
        env=_cli_env(env, f"sqlite:///{tmp_path / 'colour.db'}"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "No backtest matches 'nope'." in result.stderr
    colour_codes = re.findall(r"\x1b\[[0-9;]*(?:3[0-9]|9[0-7])[;m]", result.stderr)
    assert bool(colour_codes) is coloured, repr(result.stderr)
