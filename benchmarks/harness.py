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


@dataclass
class Paired:
    """Samples of a measured thing and of its floor, taken alternately in the same repetitions."""

    measured: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [m / f for m, f in zip(self.measured, self.floor, strict=True)]

    @property
    def ratio(self) -> float:
        """Median of the per-repetition ratios: each ratio compares runs made moments apart."""
        return median(self.ratios)


def interleave(
    repeat: int, measured: Callable[[], float], floor: Callable[[], float]
) -> Paired:
    """Run ``measured`` and ``floor`` once per repetition, swapping their order every time.

    Each callable does its own untimed set-up and returns the seconds of the timed part.
    """
    paired = Paired()
    for rep in range(repeat):
        if rep % 2 == 0:
            paired.floor.append(floor())
            paired.measured.append(measured())
        else:
            paired.measured.append(measured())
            paired.floor.append(floor())
    return paired


def fmt_seconds(seconds: float) -> str:
    if seconds < 1.0:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def spread(values: Sequence[float]) -> str:
    return f"{fmt_seconds(min(values))}–{fmt_seconds(max(values))}"


# --- databases -----------------------------------------------------------------------------------


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _admin_conninfo() -> str:
    return PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")


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
        name = url.rsplit("/", 1)[1]
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
                self.drop(f"/{name}")
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
