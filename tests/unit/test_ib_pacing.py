"""IB's rate limits with a fake clock, the chunk splitter, and account masking."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ntrader.models.enums import AssetClass, Timeframe
from ntrader.services.ib.chunks import MAX_CHUNK_DAYS, chunk_window, session_days, split_days
from ntrader.services.ib.fetch import FetchOptions
from ntrader.services.ib.gateway import GatewayConfig, account_kind, mask_account
from ntrader.services.ib.pacing import (
    FakeClock,
    HistoricalPacer,
    PacingRules,
    TokenBucket,
)
from ntrader.utils.settings import Settings

NO_WINDOW = PacingRules(window_requests=0)


def test_token_bucket_allows_a_burst_then_fifty_a_second() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50, clock)
    for _ in range(50):
        bucket.acquire()
    assert clock.now == 0
    for _ in range(100):
        bucket.acquire()
    assert clock.now == pytest.approx(2.0)


def test_identical_request_waits_fifteen_seconds() -> None:
    clock = FakeClock()
    pacer = HistoricalPacer(NO_WINDOW, clock)
    pacer.before_request("AAPL", ("AAPL", "end-1"))
    clock.sleep(3)
    pacer.before_request("AAPL", ("AAPL", "end-1"))
    assert clock.now == pytest.approx(15.0)
    pacer.before_request("AAPL", ("AAPL", "end-2"))  # different: no wait for identity
    assert clock.now == pytest.approx(15.0)


def test_sixth_request_for_one_contract_within_two_seconds_waits() -> None:
    clock = FakeClock()
    pacer = HistoricalPacer(NO_WINDOW, clock)
    for i in range(5):
        pacer.before_request("AAPL", ("AAPL", i))
        clock.sleep(0.1)
    assert pacer.waited == 0
    pacer.before_request("SPY", ("SPY", 0))  # another contract goes at once
    assert pacer.waited == 0
    pacer.before_request("AAPL", ("AAPL", 5))
    # The first AAPL request was at 0.0: the sixth may go at 2.0.
    assert clock.now == pytest.approx(2.0)


def test_sixty_requests_per_ten_minutes_when_strict() -> None:
    clock = FakeClock()
    pacer = HistoricalPacer(PacingRules(same_contract_requests=0), clock)
    for i in range(60):
        pacer.before_request(i, i)
    assert clock.now == 0
    pacer.before_request(60, 60)
    assert clock.now == pytest.approx(600.0)
    assert pacer.waited == pytest.approx(600.0)


def test_off_never_waits() -> None:
    clock = FakeClock()
    pacer = HistoricalPacer(PacingRules.off(), clock)
    bucket = TokenBucket(0, clock)
    for _ in range(500):
        bucket.acquire()
        pacer.before_request("AAPL", "same")
    assert clock.now == 0


@pytest.mark.parametrize(("pacing", "window"), [("soft", 0), ("strict", 60), ("off", 0)])
def test_pacing_setting_chooses_the_rules(pacing: str, window: int) -> None:
    options = FetchOptions.from_settings(Settings(ib_pacing=pacing))  # type: ignore[arg-type]
    assert options.pacing.window_requests == window
    assert (options.pacing.identical_seconds > 0) is (pacing != "off")


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
    length=st.integers(min_value=0, max_value=800),
    timeframe=st.sampled_from(list(Timeframe)),
)
def test_chunks_cover_the_range_exactly_within_ibs_limits(
    start: date, length: int, timeframe: Timeframe
) -> None:
    end = start + timedelta(days=length)
    chunks = split_days(start, end, timeframe)
    assert chunks[0].first == start
    assert chunks[-1].last == end
    for before, after in itertools.pairwise(chunks):
        assert after.first == before.last + timedelta(days=1)  # no gap, no overlap
    for chunk in chunks:
        assert 1 <= chunk.days <= MAX_CHUNK_DAYS[timeframe]
        assert chunk.duration == f"{chunk.days} D"


def test_split_refuses_a_reversed_range() -> None:
    with pytest.raises(ValueError, match="before start"):
        split_days(date(2024, 1, 2), date(2024, 1, 1), Timeframe.DAILY)


def test_session_days_skip_weekends_and_holidays() -> None:
    days = session_days(AssetClass.EQUITY, date(2023, 12, 22), date(2023, 12, 27))
    assert days == [date(2023, 12, 22), date(2023, 12, 26), date(2023, 12, 27)]
    fx = session_days(AssetClass.FX, date(2023, 12, 22), date(2023, 12, 27))
    assert date(2023, 12, 25) in fx and date(2023, 12, 23) not in fx


def test_fx_chunks_start_at_the_new_york_roll() -> None:
    (chunk,) = split_days(date(2023, 7, 3), date(2023, 7, 3), Timeframe.MINUTE_1)
    start, end = chunk_window(AssetClass.FX, chunk)
    assert (start.isoformat(), end.isoformat()) == (
        "2023-07-02T21:00:00+00:00",
        "2023-07-03T21:00:00+00:00",
    )


def test_accounts_are_masked_and_classified() -> None:
    assert mask_account("DU1234567") == "DU****567"
    assert mask_account("U12") == "***"
    assert account_kind("DU1234567") == "paper"
    assert account_kind("U7654321") == "live"


def test_port_defaults_by_mode_and_flags_win() -> None:
    settings = Settings(ib_host="gw", ib_client_id=4)
    assert GatewayConfig.from_settings(settings).port == 7497
    assert GatewayConfig.from_settings(settings, mode="live").port == 7496
    config = GatewayConfig.from_settings(settings, port=4002, client_id=0)
    assert (config.host, config.port, config.client_id) == ("gw", 4002, 0)
