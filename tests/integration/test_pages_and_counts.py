"""What the HTTP API reads from the store for a page of trades and a submitted backtest:
the page alone (keyset on entry time and id), and counts instead of bars, on SQLite and
PostgreSQL, with the answers and errors of reading everything."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from sqlalchemy import update

from ntrader.core.errors import NotFoundError, UserInputError
from ntrader.db.database import Database
from ntrader.db.tables import trades
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import Timeframe
from ntrader.services import backtest_service
from ntrader.services.backtest_service import BacktestService, trading_days
from ntrader.services.instruments import find_stored
from ntrader.services.run_history import RunHistory
from ntrader.utils.timeutil import date_to_ns

CONFIG = BacktestConfig(
    strategy_type="sma",
    instruments=("AAPL", "SPY"),
    parameters={"fast_period": 5, "slow_period": 20},
    start=date(2019, 1, 1),
    end=date(2020, 12, 31),
)


def _pages(history: RunHistory, run_id: str, limit: int) -> list[object]:
    every: list[object] = []
    cursor = None
    while True:
        page = history.trade_page(run_id, limit=limit, cursor=cursor)
        assert page.total == len(history.trades(run_id))
        every += page.trades
        if page.next_cursor is None:
            return every
        cursor = page.next_cursor


def test_trade_pages_read_by_the_database_make_the_whole_list(database: Database) -> None:
    run = BacktestService(database).run(CONFIG).run
    history = RunHistory(database)
    whole = history.trades(run.id)
    assert len(whole) > 10
    assert [t.entry_time for t in whole] == sorted(t.entry_time for t in whole)
    for limit in (1, 3, len(whole), len(whole) + 5):
        assert _pages(history, run.id, limit) == whole
    # Equal entry times (two instruments bought on one bar): the id orders them, and a page
    # boundary between them neither repeats nor skips one.
    with database.transaction() as repos:
        repos.connection.execute(
            update(trades)
            .where(trades.c.backtest_id == run.id)
            .values(entry_time=datetime(2020, 1, 2, tzinfo=UTC))
        )
    tied = history.trades(run.id)
    assert _pages(history, run.id, 3) == tied and len(tied) == len(whole)
    with pytest.raises(UserInputError, match="is not a cursor this server gave out"):
        history.trade_page(run.id, limit=2, cursor="garbage!")


def test_the_store_counts_trading_days_as_the_loaded_bars_do(database: Database) -> None:
    with database.transaction() as repos:
        aapl = find_stored(repos.instruments, "AAPL")
        for start, end in (
            (date(2019, 1, 1), date(2020, 12, 31)),
            (date(2020, 3, 7), date(2020, 3, 9)),
        ):
            bars = repos.bars.load(aapl, Timeframe.DAILY, date_to_ns(start), date_to_ns(end))
            counted = repos.bars.trading_days(
                aapl, Timeframe.DAILY, date_to_ns(start), date_to_ns(end)
            )
            assert counted == trading_days(bars.ts) == np.unique(bars.ts // 86_400_000_000_000).size
        assert repos.bars.trading_days(aapl, Timeframe.MINUTE_1, 0, 2**62) == 0


def test_submit_counts_the_bars_and_refuses_as_a_run_does(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = BacktestService(database)
    no_bars = CONFIG.model_copy(update={"start": date(2030, 1, 1), "end": date(2030, 12, 31)})
    few_days = CONFIG.model_copy(update={"start": date(2020, 3, 2), "end": date(2020, 3, 6)})
    refusals = []
    for config in (no_bars, few_days):
        with pytest.raises(UserInputError) as by_run:
            service.run(config)
        refusals.append((config, by_run.value))
    before = len(RunHistory(database).list(last=1000))

    def no_reading(*_args: object) -> None:
        raise AssertionError("submit read bars")

    monkeypatch.setattr(backtest_service, "load_bars", no_reading)
    for config, expected in refusals:
        with pytest.raises(UserInputError) as by_submit:
            service.submit(config)
        assert type(by_submit.value) is type(expected)
        assert (by_submit.value.message, by_submit.value.hint) == (expected.message, expected.hint)
    assert isinstance(refusals[0][1], NotFoundError)
    assert len(RunHistory(database).list(last=1000)) == before
    assert service.submit(CONFIG).status.value == "PENDING"
