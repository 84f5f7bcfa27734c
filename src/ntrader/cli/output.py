"""Consoles, JSON output and error messages. Messages go to stderr; results to stdout."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from functools import cache
from typing import Any

from rich.console import Console


@cache
def stdout() -> Console:
    return Console(highlight=False)


@cache
def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, default=_default, indent=2, allow_nan=False) + "\n")


def print_error(message: str, hint: str | None = None) -> None:
    console = stderr()
    console.print(f"[bold red]Error:[/] {message}", soft_wrap=True)
    if hint:
        console.print(f"[dim]{hint}[/]", soft_wrap=True)


def print_warning(message: str) -> None:
    stderr().print(f"[yellow]Warning:[/] {message}", soft_wrap=True)


def print_success(message: str) -> None:
    stderr().print(f"[green]✓[/] {message}", soft_wrap=True)


def signed_style(value: float | None) -> str:
    if value is None or value == 0:
        return ""
    return "green" if value > 0 else "red"


def fmt_pct(value: float | None, digits: int = 2, *, signed: bool = True) -> str:
    if value is None:
        return "—"
    if not signed or value == 0:
        return f"{value * 100:.{digits}f}%"
    return f"{value * 100:+.{digits}f}%"


def fmt_num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def fmt_money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"
