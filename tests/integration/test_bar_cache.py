"""The Redis bar cache on the real Redis: hits, exact invalidation by imports, the size
bound, and a Redis that is unreachable or full (issue 12)."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from ntrader.db.database import Database
from ntrader.db.repositories import StoredInstrument
from ntrader.models.backtest import BacktestConfig
from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe
from ntrader.services import bar_cache, telemetry
from ntrader.services.backtest_service import BacktestService
from ntrader.services.bar_cache import BarCache
from ntrader.services.data_service import DataService, ImportRequest
from ntrader.utils.settings import get_settings
from ntrader.utils.timeutil import date_to_ns
from tests.conftest import IN_CI, REDIS_URL

HEADER = "timestamp,open,high,low,close,volume\n"
FIELDS = ("ts", "open", "high", "low", "close", "volume")
JANUARY = (date_to_ns(date(2024, 1, 1)), date_to_ns(date(2024, 2, 1)))
EVERYTHING = (0, 2**62)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def redis_client(redis_key_prefix: str) -> Iterator[redis.Redis]:
    """Our own look at the Redis the cache uses."""
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def cache(redis_key_prefix: str) -> Iterator[BarCache]:
    made = BarCache.connect(REDIS_URL, key_prefix=redis_key_prefix, ttl_seconds=60, max_bytes=2**20)
    yield made
    made.close()


def _import(database: Database, path: Path, rows: str, *, replace: bool = False) -> None:
    path.write_text(HEADER + rows)
    DataService(database).import_csv(ImportRequest(file=path, instrument="MSFT", replace=replace))


def _days(month: int, days: range, close: str = "10.50") -> str:
    return "".join(f"2024-{month:02d}-{day:02d},10,11,9,{close},100\n" for day in days)


def _load(database: Database, cache: BarCache, span: tuple[int, int]) -> BarArrays:
    with database.transaction() as repos:
        stored = repos.instruments.get("MSFT.NASDAQ")
        assert stored is not None
        return cache.load(repos.bars, stored, Timeframe.DAILY, *span)


def _uncached(database: Database, span: tuple[int, int]) -> BarArrays:
    with database.transaction() as repos:
        stored = repos.instruments.get("MSFT.NASDAQ")
        assert isinstance(stored, StoredInstrument)
        return repos.bars.load(stored, Timeframe.DAILY, *span)


def _assert_same(left: BarArrays, right: BarArrays) -> None:
    assert left.price_precision == right.price_precision
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(left, name), getattr(right, name))
        assert getattr(left, name).flags.writeable


def test_a_second_load_is_served_from_redis(
    database: Database, cache: BarCache, tmp_path: Path
) -> None:
    _import(database, tmp_path / "msft.csv", _days(1, range(2, 12)))

    def counted(result: str) -> float:
        sample = telemetry.REGISTRY.get_sample_value(
            "ntrader_cache_requests_total", {"result": result}
        )
        return sample or 0.0

    before = counted("hit"), counted("miss")
    first = _load(database, cache, EVERYTHING)
    second = _load(database, cache, EVERYTHING)
    assert (cache.stats.misses, cache.stats.hits) == (1, 1)
    assert (counted("hit") - before[0], counted("miss") - before[1]) == (1, 1)
    _assert_same(second, first)
    _assert_same(second, _uncached(database, EVERYTHING))


def test_an_import_invalidates_exactly_the_ranges_it_changed(
    database: Database, cache: BarCache, tmp_path: Path
) -> None:
    _import(database, tmp_path / "msft.csv", _days(1, range(2, 12)))
    _load(database, cache, JANUARY)
    _load(database, cache, EVERYTHING)
    assert (cache.stats.misses, cache.stats.hits) == (2, 0)

    # February bars change nothing in January: that range stays cached.
    _import(database, tmp_path / "feb.csv", _days(2, range(1, 10)))
    _load(database, cache, JANUARY)
    assert (cache.stats.misses, cache.stats.hits) == (2, 1)
    assert len(_load(database, cache, EVERYTHING)) == 19
    assert cache.stats.misses == 3

    # --replace of one January close: both ranges are read again, never served stale.
    _import(database, tmp_path / "fix.csv", _days(1, range(5, 6), close="10.75"), replace=True)
    january = _load(database, cache, JANUARY)
    everything = _load(database, cache, EVERYTHING)
    assert cache.stats.misses == 5
    assert january.close.tolist().count(10.75) == 1
    _assert_same(january, _uncached(database, JANUARY))
    _assert_same(everything, _uncached(database, EVERYTHING))
    _assert_same(_load(database, cache, JANUARY), january)
    assert cache.stats.hits == 2


def test_a_load_over_the_size_bound_is_not_kept(
    database: Database, redis_key_prefix: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    _import(database, tmp_path / "msft.csv", _days(1, range(2, 12)))
    small = BarCache.connect(
        REDIS_URL, key_prefix=f"{redis_key_prefix}small:", ttl_seconds=60, max_bytes=100
    )
    for _ in range(2):
        _assert_same(_load(database, small, EVERYTHING), _uncached(database, EVERYTHING))
    assert (small.stats.misses, small.stats.hits, small.stats.too_large) == (2, 0, 2)
    assert list(redis_client.scan_iter(match=f"{redis_key_prefix}small:*")) == []


def test_entries_expire_with_the_ttl_and_clear_deletes_them(
    database: Database, redis_key_prefix: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    _import(database, tmp_path / "msft.csv", _days(1, range(2, 12)))
    prefix = f"{redis_key_prefix}{uuid.uuid4().hex[:8]}:"
    cache = BarCache.connect(REDIS_URL, key_prefix=prefix, ttl_seconds=30, max_bytes=2**20)
    _load(database, cache, EVERYTHING)
    [key] = redis_client.scan_iter(match=f"{prefix}*")
    assert 0 < redis_client.ttl(key) <= 30
    assert cache.clear() == 1
    assert list(redis_client.scan_iter(match=f"{prefix}*")) == []


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_redis_warns_once_and_loads_from_the_store(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _import(database, tmp_path / "msft.csv", _days(1, range(2, 12)))
    cache = BarCache.connect(
        f"redis://127.0.0.1:{_closed_port()}/0", key_prefix="x:", ttl_seconds=60, max_bytes=2**20
    )
    with caplog.at_level(logging.WARNING, logger="ntrader.services.bar_cache"):
        for span in (EVERYTHING, JANUARY, EVERYTHING):
            _assert_same(_load(database, cache, span), _uncached(database, span))
    assert [r.getMessage() for r in caplog.records] == [
        "The Redis bar cache is unreachable (ConnectionError); continuing without it."
    ]
    assert not cache.enabled


@pytest.fixture
def full_redis() -> Iterator[str]:
    """A Redis of its own whose maxmemory is already reached (no eviction): writes fail."""
    server = shutil.which("redis-server")
    if server is None:
        # .ci/run starts Redis with this binary: in CI its absence is a failure.
        (pytest.fail if IN_CI else pytest.skip)("redis-server is not installed")
    port = _closed_port()
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory",
            "1",
            "--maxmemory-policy",
            "noeviction",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


def test_a_full_redis_warns_once_and_the_loads_go_on(
    database: Database, full_redis: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _import(database, tmp_path / "msft.csv", _days(1, range(2, 12)))
    cache = BarCache.connect(full_redis, key_prefix="x:", ttl_seconds=60, max_bytes=2**20)
    with caplog.at_level(logging.WARNING, logger="ntrader.services.bar_cache"):
        for span in (EVERYTHING, EVERYTHING):
            _assert_same(_load(database, cache, span), _uncached(database, span))
    assert [r.getMessage() for r in caplog.records] == [
        "The Redis bar cache is full (maxmemory reached) (OutOfMemoryError); continuing without it."
    ]


def test_backtests_load_through_the_configured_cache(
    redis_key_prefix: str, sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite only: the cache sits above the store, and two engine runs per backend cost.
    database = Database(f"sqlite:///{tmp_path / 'ntrader.db'}")
    monkeypatch.setenv("NTRADER_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("NTRADER_CACHE_KEY_PREFIX", f"{redis_key_prefix}service:")
    get_settings.cache_clear()
    bar_cache.process_bar_cache.cache_clear()
    try:
        for name, symbol in (("AAPL_daily.csv", "AAPL"), ("SPY_daily.csv", "SPY")):
            DataService(database).import_csv(
                ImportRequest(file=sample_dir / name, instrument=symbol)
            )
        config = BacktestConfig(
            strategy_type="sma",
            instruments=("AAPL",),
            start=date(2020, 1, 1),
            end=date(2020, 6, 30),
        )
        cold = BacktestService(database).run(config).run
        warm = BacktestService(database).run(config).run
        cache = bar_cache.process_bar_cache()
        assert cache is not None
        # AAPL and the SPY benchmark: read from the store once, then from Redis.
        assert (cache.stats.misses, cache.stats.hits) == (2, 2)
        assert warm.metrics == cold.metrics
    finally:
        database.dispose()
        get_settings.cache_clear()
        bar_cache.process_bar_cache.cache_clear()


def test_bars_added_directly_are_a_new_version_too(
    database: Database, cache: BarCache, tmp_path: Path
) -> None:
    _import(database, tmp_path / "msft.csv", _days(1, range(2, 12)))
    _load(database, cache, EVERYTHING)
    later = _uncached(database, EVERYTHING).slice(0, 1)
    moved = BarArrays(
        ts=later.ts + 40 * 86_400 * 10**9,
        **{name: getattr(later, name) for name in FIELDS[1:]},
        price_precision=later.price_precision,
    )
    with database.transaction() as repos:
        stored = repos.instruments.get("MSFT.NASDAQ")
        assert stored is not None
        assert repos.bars.add(stored, Timeframe.DAILY, moved) == 1
    assert len(_load(database, cache, EVERYTHING)) == 11
    assert (cache.stats.misses, cache.stats.hits) == (2, 0)


def test_an_entry_that_is_not_ours_is_a_miss_and_is_replaced(
    database: Database, redis_key_prefix: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    _import(database, tmp_path / "msft.csv", _days(1, range(2, 12)))
    prefix = f"{redis_key_prefix}{uuid.uuid4().hex[:8]}:"
    cache = BarCache.connect(REDIS_URL, key_prefix=prefix, ttl_seconds=60, max_bytes=2**20)
    _load(database, cache, EVERYTHING)
    [key] = redis_client.scan_iter(match=f"{prefix}*")
    redis_client.set(key, b"\xff not an Arrow stream")
    _assert_same(_load(database, cache, EVERYTHING), _uncached(database, EVERYTHING))
    _assert_same(_load(database, cache, EVERYTHING), _uncached(database, EVERYTHING))
    assert (cache.stats.misses, cache.stats.hits) == (2, 1)


def _altered(entry: bytes, bars: BarArrays) -> bytes:
    """``entry`` with its bars' closes moved one cent, still sound, its tag kept."""
    moved = BarArrays(
        **{name: getattr(bars, name) for name in FIELDS if name != "close"},
        close=bars.close + 0.01,
        price_precision=bars.price_precision,
    )
    return entry[:32] + bar_cache._encode(moved)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda entry, bars, other, key: bar_cache._encode(bars), id="unsigned"),
        pytest.param(lambda entry, bars, other, key: _altered(entry, bars), id="altered"),
        pytest.param(lambda entry, bars, other, key: other, id="copied-from-another-key"),
        pytest.param(
            lambda entry, bars, other, key: (
                bar_cache._tag(b"another store" * 3, key, entry[32:]) + entry[32:]
            ),
            id="signed-by-another-store",
        ),
    ],
)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_entry_this_store_did_not_write_is_refused_loudly_and_replaced(
    database: Database,
    redis_key_prefix: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    forge: Any,
) -> None:
    """Anyone who reaches Redis can write there: an entry in the cache's own layout, whose
    bars are sound but not the store's (or not for its key), never reaches a backtest."""
    _import(database, tmp_path / "msft.csv", _days(1, range(2, 12)))
    prefix = f"{redis_key_prefix}{uuid.uuid4().hex[:8]}:"
    cache = BarCache.connect(REDIS_URL, key_prefix=prefix, ttl_seconds=60, max_bytes=2**20)
    stored = _load(database, cache, JANUARY)
    [key] = redis_client.scan_iter(match=f"{prefix}*")
    _load(database, cache, EVERYTHING)  # a second entry, for another key
    [other] = [k for k in redis_client.scan_iter(match=f"{prefix}*") if k != key]
    entry = redis_client.get(key)
    assert isinstance(entry, bytes)
    redis_client.set(key, forge(entry, stored, redis_client.get(other), key.decode()))
    with caplog.at_level(logging.WARNING, logger="ntrader.services.bar_cache"):
        _assert_same(_load(database, cache, JANUARY), _uncached(database, JANUARY))
    assert caplog.messages == [
        "A Redis bar cache entry of MSFT.NASDAQ DAILY is not one this store wrote there; "
        "loading the bars from the store instead."
    ]
    assert cache.stats.rejected == 1
    # Replaced by what the store holds: the next load is a hit again.
    assert redis_client.get(key) == entry
    _assert_same(_load(database, cache, JANUARY), _uncached(database, JANUARY))
    assert (cache.stats.misses, cache.stats.hits, cache.stats.rejected) == (3, 1, 1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_signed_entry_of_unsound_bars_is_refused_and_replaced(
    database: Database,
    redis_key_prefix: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Signed with this store's own secret (it leaked, or a bug wrote it), an entry whose bars
    no import lets in is still refused: the cache keeps the rule every load keeps."""
    _import(database, tmp_path / "msft.csv", _days(1, range(2, 12)))
    prefix = f"{redis_key_prefix}{uuid.uuid4().hex[:8]}:"
    cache = BarCache.connect(REDIS_URL, key_prefix=prefix, ttl_seconds=60, max_bytes=2**20)
    stored = _load(database, cache, JANUARY)
    [key] = redis_client.scan_iter(match=f"{prefix}*")
    entry = redis_client.get(key)
    unsound = BarArrays(
        **{name: getattr(stored, name).copy() for name in FIELDS},
        price_precision=stored.price_precision,
    )
    unsound.high[1] = unsound.low[1] - 1
    stream = bar_cache._encode(unsound)
    with database.transaction() as repos:
        secret = repos.bars.cache_secret()
    redis_client.set(key, bar_cache._tag(secret, key.decode(), stream) + stream)
    with caplog.at_level(logging.WARNING, logger="ntrader.services.bar_cache"):
        _assert_same(_load(database, cache, JANUARY), _uncached(database, JANUARY))
    [warning] = caplog.messages
    assert warning.startswith(
        "A Redis bar cache entry of MSFT.NASDAQ DAILY holds unsound bars: 1 of "
    )
    assert warning.endswith("; loading the bars from the store instead.")
    assert cache.stats.rejected == 1
    assert redis_client.get(key) == entry  # replaced by what the store holds
