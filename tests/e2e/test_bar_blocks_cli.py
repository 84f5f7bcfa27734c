"""Damaged bar blocks through the CLI: the backtest is refused with the series and the
repair named (exit 3, no run stored), and `ntrader db rebuild-blocks` repairs them."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select, update

from ntrader.db.database import Database
from ntrader.db.tables import bar_blocks, bars
from tests.e2e.conftest import RUN_2020, RunCli, import_bars


def test_a_backtest_on_damaged_blocks_is_refused_and_rebuild_blocks_repairs_them(
    invoke_cli: RunCli, database_url: str, sample_dir: Path
) -> None:
    import_bars(invoke_cli, sample_dir / "AAPL_daily.csv", "AAPL", database_url=database_url)
    database = Database(database_url)
    try:
        with database.transaction() as repos:
            repos.connection.execute(update(bar_blocks).values(payload=b"\x00" * 8))
    finally:
        database.dispose()

    refused = invoke_cli(*RUN_2020, database_url=database_url, check_exit=3)
    assert "The stored bars of AAPL.NASDAQ DAILY are damaged: block" in refused.stderr
    assert "ntrader db rebuild-blocks" in refused.stderr
    listed = invoke_cli("backtest", "list", "--json", database_url=database_url)
    assert json.loads(listed.stdout) == []

    rebuilt = invoke_cli("db", "rebuild-blocks", "--json", database_url=database_url)
    assert json.loads(rebuilt.stdout)["series"] == 1
    assert json.loads(rebuilt.stdout)["bars"] > 250
    invoke_cli(*RUN_2020, database_url=database_url)


def test_rebuild_blocks_with_json_names_the_unsound_series_and_what_it_rebuilt(
    invoke_cli: RunCli, database_url: str, sample_dir: Path
) -> None:
    """A series whose rows were edited into unsound bars keeps its blocks; the others are
    rebuilt; the JSON error says both, for a script to act on."""
    import_bars(invoke_cli, sample_dir / "AAPL_daily.csv", "AAPL", database_url=database_url)
    import_bars(invoke_cli, sample_dir / "SPY_daily.csv", "SPY", database_url=database_url)
    database = Database(database_url)
    try:
        with database.transaction() as repos:
            aapl = repos.instruments.get("AAPL.NASDAQ")
            assert aapl is not None
            first = select(func.min(bars.c.ts)).where(bars.c.instrument_id == aapl.pk)
            repos.connection.execute(
                update(bars)
                .where(bars.c.instrument_id == aapl.pk, bars.c.ts == first.scalar_subquery())
                .values(volume=-1.0)
            )
            spy_bars = repos.connection.execute(
                select(func.count()).select_from(bars).where(bars.c.instrument_id != aapl.pk)
            ).scalar_one()
    finally:
        database.dispose()

    refused = invoke_cli("db", "rebuild-blocks", "--json", database_url=database_url, check_exit=3)
    payload = json.loads(refused.stdout)
    assert payload["exit_code"] == 3
    assert payload["rebuilt"] == {"series": 1, "bars": spy_bars}
    [unsound] = payload["unsound"]
    assert (unsound["instrument"], unsound["timeframe"]) == ("AAPL.NASDAQ", "DAILY")
    assert "1 of " in unsound["problem"] and "not sound" in unsound["problem"]
    assert payload["error"].startswith("The bars table holds unsound bars of AAPL.NASDAQ DAILY")
