"""A backtest's results are exactly those of the reference code: every metric, trade and
snapshot of two stored runs, through the console script, compared by digest.

The digests were taken with the code before the start-up and memory work of issue 12
(commit c3421cd): ending the process early, the calendar cache and the lazy imports must
not change a single number. A deliberate change of results updates them, and says why.

Floats are hashed at 12 significant digits: the same code and lock file gave the daily
run's metrics different last bits on two of the project's machines (numpy and OpenBLAS
choose their SIMD kernels by CPU, and a sum's rounding depends on its order). Twelve
digits still tell apart any change a person could see in a figure. The digests below were
retaken that way from c3421cd.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ntrader.db.database import Database
from ntrader.services.run_history import RunHistory
from tests.e2e.conftest import RunCli, import_bars

# (digest, trades, final equity) of each run below, from the reference code.
EXPECTED = {
    "daily": (
        "f763f47d58b39e87c18651eeae8e691c25f0dd6880f746be3f62cc01f266a158",
        34,
        108823.62000000001,
    ),
    "minute": (
        "eaaa8cdb446602a2d557559ce2112e0dc5e794e688ccf1837d2e38b154a0d7fa",
        371,
        99116.62999999999,
    ),
}


def _minute_csv(path: Path, days: int = 45) -> Path:
    """Seeded regular-hours minute bars of ``days`` weekdays from 2 January 2023 (New York
    09:30-16:00 is 14:30-21:00 UTC in winter; the span stays in winter time)."""
    rng = np.random.default_rng(7)
    start = datetime(2023, 1, 2, 14, 30, tzinfo=UTC)
    weekdays = [start + timedelta(days=d) for d in range(days * 7 // 5 + 3)]
    sessions = [day for day in weekdays if day.weekday() < 5][:days]
    stamps = [day + timedelta(minutes=m) for day in sessions for m in range(390)]
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.0008, len(stamps))))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.0005, len(stamps)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.0005, len(stamps)))
    volume = rng.integers(100, 5_000, len(stamps))
    lines = ["timestamp,open,high,low,close,volume"]
    for ts, o, h, lo, c, v in zip(stamps, open_, high, low, close, volume, strict=True):
        lines.append(f"{ts:%Y-%m-%dT%H:%M:%SZ},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{v}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _at_12_digits(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {key: _at_12_digits(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_at_12_digits(item) for item in value]
    return value


def _digest(database_url: str, run_id: str) -> tuple[str, int, float]:
    history = RunHistory(Database(database_url))
    run = history.get(run_id)
    assert run.metrics is not None
    content = {
        "metrics": run.metrics.stored(),
        "trades": [t.model_dump(mode="json") for t in history.trades(run_id)],
        "snapshots": [s.model_dump(mode="json") for s in history.snapshots(run_id)],
        "fingerprint": run.data_fingerprint,
    }
    text = json.dumps(_at_12_digits(content), sort_keys=True, default=str)
    trades = len(content["trades"])
    equity = float(content["snapshots"][-1]["total_value"])
    return hashlib.sha256(text.encode()).hexdigest(), trades, equity


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_daily_and_a_minute_run_give_the_reference_results(
    run_cli: RunCli, stocked: str, tmp_path: Path
) -> None:
    minute = _minute_csv(tmp_path / "gold.csv")
    import_bars(run_cli, minute, "GOLD", "--timeframe", "1MIN", database_url=stocked)
    runs = {
        "daily": ("--instruments", "AAPL", "--start", "2019-01-01", "--end", "2024-12-31"),
        "minute": (
            "--instruments",
            "GOLD",
            "--timeframe",
            "1MIN",
            "--start",
            "2023-01-01",
            "--end",
            "2023-03-31",
            "--benchmark",
            "AAPL",
        ),
    }
    found = {}
    for name, args in runs.items():
        result = run_cli(
            "backtest",
            "run",
            "--strategy",
            "sma_crossover",
            *args,
            "--json",
            database_url=stocked,
        )
        found[name] = _digest(stocked, json.loads(result.stdout)["id"])
    assert found == EXPECTED
