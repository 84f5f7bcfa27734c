"""`data import` of a file whose bars differ from the stored ones: refused, then --replace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ntrader.db.database import Database
from ntrader.models.enums import Timeframe
from tests.e2e.conftest import RunCli, import_bars

pytestmark = pytest.mark.slow

HEADER = "timestamp,open,high,low,close,volume\n"


def _write(path: Path, closes: list[str]) -> Path:
    rows = (f"2024-01-{day:02d},10,11,9,{close},100\n" for day, close in enumerate(closes, 2))
    path.write_text(HEADER + "".join(rows))
    return path


def _stored_closes(database_url: str) -> list[float]:
    database = Database(database_url)
    try:
        with database.transaction() as repos:
            stored = repos.instruments.get("MSFT.NASDAQ")
            assert stored is not None
            return repos.bars.load(stored, Timeframe.DAILY, 0, 2**62).close.tolist()
    finally:
        database.dispose()


def test_differing_file_is_refused_then_replaced(
    invoke_cli: RunCli, database_url: str, tmp_path: Path
) -> None:
    import_bars(
        invoke_cli, _write(tmp_path / "msft.csv", ["10.50"] * 5), "MSFT", database_url=database_url
    )
    corrected = _write(
        tmp_path / "msft_fixed.csv", ["10.50", "10.75", "10.50", "10.50", "10.50", "10.60"]
    )

    refused = import_bars(
        invoke_cli, corrected, "MSFT", "--json", database_url=database_url, check_exit=1
    )
    message = " ".join(refused.stderr.split())
    assert (
        "msft_fixed.csv: 1 bar differs from the stored MSFT.NASDAQ DAILY bars at the same time "
        "(2024-01-03: close 10.50 → 10.75); nothing was imported." in message
    )
    assert "--replace" in message and "Traceback" not in message
    assert json.loads(refused.stdout)["rows_changed"] == 1
    assert _stored_closes(database_url) == [10.5] * 5

    replaced = import_bars(
        invoke_cli, corrected, "MSFT", "--replace", "--json", database_url=database_url
    )
    payload = json.loads(replaced.stdout)
    assert {key: payload[key] for key in ("rows_imported", "rows_replaced", "data_version")} == {
        "rows_imported": 1,
        "rows_replaced": 1,
        "data_version": 2,
    }
    assert payload["rows_already_present"] == 4
    assert _stored_closes(database_url) == [10.5, 10.75, 10.5, 10.5, 10.5, 10.6]


def test_import_help_shows_replace(invoke_cli: RunCli) -> None:
    text = invoke_cli("data", "import", "--help").stdout
    assert "--replace" in text
    assert "ntrader data import --file AAPL_corrected.csv --instrument AAPL --replace" in text
