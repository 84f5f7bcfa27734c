"""Timing, result rows and throw-away databases shared by the benchmark cases."""

from __future__ import annotations

import gc
import secrets
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql

from ntrader.db.database import Database

Verdict = Literal["PASS", "FAIL", "info", "skipped", "error"]

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass
class Row:
    """One line of the results table (and one object of the JSON output)."""

    benchmark: str
    backend: str
    median: str  # formatted median wall time of the measured thing
    value: str  # ratio or throughput, formatted
    target: str
    verdict: Verdict
    floor: str = ""  # formatted median of the floor, when there is one
    nautilus_on_help: str = ""
    notes: str = ""
    samples_s: list[float] = field(default_factory=list)
    floor_samples_s: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timed(action: Callable[[], object]) -> float:
    """Wall time of one call, after a full garbage collection (so earlier garbage is not billed)."""
    gc.collect()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def interleave(repeat: int, actions: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run every action once per repetition, rotating which goes first.

    Each action does its own untimed set-up and returns the seconds of its timed part, so a
    measured thing and its floor are always timed moments apart, under the same machine load.
    """
    names = list(actions)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repeat):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(actions[name]())
    return samples


def ratios(measured: Sequence[float], floor: Sequence[float]) -> list[float]:
    """Per-repetition ratios; their median is the reported ratio."""
    return [m / f for m, f in zip(measured, floor, strict=True)]


def fmt_seconds(seconds: float) -> str:
    if seconds < 1.0:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def spread(values: Sequence[float]) -> str:
    return f"{fmt_seconds(min(values))} to {fmt_seconds(max(values))}"


# --- databases -----------------------------------------------------------------------------------


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


class PostgresServer:
    """Creates ``ntrader_bench_<random>...`` databases and drops every one of them on close."""

    def __init__(self, admin_url: str = PG_ADMIN_URL) -> None:
        self._admin_url = admin_url
        self.prefix = f"ntrader_bench_{secrets.token_hex(4)}"
        self._created: list[str] = []
        self._counter = 0

    @property
    def _conninfo(self) -> str:
        return self._admin_url.replace("postgresql+psycopg://", "postgresql://")

    def available(self) -> str | None:
        """None when the server answers, else why not."""
        try:
            with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            return f"{type(exc).__name__}: {exc}".strip()
        return None

    def version(self) -> str:
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def create(self, label: str = "") -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        self._counter += 1
        name = f"{self.prefix}_{label}{self._counter}" if label else f"{self.prefix}"
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._created.append(name)
        return self._admin_url.rsplit("/", 1)[0] + f"/{name}"

    def drop(self, url: str) -> None:
        self._drop_name(url.rsplit("/", 1)[1])

    def _drop_name(self, name: str) -> None:
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if name in self._created:
            self._created.remove(name)

    def vacuum_analyze(self, url: str, table: str) -> None:
        """Settle a freshly loaded table, so autovacuum does not wake up inside a timed run."""
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))

    def close(self) -> None:
        for name in list(self._created):
            try:
                self._drop_name(name)
            except psycopg.Error as exc:  # keep dropping the others
                print(f"warning: could not drop database {name}: {exc}")


@contextmanager
def open_database(url: str) -> Iterator[Database]:
    """A migrated ``Database`` on ``url``, disposed afterwards."""
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()


class Backend:
    """Where a case gets fresh databases: a SQLite file or a PostgreSQL database."""

    name: str

    def fresh(self, label: str) -> str:
        raise NotImplementedError

    def release(self, url: str) -> None:
        raise NotImplementedError

    def settle(self, url: str) -> None:
        """Called after bulk-loading set-up data, before timing reads of it."""


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._counter = 0

    def fresh(self, label: str) -> str:
        self._counter += 1
        return sqlite_url(self._directory / f"{label}{self._counter}.db")

    def release(self, url: str) -> None:
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)


class PostgresBackend(Backend):
    name = "postgresql"

    def __init__(self, server: PostgresServer) -> None:
        self._server = server

    def fresh(self, label: str) -> str:
        return self._server.create(label)

    def release(self, url: str) -> None:
        self._server.drop(url)

    def settle(self, url: str) -> None:
        self._server.vacuum_analyze(url, "bars")


@contextmanager
def fresh_database(backend: Backend, label: str) -> Iterator[Database]:
    """A new migrated database, dropped (or deleted) afterwards even if the block raises."""
    url = backend.fresh(label)
    try:
        with open_database(url) as database:
            yield database
    finally:
        backend.release(url)
