"""The column blocks loads read hold exactly the bars of the ``bars`` table: over random
imports and replacements (hypothesis), after migration 0013 built them from rows an older
version stored, and refused with the repair named when they are damaged."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from ntrader.db import bar_blocks, bar_bulk
from ntrader.db.database import Database, Repositories
from ntrader.db.repositories import StoredInstrument
from ntrader.db.tables import bar_blocks as bar_blocks_table
from ntrader.db.tables import bars as bars_table
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe
from ntrader.models.instrument import InstrumentSpec
from ntrader.services import store
from ntrader.services.ib.verify import verify
from tests.integration.migration_support import alembic_config

MINUTE_NS = 60 * 10**9
# Minute bars over about five blocks, so batches start, end and straddle block edges.
SPAN_MINUTES = 5 * bar_blocks.BAR_LENGTHS_PER_BLOCK
COLUMNS = ("ts", "open", "high", "low", "close", "volume")
_symbols = itertools.count()


def _bars(minutes: list[int], price: float) -> BarArrays:
    ts = np.array(sorted(minutes), dtype=np.int64) * MINUTE_NS
    close = np.round(price + np.arange(len(ts)) * 0.01, 2)
    return BarArrays(
        ts=ts,
        open=close,
        high=close + 1,
        low=close - 1,
        close=close,
        volume=np.full(len(ts), 100.0 + price),
        price_precision=2,
    )


def _import(repos: Repositories, stored: StoredInstrument, data: BarArrays) -> None:
    """What an import with ``--replace`` does: new bars added, differing ones replaced."""
    timeframe = Timeframe.MINUTE_1
    repos.bars.lock(stored, timeframe)
    diff = repos.bars.compare(stored, timeframe, data)
    repos.bars.replace(stored, timeframe, bar_bulk.select_bars(data, diff.changed))
    repos.bars.insert(stored, timeframe, bar_bulk.select_bars(data, diff.new))


def _rows(repos: Repositories, stored: StoredInstrument) -> dict[str, np.ndarray]:
    return bar_bulk.read_in_transaction(repos.connection, stored.pk, "1MIN", 0, 2**62)


def _assert_same(
    loaded: BarArrays | dict[str, np.ndarray], expected: dict[str, np.ndarray]
) -> None:
    for name in COLUMNS:
        got = loaded[name] if isinstance(loaded, dict) else getattr(loaded, name)
        np.testing.assert_array_equal(got, expected[name], err_msg=name)


batches = st.lists(
    st.tuples(
        st.lists(st.integers(0, SPAN_MINUTES), min_size=1, max_size=300, unique=True),
        st.sampled_from([10.0, 20.0, 30.0]),
    ),
    min_size=1,
    max_size=5,
)
windows = st.tuples(st.integers(-10, SPAN_MINUTES + 10), st.integers(0, SPAN_MINUTES + 10))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=batches, window=windows)
def test_blocks_hold_the_rows_over_any_imports_and_replacements(
    empty_database: Database, batches: list[tuple[list[int], float]], window: tuple[int, int]
) -> None:
    with empty_database.transaction() as repos:
        stored = repos.instruments.add(InstrumentSpec(symbol=f"P{next(_symbols)}", venue="NYSE"))
    expected: dict[int, tuple[float, ...]] = {}
    for minutes, price in batches:
        data = _bars(minutes, price)
        with empty_database.transaction() as repos:
            _import(repos, stored, data)
        for i, ts in enumerate(data.ts.tolist()):
            expected[ts] = tuple(float(getattr(data, name)[i]) for name in COLUMNS[1:])
    model = {
        "ts": np.array(sorted(expected), dtype=np.int64),
        **{
            name: np.array([expected[ts][k] for ts in sorted(expected)])
            for k, name in enumerate(COLUMNS[1:])
        },
    }
    start, end = (minute * MINUTE_NS for minute in window)
    inside = (model["ts"] >= start) & (model["ts"] < end)
    with empty_database.transaction() as repos:
        _assert_same(_rows(repos, stored), model)
        _assert_same(repos.bars.load(stored, Timeframe.MINUTE_1, 0, 2**62), model)
        window_bars = repos.bars.load(stored, Timeframe.MINUTE_1, start, end)
    _assert_same(window_bars, {name: values[inside] for name, values in model.items()})
    assert all(getattr(window_bars, name).flags.writeable for name in COLUMNS)


def _damage(database: Database, **values: object) -> None:
    with database.transaction() as repos:
        repos.connection.execute(update(bar_blocks_table).values(**values))


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ({"payload": b"\x00" * 47}, "block 0 holds 47 bytes for"),
        ({"bar_count": 0}, "bytes for 0 bars"),
        ({"block": 7}, "a bar lies outside its block's span"),
    ],
)
def test_damaged_blocks_are_refused_naming_the_series_and_the_repair(
    empty_database: Database, damage: dict[str, object], problem: str
) -> None:
    with empty_database.transaction() as repos:
        stored = repos.instruments.add(InstrumentSpec(symbol="ZZZ", venue="NYSE"))
        repos.bars.add(stored, Timeframe.MINUTE_1, _bars([0, 1, 2], 10.0))
    _damage(empty_database, **damage)
    with (
        pytest.raises(bar_blocks.DamagedBlocksError) as raised,
        empty_database.transaction() as repos,
    ):
        repos.bars.load(stored, Timeframe.MINUTE_1, 0, 2**62)
    assert raised.value.message.startswith("The stored bars of ZZZ.NYSE 1MIN are damaged: ")
    assert problem in raised.value.message
    assert raised.value.exit_code == 3
    assert "ntrader db rebuild-blocks" in (raised.value.hint or "")
    with empty_database.transaction() as repos:
        assert repos.bars.rebuild_blocks() == bar_blocks.Rebuilt(1, 3)
        _assert_same(repos.bars.load(stored, Timeframe.MINUTE_1, 0, 2**62), _rows(repos, stored))


def test_times_out_of_order_in_a_block_are_refused(empty_database: Database) -> None:
    with empty_database.transaction() as repos:
        stored = repos.instruments.add(InstrumentSpec(symbol="ZZZ", venue="NYSE"))
        repos.bars.add(stored, Timeframe.MINUTE_1, _bars([0, 1], 10.0))
    swapped = np.array([MINUTE_NS, 0], dtype="<i8").tobytes() + bytes(2 * 5 * 8)
    _damage(empty_database, payload=swapped)
    with (
        pytest.raises(bar_blocks.DamagedBlocksError, match="not strictly increasing"),
        empty_database.transaction() as repos,
    ):
        repos.bars.load(stored, Timeframe.MINUTE_1, 0, 2**62)


def _payload(data: BarArrays) -> bytes:
    """A block's payload as ntrader packs it: each column in turn, little-endian."""
    return b"".join(
        np.asarray(getattr(data, name), dtype="<i8" if name == "ts" else "<f8").tobytes()
        for name in COLUMNS
    )


@pytest.mark.parametrize(
    ("column", "value"),
    [("close", np.nan), ("open", np.inf), ("low", -1.0), ("high", 5.0), ("volume", -1.0)],
)
def test_unsound_bars_in_a_block_are_refused(
    empty_database: Database, column: str, value: float
) -> None:
    """A block edited or corrupted outside ntrader, in the right layout and time order, whose
    bars no import lets in, never reaches the engine; its rows rebuild it."""
    with empty_database.transaction() as repos:
        stored = repos.instruments.add(InstrumentSpec(symbol="ZZZ", venue="NYSE"))
        repos.bars.add(stored, Timeframe.MINUTE_1, _bars([0, 1, 2], 10.0))
    damaged = _bars([0, 1, 2], 10.0)
    getattr(damaged, column)[1] = value
    _damage(empty_database, payload=_payload(damaged))
    with (
        pytest.raises(bar_blocks.DamagedBlocksError) as raised,
        empty_database.transaction() as repos,
    ):
        repos.bars.load(stored, Timeframe.MINUTE_1, 0, 2**62)
    assert raised.value.message == (
        "The stored bars of ZZZ.NYSE 1MIN are damaged: 1 of 3 bars are not sound (a price not "
        "above zero, high and low not bracketing open and close, a negative volume, or a value "
        "that is not a number), the first at 1970-01-01T00:01:00Z."
    )
    assert raised.value.exit_code == 3
    with empty_database.transaction() as repos:
        assert repos.bars.rebuild_blocks() == bar_blocks.Rebuilt(1, 3)
        _assert_same(repos.bars.load(stored, Timeframe.MINUTE_1, 0, 2**62), _rows(repos, stored))


def test_unsound_rows_are_not_built_into_blocks_and_verify_lists_them(
    empty_database: Database,
) -> None:
    """Rows edited with SQL into bars no import lets in: `db rebuild-blocks` refuses to pack
    them (the blocks stay as they were) and `data verify` names them."""
    opening = int(np.datetime64("2024-01-03T14:30", "m").astype(np.int64))
    minutes = [opening, opening + 1, opening + 2]
    with empty_database.transaction() as repos:
        stored = repos.instruments.add(InstrumentSpec(symbol="ZZZ", venue="NYSE"))
        repos.bars.add(stored, Timeframe.MINUTE_1, _bars(minutes, 10.0))
        repos.connection.execute(
            update(bars_table)
            .where(bars_table.c.ts == (opening + 1) * MINUTE_NS)
            .values(high=bars_table.c.low - 1)
        )
    with pytest.raises(bar_blocks.UnsoundRowsError) as raised:
        store.rebuild_bar_blocks(empty_database.url)
    assert raised.value.message == (
        "The bars table holds unsound bars of ZZZ.NYSE 1MIN: 1 of 3 bars are not sound (a "
        "price not above zero, high and low not bracketing open and close, a negative volume, "
        "or a value that is not a number), the first at 2024-01-03T14:31:00Z. Its blocks "
        "were left as they were."
    )
    assert "`ntrader data verify --instrument ZZZ.NYSE --timeframe 1MIN`" in str(raised.value.hint)
    with empty_database.transaction() as repos:
        _assert_same(
            repos.bars.load(stored, Timeframe.MINUTE_1, 0, 2**62),
            {name: getattr(_bars(minutes, 10.0), name) for name in COLUMNS},
        )
    report = verify(empty_database, "ZZZ.NYSE", Timeframe.MINUTE_1)
    assert ("unsound bars (OHLC)", 1, ["2024-01-03 14:31Z"]) in [
        (p.check, p.count, p.examples) for p in report.problems
    ]


def test_unsound_rows_of_some_series_do_not_hold_back_the_repair_of_the_others(
    empty_database: Database,
) -> None:
    """Every block damaged, two series' rows edited into unsound bars: the rebuild repairs
    and commits the sound series, leaves the two as they were, and is refused naming both."""
    minutes = [0, 1, 2]
    with empty_database.transaction() as repos:
        sound = repos.instruments.add(InstrumentSpec(symbol="AAA", venue="NYSE"))
        edited = [
            repos.instruments.add(InstrumentSpec(symbol=symbol, venue="NYSE"))
            for symbol in ("BBB", "CCC")
        ]
        for stored in (sound, *edited):
            repos.bars.add(stored, Timeframe.MINUTE_1, _bars(minutes, 10.0))
            repos.bars.add(stored, Timeframe.DAILY, _bars([0, 1440], 10.0))
        repos.connection.execute(
            update(bars_table)
            .where(
                bars_table.c.instrument_id.in_([stored.pk for stored in edited]),
                bars_table.c.timeframe == "1MIN",
                bars_table.c.ts == MINUTE_NS,
            )
            .values(volume=-1.0)
        )
    _damage(empty_database, bar_count=0)
    with pytest.raises(bar_blocks.UnsoundRowsError) as raised:
        store.rebuild_bar_blocks(empty_database.url)
    problem = (
        "1 of 3 bars are not sound (a price not above zero, high and low not bracketing open "
        "and close, a negative volume, or a value that is not a number), the first at "
        "1970-01-01T00:01:00Z"
    )
    assert raised.value.message == (
        "The bars table holds unsound bars of 2 series (BBB.NYSE 1MIN, CCC.NYSE 1MIN); in "
        f"BBB.NYSE 1MIN, {problem}. Their blocks were left as they were; those of the other 4 "
        "series (9 bars) were rebuilt."
    )
    assert raised.value.exit_code == 3
    assert "--instrument BBB.NYSE --timeframe 1MIN` lists them (and likewise for each series)" in (
        raised.value.hint or ""
    )
    with empty_database.transaction() as repos:
        for stored in (sound, *edited):
            repos.bars.load(stored, Timeframe.DAILY, 0, 2**62)  # rebuilt: no longer refused
        _assert_same(repos.bars.load(sound, Timeframe.MINUTE_1, 0, 2**62), _rows(repos, sound))
        for stored in edited:
            with pytest.raises(bar_blocks.DamagedBlocksError, match="holds 144 bytes for 0 bars"):
                repos.bars.load(stored, Timeframe.MINUTE_1, 0, 2**62)


def test_migration_0013_builds_the_blocks_of_bars_an_older_version_stored(
    empty_database: Database, database_url: str
) -> None:
    daily = _bars([0, 1440, 2880], 50.0)
    minutes = _bars(list(range(0, 3 * bar_blocks.BAR_LENGTHS_PER_BLOCK, 7)), 20.0)
    unsound = _bars([0, 1, 2], 10.0)
    unsound.high[2] = 1.0  # a row edited by hand: high below low
    with empty_database.transaction() as repos:
        stored = repos.instruments.add(InstrumentSpec(symbol="ZZZ", venue="NYSE"))
        edited = repos.instruments.add(InstrumentSpec(symbol="BAD", venue="NYSE"))
        repos.bars.add(stored, Timeframe.DAILY, daily)
    empty_database.dispose()
    config = alembic_config(database_url)
    command.downgrade(config, "0012")
    older = Database(database_url, migrate=False)
    try:
        with older.transaction() as repos:  # what an older version's import wrote: rows only
            bar_bulk.insert_bars(repos.connection, stored.pk, "1MIN", minutes)
            bar_bulk.insert_bars(repos.connection, edited.pk, "1MIN", unsound)
    finally:
        older.dispose()
    command.upgrade(config, "head")
    upgraded = Database(database_url)
    try:
        with upgraded.transaction() as repos:
            for timeframe, data in ((Timeframe.MINUTE_1, minutes), (Timeframe.DAILY, daily)):
                loaded = repos.bars.load(stored, timeframe, 0, 2**62)
                _assert_same(loaded, {name: getattr(data, name) for name in COLUMNS})
        # The unsound rows did not stop the migration; loads refuse them, and so does a
        # rebuild, naming the series.
        with (
            pytest.raises(bar_blocks.DamagedBlocksError, match=r"BAD\.NYSE 1MIN are damaged"),
            upgraded.transaction() as repos,
        ):
            repos.bars.load(edited, Timeframe.MINUTE_1, 0, 2**62)
        with pytest.raises(bar_blocks.UnsoundRowsError, match=r"unsound bars of BAD\.NYSE 1MIN"):
            store.rebuild_bar_blocks(database_url)
    finally:
        upgraded.dispose()
