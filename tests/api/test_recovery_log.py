"""A server that finds many jobs left unfinished names the first ones and counts the rest,
instead of one warning per job."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from ntrader.api.jobs import JobRunner
from ntrader.db.database import Database
from ntrader.models.enums import RunStatus
from tests.api.server import sma_config


def test_many_unfinished_runs_are_counted_not_listed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'ntrader.db'}")
    with database.transaction() as repos:
        first = repos.backtests.create(sma_config())
        configuration = repos.backtests.configuration_id_of(first)
        for _ in range(24):
            repos.backtests.create_for(configuration)

    async def start_and_stop() -> list[str]:
        runner = JobRunner(database, workers=1, per_client=1)
        recovered = await runner.start()
        await runner.shutdown(grace_seconds=1)
        return recovered

    with caplog.at_level(logging.WARNING, logger="ntrader.api.jobs"):
        recovered = asyncio.run(start_and_stop())
    assert len(recovered) == 25
    named = [r for r in caplog.records if "was left unfinished" in r.getMessage()]
    counted = [r for r in caplog.records if "more of kind" in r.getMessage()]
    assert len(named) == 20
    assert [r.getMessage() for r in counted] == [
        "... and 5 more of kind backtest were left unfinished; stored as INTERRUPTED."
    ]
    with database.transaction() as repos:
        statuses = {run.status for run in repos.backtests.list(last=100)}
    assert statuses == {RunStatus.INTERRUPTED}
    database.dispose()
