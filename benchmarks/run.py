"""ntrader's benchmarks (SPEC §10): one command, one table.

    uv run python benchmarks/run.py [--repeat N] [--quick] [--only NAME ...] [--json PATH]

Every ratio compares a measured thing with its floor timed in the same repetitions; see
benchmarks/README.md for what each row measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from cases import CASES, FULL, QUICK, BenchContext
from harness import Backend, PostgresBackend, PostgresServer, Row, SqliteBackend
from rich.console import Console
from rich.table import Table

_VERDICT_STYLE = {
    "PASS": "bold green",
    "FAIL": "bold red",
    "info": "cyan",
    "skipped": "yellow",
    "error": "bold red",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Run ntrader's benchmarks and print a table of medians and ratios.",
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="repetitions per benchmark (default 5; quick 3)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and 3 repetitions (a ~1 min smoke test)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(CASES),
        metavar="NAME",
        help=f"run only these benchmarks ({', '.join(CASES)})",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _memory_gb() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.0f} GB"
    except OSError:
        pass
    return "?"


def _git_state() -> str:
    """The commit measured, and whether src/ had uncommitted changes."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", "src")
    return f"{commit} + uncommitted changes in src/" if dirty else commit


def load_average() -> str:
    """1/5/15-minute load averages: other work on the machine makes timings noisy."""
    if not hasattr(os, "getloadavg"):
        return "?"
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def machine_info(postgres_version: str) -> dict[str, str]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": _cpu_model(),
        "cores": f"{os.cpu_count()} logical" + (f", {affinity} usable" if affinity else ""),
        "memory": _memory_gb(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "nautilus_trader": version("nautilus_trader"),
        "ntrader": version("ntrader"),
        "numpy / pandas": f"{version('numpy')} / {version('pandas')}",
        "sqlalchemy / psycopg": f"{version('sqlalchemy')} / {version('psycopg')}",
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version,
        "temp dir": tempfile.gettempdir(),
        "load average at start": load_average(),
        "ntrader commit": _git_state(),
    }


def print_machine(console: Console, info: dict[str, str]) -> None:
    table = Table(title="Machine", show_header=False, box=None, padding=(0, 1))
    table.add_column(style="bold")
    table.add_column()
    for key, value in info.items():
        table.add_row(key, value)
    console.print(table)


def results_table(rows: list[Row], title: str) -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("benchmark")
    table.add_column("backend")
    table.add_column("median", justify="right")
    table.add_column("ratio / throughput", justify="right")
    table.add_column("floor", justify="right")
    table.add_column("target")
    table.add_column("verdict")
    table.add_column("nautilus on --help", justify="center")
    table.add_column("notes", overflow="fold")
    for row in rows:
        table.add_row(
            row.benchmark,
            row.backend,
            row.median,
            row.value,
            row.floor,
            row.target,
            f"[{_VERDICT_STYLE[row.verdict]}]{row.verdict}[/]",
            row.nautilus_on_help,
            row.notes,
        )
    return table


def _exit_on_signal(signum: int, _frame: object) -> None:
    # Unwind normally, so the PostgreSQL databases and the temp directory are removed.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Piped to a file or a CI log, rich would wrap the table at 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=220)
    progress = Console(stderr=True)
    sizes = QUICK if args.quick else FULL
    selected = args.only or list(CASES)

    server = PostgresServer()
    down = server.available()
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory(prefix="ntrader-bench-") as tmp:
            workdir = Path(tmp)
            backends: list[Backend] = [SqliteBackend(workdir)]
            skipped: dict[str, str] = {}
            if down is None:
                backends.append(PostgresBackend(server))
            else:
                skipped["postgresql"] = f"server unavailable ({down})"
            info = machine_info(server.version() if down is None else "unavailable")
            print_machine(console, info)
            ctx = BenchContext(
                repeat=args.repeat,
                sizes=sizes,
                workdir=workdir,
                backends=backends,
                skipped_backends=skipped,
                log=lambda text: progress.print(f"[dim]{text}[/]", highlight=False),
            )
            for name in selected:
                progress.print(f"[bold]» {name}[/]")
                try:
                    rows.extend(CASES[name](ctx))
                except Exception as exc:
                    traceback.print_exc()
                    rows.append(Row(name, "-", "-", "-", "-", "error", notes=repr(exc)[:300]))
    finally:
        server.close()

    mode = "quick" if args.quick else "full"
    title = (
        f"ntrader benchmarks ({mode}; medians of {args.repeat} runs; "
        "each ratio against its floor timed in the same runs)"
    )
    console.print(results_table(rows, title))
    info["load average at end"] = load_average()
    busy = os.getloadavg()[1] if hasattr(os, "getloadavg") else 0.0
    cores = os.cpu_count() or 1
    console.print(
        f"load average at end (1/5/15 min): {info['load average at end']}"
        + (
            f" — [yellow]the machine was busy (5-min load {busy:.1f} on {cores} cores); "
            "absolute times are noisy, ratios less so[/]"
            if busy > cores
            else ""
        )
    )
    if args.json:
        payload: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": mode,
            "repeat": args.repeat,
            "sizes": asdict(sizes),
            "machine": info,
            "rows": [asdict(row) for row in rows],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        console.print(f"wrote {args.json}")
    return 1 if any(row.verdict in ("FAIL", "error") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
