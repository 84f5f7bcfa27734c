"""Re-imports whose bars differ from the stored ones, --replace, data versions, concurrent
imports and Ctrl-C around the commit, on SQLite and PostgreSQL (issue 7)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ntrader.core.errors import DataValidationError
from ntrader.db.bar_bulk import compare_bars
from ntrader.db.database import Database
from ntrader.db.repositories import InstrumentRepository, StoredInstrument
from ntrader.db.tables import bar_revisions, bars, instruments
from ntrader.models.backtest import BacktestConfig
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe
from ntrader.services import data_service
from ntrader.services.backtest_service import BacktestService
from ntrader.services.data_service import (
    BarsDifferError,
    DataService,
    ImportInterruptedError,
    ImportRequest,
)

HEADER = "timestamp,open,high,low,close,volume\n"
FIELDS = ("open", "high", "low", "close", "volume")


def _day_rows(closes: dict[int, str], volume: str = "100") -> str:
    """One daily bar per January 2024 day in ``closes``: open 10, high 11, low 9."""
    return "".join(f"2024-01-{day:02d},10,11,9,{close},{volume}\n" for day, close in closes.items())


BASE = {day: "10.50" for day in range(2, 12)}


def _write(path: Path, closes: dict[int, str], volume: str = "100") -> Path:
    path.write_text(HEADER + _day_rows(closes, volume))
    return path


def _stored(database: Database, symbol: str = "MSFT.NASDAQ") -> tuple[StoredInstrument, BarArrays]:
    with database.transaction() as repos:
        stored = repos.instruments.get(symbol)
        assert stored is not None
        return stored, repos.bars.load(stored, Timeframe.DAILY, 0, 2**62)


def _revisions(database: Database) -> list[tuple[int, int, int]]:
    """(revision, rows_added, rows_replaced) of every recorded import, oldest first."""
    query = select(
        bar_revisions.c.revision, bar_revisions.c.rows_added, bar_revisions.c.rows_replaced
    ).order_by(bar_revisions.c.revision)
    with database.transaction() as repos:
        return [tuple(row) for row in repos.connection.execute(query)]


def _import(database: Database, path: Path, *, replace: bool = False) -> data_service.ImportResult:
    return DataService(database).import_csv(
        ImportRequest(file=path, instrument="MSFT", replace=replace)
    )


def test_identical_reimport_adds_nothing_and_keeps_the_data_version(
    empty_database: Database, tmp_path: Path
) -> None:
    path = _write(tmp_path / "msft.csv", BASE)
    first = _import(empty_database, path)
    again = _import(empty_database, path)
    assert (first.rows_imported, first.rows_replaced, first.data_version) == (10, 0, 1)
    assert (again.rows_imported, again.rows_replaced, again.rows_already_present) == (0, 0, 10)
    assert again.data_version == 1
    assert _revisions(empty_database) == [(1, 10, 0)]


def test_differing_bars_are_refused_and_nothing_is_written(
    empty_database: Database, tmp_path: Path
) -> None:
    _import(empty_database, _write(tmp_path / "msft.csv", BASE))
    before = _stored(empty_database)
    # Two corrected closes, one changed volume elsewhere, and one new day.
    changed = {**BASE, 4: "10.55", 9: "10.40", 12: "10.60"}
    path = _write(tmp_path / "corrected.csv", changed)
    with pytest.raises(BarsDifferError) as caught:
        _import(empty_database, path)
    error = caught.value
    assert error.exit_code == 1 and error.rows_changed == 2
    assert error.message == (
        "corrected.csv: 2 bars differ from the stored MSFT.NASDAQ DAILY bars at the same time "
        "(2024-01-04: close 10.50 → 10.55; 2024-01-09: close 10.50 → 10.40); "
        "nothing was imported."
    )
    assert error.hint is not None and "--replace" in error.hint
    after = _stored(empty_database)
    assert after[0] == before[0]
    for name in ("ts", *FIELDS):
        np.testing.assert_array_equal(getattr(after[1], name), getattr(before[1], name))
    assert _revisions(empty_database) == [(1, 10, 0)]


def test_a_changed_volume_is_a_change_and_the_message_says_more_exist(
    empty_database: Database, tmp_path: Path
) -> None:
    _import(empty_database, _write(tmp_path / "msft.csv", BASE))
    with pytest.raises(BarsDifferError, match=r"^msft2\.csv: 10 bars differ .*") as caught:
        _import(empty_database, _write(tmp_path / "msft2.csv", BASE, volume="101"))
    assert "2024-01-02: volume 100 → 101; 2024-01-03: volume 100 → 101; 2024-01-04" in (
        caught.value.message
    )
    assert "; …); nothing was imported." in caught.value.message


def test_replace_stores_the_new_values_and_bumps_the_data_version(
    empty_database: Database, tmp_path: Path
) -> None:
    _import(empty_database, _write(tmp_path / "msft.csv", BASE))
    changed = {**BASE, 4: "10.55", 9: "10.40", 12: "10.60"}
    result = _import(empty_database, _write(tmp_path / "corrected.csv", changed), replace=True)
    assert (result.rows_in_file, result.rows_imported, result.rows_replaced) == (11, 1, 2)
    assert (result.rows_already_present, result.data_version) == (8, 2)
    _, loaded = _stored(empty_database)
    assert loaded.close.tolist() == [float(close) for close in changed.values()]
    assert _revisions(empty_database) == [(1, 10, 0), (2, 1, 2)]
    # The same corrected file again is now identical to the store.
    again = _import(empty_database, tmp_path / "corrected.csv")
    assert (again.rows_imported, again.rows_replaced, again.data_version) == (0, 0, 2)


def test_values_equal_at_the_instrument_precision_are_not_changes(
    empty_database: Database, tmp_path: Path
) -> None:
    _import(empty_database, _write(tmp_path / "msft.csv", BASE))
    path = tmp_path / "same.csv"
    # The same prices written differently: 10.5 and 10.500 are 10.50.
    path.write_text(HEADER + "".join(f"2024-01-{d:02d},10.0,11,9.000,10.5,100\n" for d in BASE))
    assert _import(empty_database, path).rows_already_present == 10


def test_a_finer_price_is_a_change_at_the_widened_precision(
    empty_database: Database, tmp_path: Path
) -> None:
    _import(empty_database, _write(tmp_path / "msft.csv", BASE))
    finer = _write(tmp_path / "finer.csv", {**BASE, 5: "10.5001"})
    with pytest.raises(BarsDifferError, match=r"2024-01-05: close 10\.5000 → 10\.5001"):
        _import(empty_database, finer)
    stored, _ = _stored(empty_database)
    assert stored.spec.price_precision == 2  # the refused import widened nothing
    result = _import(empty_database, finer, replace=True)
    assert (result.rows_replaced, result.price_precision) == (1, 4)


def test_interrupted_replace_keeps_the_old_bars(
    empty_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _import(empty_database, _write(tmp_path / "msft.csv", BASE))
    before = _stored(empty_database)[1]
    monkeypatch.setattr(data_service, "_INSERT_CHUNK", 1)

    def interrupt(stage: str, done: int, _total: int) -> None:
        # The changed bars are overwritten and the first new one is stored by now.
        if stage == "store" and done == 1:
            raise KeyboardInterrupt

    changed = {**BASE, 4: "10.55", 9: "10.40", 12: "10.60", 15: "10.70"}
    with pytest.raises(ImportInterruptedError, match="the store is unchanged") as caught:
        DataService(empty_database).import_csv(
            ImportRequest(
                file=_write(tmp_path / "c.csv", changed), instrument="MSFT", replace=True
            ),
            interrupt,
        )
    assert caught.value.exit_code == 130
    np.testing.assert_array_equal(_stored(empty_database)[1].close, before.close)
    assert _revisions(empty_database) == [(1, 10, 0)]


def test_ctrl_c_right_after_the_commit_says_what_was_stored(
    empty_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C that lands once the import's transaction has committed (the store, not a
    flag, decides what the message says)."""
    original = Database.transaction
    interrupted: list[bool] = []

    @contextmanager
    def interrupt_after_commit(self: Database) -> Iterator[object]:
        with original(self) as repos:
            yield repos
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt

    path = _write(tmp_path / "msft.csv", BASE)
    monkeypatch.setattr(Database, "transaction", interrupt_after_commit)
    with pytest.raises(ImportInterruptedError) as caught:
        _import(empty_database, path)
    monkeypatch.setattr(Database, "transaction", original)
    assert caught.value.message == (
        "Interrupted after the import of msft.csv had finished: 10 new DAILY bars of "
        "MSFT.NASDAQ are stored."
    )
    assert len(_stored(empty_database)[1]) == 10


def test_ctrl_c_while_printing_the_result_is_not_reported_as_aborted(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ntrader.cli import main as cli_main
    from ntrader.cli import render

    def interrupted_render(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    path = _write(tmp_path / "msft.csv", BASE)
    monkeypatch.setattr(render, "render_import_result", interrupted_render)
    monkeypatch.setenv("NTRADER_DATABASE_URL", database_url)
    argv = ["ntrader", "data", "import", "--file", str(path), "--instrument", "MSFT"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    assert exited.value.code == 130
    stderr = capsys.readouterr().err
    assert "Aborted" not in stderr
    assert "10 new DAILY bars of MSFT.NASDAQ are stored" in " ".join(stderr.split())
    empty_database = Database(database_url)
    assert len(_stored(empty_database)[1]) == 10
    empty_database.dispose()


def test_concurrent_imports_of_one_new_instrument_both_succeed(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both imports look the instrument up before either creates it (a barrier forces
    that order), then both create it: the upsert lets both through."""
    barrier = threading.Barrier(2, timeout=20)
    by_symbol = InstrumentRepository.by_symbol

    def lookup_together(self: InstrumentRepository, symbol: str) -> list[StoredInstrument]:
        found = by_symbol(self, symbol)
        barrier.wait()
        return found

    monkeypatch.setattr(InstrumentRepository, "by_symbol", lookup_together)
    files = [
        _write(tmp_path / "first.csv", dict.fromkeys(range(2, 8), "10.50")),
        _write(tmp_path / "second.csv", dict.fromkeys(range(5, 12), "10.50")),
    ]
    results: dict[str, data_service.ImportResult] = {}
    errors: list[BaseException] = []

    def run(path: Path) -> None:
        empty_database = Database(database_url)
        try:
            results[path.name] = _import(empty_database, path)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            empty_database.dispose()

    threads = [threading.Thread(target=run, args=(path,)) for path in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    added = sorted(result.rows_imported for result in results.values())
    # The series lock orders them: the first stores its 6 bars (or 7), the second only
    # what the first did not have; 3 days overlap with identical values.
    assert sum(added) == 10 and added in ([3, 7], [4, 6])
    empty_database = Database(database_url)
    with empty_database.transaction() as repos:
        count = repos.connection.execute(select(func.count()).select_from(instruments))
        assert count.scalar_one() == 1
        assert repos.connection.execute(select(func.count()).select_from(bars)).scalar_one() == 10
    assert sorted(revision for revision, _, _ in _revisions(empty_database)) == [1, 2]
    empty_database.dispose()


def _scaled_copy(source: Path, target: Path, start: str, end: str, factor: float) -> int:
    """Write ``source`` with the OHLC of the days from ``start`` to ``end`` scaled by
    ``factor`` to ``target``; returns how many days changed."""
    frame = pd.read_csv(source)
    days = frame["Date"].between(start, end)
    for column in ("Open", "High", "Low", "Close"):
        frame.loc[days, column] = (frame.loc[days, column] * factor).round(2)
    frame.to_csv(target, index=False)
    return int(days.sum())


def test_rerun_after_a_replace_reports_that_the_data_changed(
    empty_database: Database, sample_dir: Path, tmp_path: Path
) -> None:
    service = DataService(empty_database)
    for name, symbol in (("AAPL_daily.csv", "AAPL"), ("SPY_daily.csv", "SPY")):
        service.import_csv(ImportRequest(file=sample_dir / name, instrument=symbol))
    backtests = BacktestService(empty_database)
    config = BacktestConfig(
        strategy_type="sma",
        instruments=("AAPL",),
        start=date(2020, 1, 1),
        end=date(2020, 12, 31),
    )
    original = backtests.run(config).run
    revised = tmp_path / "aapl.csv"
    days = _scaled_copy(sample_dir / "AAPL_daily.csv", revised, "2020-06-01", "2020-09-30", 1.1)
    with pytest.raises(DataValidationError, match="bars differ"):
        service.import_csv(ImportRequest(file=revised, instrument="AAPL"))
    unchanged = backtests.rerun(original.id)
    assert unchanged.same_data and unchanged.identical
    result = service.import_csv(ImportRequest(file=revised, instrument="AAPL", replace=True))
    assert (result.rows_imported, result.data_version) == (0, 2)
    assert result.rows_replaced == days
    comparison = backtests.rerun(original.id)
    assert not comparison.same_data
    assert comparison.original.data_fingerprint == original.data_fingerprint
    assert not comparison.identical
    changed = {path for path, _before, _after in comparison.differences()}
    assert "returns.total_return" in changed


def _bars(ts: list[int], ticks: np.ndarray, precision: int) -> BarArrays:
    prices = ticks / 10.0**precision
    return BarArrays(
        ts=np.array(ts, dtype=np.int64),
        **{name: prices[:, i].copy() for i, name in enumerate(FIELDS)},
        price_precision=precision,
    )


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=8),
    st.lists(st.tuples(st.booleans(), st.booleans(), st.integers(0, 5), st.integers(-3, 3))),
)
def test_compare_finds_exactly_the_new_and_the_changed_bars(
    precision: int, rows: list[tuple[bool, bool, int, int]]
) -> None:
    """For each candidate time: stored or not, incoming or not, which field the incoming
    bar changes (5 = none) and by how many ticks (0 = float noise only)."""
    stored_ts = [i for i, (is_stored, _, _, _) in enumerate(rows) if is_stored]
    incoming_ts = [i for i, (_, is_incoming, _, _) in enumerate(rows) if is_incoming]
    base = 100_000 + np.arange(len(rows) * 5, dtype=np.float64).reshape(len(rows), 5)
    incoming_prices = base.copy()
    expected_changed, expected_new = [], []
    for position, i in enumerate(incoming_ts):
        _, _, field, ticks = rows[i]
        if field < 5:
            incoming_prices[i, field] += ticks
            # A zero-tick change is float noise a printed value never shows.
            incoming_prices[i, field] *= 1 + 4e-16
        if i not in stored_ts:
            expected_new.append(position)
        elif field < 5 and ticks != 0:
            expected_changed.append(position)
    stored = _bars(stored_ts, base[stored_ts], precision)
    incoming = _bars(incoming_ts, incoming_prices[incoming_ts], precision)
    diff = compare_bars(stored, incoming, precision)
    assert np.flatnonzero(diff.new).tolist() == expected_new
    assert diff.changed.tolist() == expected_changed
    changed_ts = [incoming_ts[position] for position in expected_changed]
    assert diff.stored.ts.tolist() == changed_ts
