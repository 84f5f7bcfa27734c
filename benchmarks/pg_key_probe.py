"""What the unique key on ``bars`` costs a PostgreSQL import: the server's side alone.

    uv run --group bench python benchmarks/pg_key_probe.py [--rows N] [--repeat R]

Times ntrader's own bulk insert (the binary ``COPY`` of ``bar_bulk.insert_bars``, then the
commit) of N prepared bars into a freshly migrated database, with the primary key SPEC §4 asks
for and, in another such database, with that key dropped; and, for comparison, reading and
checking the same bars from a CSV file. The medians show how much of the import's 2 s budget
for 1M rows (500,000 rows/s) the key leaves to everything else. No row of the main table.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

from datagen import consecutive_minutes, random_walk_bars, write_csv
from harness import (
    PostgresBackend,
    PostgresServer,
    fmt_seconds,
    fresh_database,
    interleave,
    median,
    spread,
    timed,
)

from ntrader.db import bar_bulk
from ntrader.models.bars import BarArrays
from ntrader.services.csv_loader import read_bars_csv


def _copy_into_fresh(backend: PostgresBackend, bars: BarArrays, *, keyed: bool) -> float:
    with (
        fresh_database(backend, "key" if keyed else "nokey") as database,
        database.engine.connect() as connection,
    ):
        if not keyed:
            key = connection.exec_driver_sql(
                "SELECT conname FROM pg_constraint "
                "WHERE conrelid = 'bars'::regclass AND contype = 'p'"
            ).scalar_one()
            connection.exec_driver_sql(f'ALTER TABLE bars DROP CONSTRAINT "{key}"')
            connection.commit()

        def copy_and_commit() -> None:
            bar_bulk.insert_bars(connection, 1, "1MIN", bars)
            connection.commit()

        return timed(copy_and_commit)


def main() -> None:
    parser = argparse.ArgumentParser(prog="benchmarks/pg_key_probe.py", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bars = random_walk_bars(consecutive_minutes("2020-01-01", args.rows), seed=1)
    server = PostgresServer()
    problem = server.available()
    if problem is not None:
        raise SystemExit(f"PostgreSQL is not reachable: {problem}")
    backend = PostgresBackend(server)
    with tempfile.TemporaryDirectory() as workdir:
        csv_path = write_csv(bars, Path(workdir) / "probe.csv")
        cases: dict[str, Callable[[], float]] = {
            "COPY + commit, with the key": lambda: _copy_into_fresh(backend, bars, keyed=True),
            "COPY + commit, key dropped": lambda: _copy_into_fresh(backend, bars, keyed=False),
            "read and check the CSV": lambda: timed(lambda: read_bars_csv(csv_path)),
        }
        try:
            samples = interleave(args.repeat, cases)
        finally:
            server.close()
    print(f"{args.rows:,} bars, {args.repeat} interleaved runs each (median, range)")
    for name, seconds in samples.items():
        ceiling = args.rows / median(seconds)
        print(
            f"  {name:30} {fmt_seconds(median(seconds)):>8}  ({spread(seconds)})"
            f"  {ceiling:>12,.0f} rows/s"
        )


if __name__ == "__main__":
    main()
