"""Damaged bar blocks through the CLI: the backtest is refused with the series and the
repair named (exit 3, no run stored), and `ntrader db rebuild-blocks` repairs them."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import update

from ntrader.db.database import Database
from ntrader.db.tables import bar_blocks
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
