"""Consoles, JSON output and error messages. Messages go to stderr; results to stdout.

Anything that comes from the user or the data (ids, names, paths, error messages) is printed
as a rich ``Text`` (or escaped), never as markup: a name like ``[/]`` must print as itself.
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from typing import Any

from rich.console import Console
from rich.text import Text

from ntrader.utils.json_safe import json_safe


@cache
def stdout() -> Console:
    # Rich itself drops colours when NO_COLOR is set. Not soft_wrap=True here: it would crop
    # text inside panels; lines of their own pass soft_wrap=True (see print_line).
    return Console(highlight=False)


@cache
def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def styled(text: object, style: str | None = None) -> Text:
    """Literal text (never parsed as markup) in an optional style."""
    return Text(str(text), style=style or "")


def print_json(payload: Any) -> None:
    """Strict JSON on stdout (JSON has no NaN or Infinity: they are written as null)."""
    clean, notes = json_safe(payload)
    if notes:
        shown = "; ".join(notes[:5]) + (f"; and {len(notes) - 5} more" if len(notes) > 5 else "")
        print_warning(f"{shown}; written as null.")
    sys.stdout.write(json.dumps(clean, indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def print_line(text: Text, console: Console | None = None) -> None:
    """One line that is never cut or broken at the terminal width (a path, an id, a command
    to copy): the terminal wraps it, so copying it gives it back whole."""
    (console or stdout()).print(text, soft_wrap=True)


def print_error(message: str, hint: str | None = None) -> None:
    print_line(Text.assemble(("Error: ", "bold red"), message), stderr())
    if hint:
        print_line(Text(hint, style="dim"), stderr())


def print_warning(message: str) -> None:
    print_line(Text.assemble(("Warning: ", "yellow"), message), stderr())


def print_success(message: str) -> None:
    print_line(Text.assemble(("✓ ", "green"), message), stderr())


# Credentials in connection strings: scheme://user:PASSWORD@host and libpq's password=...
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)
_KEY_PASSWORD = re.compile(r"\b(password|passwd|pwd)\s*=\s*\S+", re.IGNORECASE)


def describe_exception(exc: BaseException, limit: int = 200) -> str:
    """A short, safe description of an unexpected exception: its type and the first line of
    its message, without SQL statements, bound parameters or passwords (SQLAlchemy errors
    embed the statement and its parameters in their text)."""
    cause = getattr(exc, "orig", None)  # SQLAlchemy's DBAPIError wraps the driver's error
    text = str(cause if isinstance(cause, BaseException) else exc)
    text = re.split(r"\[SQL:|\[parameters:|\(Background on this error", text)[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    first = _KEY_PASSWORD.sub(r"\1=***", _URL_PASSWORD.sub(r"\1***@", first))
    if len(first) > limit:
        first = first[: limit - 1] + "…"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# How the metric catalog's tones (services/reports/catalog.py) look in the terminal; never
# an empty style, so ``f"[{style}]…"`` is always valid markup.
TONE_STYLE = {"good": "green", "bad": "red", "neutral": "default"}


def print_json_error(
    message: str, exit_code: int, hint: str | None = None, details: dict[str, Any] | None = None
) -> None:
    """The --json form of a failure: one object on stdout, so scripts never parse nothing;
    ``details`` (an error's own fields, such as the rules a file broke) are added to it."""
    error = {**(details or {}), "error": message, "exit_code": exit_code, "hint": hint}
    sys.stdout.write(json.dumps(error, indent=2) + "\n")
    sys.stdout.flush()


def status_label(status: str, *, stale: bool) -> str:
    """A stored status as tables show it: RUNNING whose process is gone says so."""
    return f"{status} (stale)" if stale else status
