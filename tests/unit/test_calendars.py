"""Trading calendars and annualisation per asset class (docs/metrics.md, "Calendars")."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntrader.core import calendars
from ntrader.core.calendars import (
    Annualisation,
    TradingCalendar,
    _xnys_sessions,
    annualisation_for,
    build_xnys_days,
    calendar_for,
    periods_per_year,
    sessions_cache_file,
    trading_days,
)
from ntrader.models.enums import AssetClass
from ntrader.services.metrics import compute_metrics
from ntrader.utils.settings import get_settings

XNYS, WEEKDAYS = TradingCalendar.XNYS, TradingCalendar.WEEKDAYS
EVERY_DAY = TradingCalendar.EVERY_DAY
NYSE_HOLIDAYS_2023 = pd.to_datetime(
    [
        "2023-01-02",  # New Year's Day, observed
        "2023-01-16",
        "2023-02-20",
        "2023-04-07",  # Good Friday
        "2023-05-29",
        "2023-06-19",
        "2023-07-04",
        "2023-09-04",
        "2023-11-23",
        "2023-12-25",
    ]
)


def test_a_holiday_is_not_an_equity_day_but_is_an_fx_and_a_crypto_day() -> None:
    week = (date(2024, 7, 1), date(2024, 7, 7))  # Thursday July 4, then a weekend
    independence_day, saturday = pd.Timestamp("2024-07-04"), pd.Timestamp("2024-07-06")
    assert independence_day not in trading_days(XNYS, *week)
    assert len(trading_days(XNYS, *week)) == 4
    assert independence_day in trading_days(WEEKDAYS, *week)
    assert saturday not in trading_days(WEEKDAYS, *week)
    assert list(trading_days(EVERY_DAY, *week)) == list(pd.date_range("2024-07-01", periods=7))


def test_nyse_sessions_per_year_match_an_independent_count() -> None:
    year = (date(2023, 1, 1), date(2023, 12, 31))
    weekdays = pd.bdate_range("2023-01-01", "2023-12-31")
    expected = weekdays.difference(NYSE_HOLIDAYS_2023)
    assert list(trading_days(XNYS, *year)) == list(expected)
    assert periods_per_year(XNYS, *year) == 250.0
    # A run touching 2023 and 2024 (252 sessions) is annualised on their average, whatever
    # part of each year it covers.
    assert periods_per_year(XNYS, date(2023, 11, 1), date(2024, 2, 1)) == 251.0


def test_every_asset_class_has_a_calendar_and_its_periods_per_year() -> None:
    span = (date(2024, 1, 1), date(2024, 12, 31))
    expected = {
        AssetClass.EQUITY: ("XNYS", 252.0),
        AssetClass.ETF: ("XNYS", 252.0),
        AssetClass.FUTURE: ("XNYS", 252.0),
        AssetClass.OPTION: ("XNYS", 252.0),
        AssetClass.FX: ("24/5", 260.0),
        AssetClass.CRYPTO: ("24/7", 365.0),
    }
    assert set(expected) == set(AssetClass)
    for asset_class, (calendar, periods) in expected.items():
        assert calendar_for(asset_class).value == calendar
        assert annualisation_for([asset_class], *span).as_dict() == {
            "calendar": calendar,
            "periods_per_year": periods,
        }


def test_a_mixed_portfolio_is_annualised_on_its_densest_calendar() -> None:
    span = (date(2024, 1, 1), date(2024, 12, 31))
    assert annualisation_for([AssetClass.EQUITY, AssetClass.FX], *span) == Annualisation(
        WEEKDAYS, 260.0
    )
    assert annualisation_for(
        [AssetClass.ETF, AssetClass.CRYPTO, AssetClass.FX], *span
    ) == Annualisation(EVERY_DAY, 365.0)
    # The calendars nest, which is why the union of days is the densest calendar's days.
    nyse, weekdays, every_day = (set(trading_days(c, *span)) for c in (XNYS, WEEKDAYS, EVERY_DAY))
    assert nyse < weekdays < every_day


@settings(max_examples=60, deadline=None)
@given(
    periods=st.sampled_from([250.0, 252.0, 260.0, 365.0]),
    returns=st.lists(
        st.floats(min_value=-0.05, max_value=0.05, allow_nan=False), min_size=3, max_size=60
    ).filter(lambda r: np.std(r) > 1e-6),
    rate=st.floats(min_value=0.0, max_value=0.1),
)
def test_metrics_are_annualised_on_the_periods_given(
    periods: float, returns: list[float], rate: float
) -> None:
    daily = np.array(returns)
    equity = 1e5 * np.cumprod(np.concatenate([[1.0], 1.0 + daily]))
    metrics = compute_metrics(equity, [], risk_free_rate=rate, periods_per_year=periods)
    realised = equity[1:] / equity[:-1] - 1.0  # the returns the curve actually holds
    excess = realised - rate / periods
    assert metrics.risk.sharpe_ratio == pytest.approx(
        excess.mean() / excess.std(ddof=1) * math.sqrt(periods), rel=1e-9, abs=1e-9
    )
    assert metrics.risk.volatility == pytest.approx(
        realised.std(ddof=1) * math.sqrt(periods), rel=1e-9
    )
    growth = equity[-1] / equity[0]
    assert metrics.returns.cagr == pytest.approx(
        growth ** (periods / daily.size) - 1.0, rel=1e-9, abs=1e-12
    )
    assert metrics.returns.annualized_return == pytest.approx(
        realised.mean() * periods, rel=1e-9, abs=1e-12
    )


@pytest.mark.parametrize("periods", [0.0, -252.0, math.nan, math.inf])
def test_nonsense_periods_per_year_are_refused(periods: float) -> None:
    with pytest.raises(ValueError, match="periods per year must be a positive number"):
        compute_metrics(np.array([1e5, 1.01e5, 1.02e5]), [], periods_per_year=periods)


def test_help_and_fixed_calendars_do_not_import_exchange_calendars() -> None:
    """It takes about two seconds to import: only counting NYSE sessions may pay for it."""
    probe = (
        "import sys\n"
        "from datetime import date\n"
        "from ntrader.cli.main import cli\n"
        "from ntrader.core.calendars import TradingCalendar, periods_per_year\n"
        "periods_per_year(TradingCalendar.EVERY_DAY, date(2024, 1, 1), date(2024, 2, 1))\n"
        "try:\n"
        "    cli.main(['--help'], standalone_mode=False)\n"
        "finally:\n"
        "    print('EAGER' if 'exchange_calendars' in sys.modules else 'LAZY', file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stderr.strip().endswith("LAZY")


@pytest.fixture
def sessions_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data dir of the test's own, and no sessions remembered by this process."""
    monkeypatch.setenv("NTRADER_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    _xnys_sessions.cache_clear()
    yield tmp_path / "cache"
    get_settings.cache_clear()
    _xnys_sessions.cache_clear()


def _from_disk_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the process' sessions and make building them fail: only the file can answer."""
    _xnys_sessions.cache_clear()

    def refuse(*_args: object) -> None:
        raise AssertionError("the sessions were built, not read from the cache")

    monkeypatch.setattr(calendars, "build_xnys_days", refuse)


@pytest.mark.parametrize("years", [(2023, 2023), (2020, 2024), (1990, 2030)])
def test_cached_nyse_sessions_are_exactly_a_fresh_build(
    years: tuple[int, int], sessions_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, last = years
    span = (date(first, 1, 1), date(last, 12, 31))
    fresh = build_xnys_days(first, last)
    built = trading_days(XNYS, *span)  # builds and keeps them
    assert sessions_cache_file(first, last).exists()
    _from_disk_only(monkeypatch)
    cached = trading_days(XNYS, *span)
    assert cached.equals(built)
    assert cached.dtype == np.dtype("datetime64[ns]")
    np.testing.assert_array_equal(cached.to_numpy().astype("datetime64[D]"), fresh)
    assert periods_per_year(XNYS, *span) == fresh.size / (last - first + 1)


def test_the_cache_file_is_named_by_exchange_calendars_version(sessions_cache: Path) -> None:
    path = sessions_cache_file(2023, 2024)
    assert path.parent == sessions_cache
    assert path.name == f"xnys-sessions-{version('exchange_calendars')}-2023-2024.npy"


def test_another_process_reads_the_cache_without_importing_exchange_calendars(
    sessions_cache: Path,
) -> None:
    trading_days(XNYS, date(2023, 1, 1), date(2023, 12, 31))
    probe = (
        "import sys\n"
        "from datetime import date\n"
        "from ntrader.core.calendars import TradingCalendar, periods_per_year\n"
        "print(periods_per_year(TradingCalendar.XNYS, date(2023, 1, 1), date(2023, 12, 31)))\n"
        "print('EAGER' if 'exchange_calendars' in sys.modules else 'LAZY')\n"
    )
    env = {**os.environ, "NTRADER_DATA_DIR": str(sessions_cache.parent)}
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.split() == ["250.0", "LAZY"]


@pytest.mark.parametrize(
    "content",
    [
        b"not a numpy file",
        b"",
        "float64",  # a real .npy of the wrong type
        "unsorted",
        "other years",
    ],
)
def test_a_damaged_cache_file_is_rebuilt_and_replaced(
    content: bytes | str, sessions_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = sessions_cache_file(2023, 2023)
    path.parent.mkdir(parents=True)
    fresh = build_xnys_days(2023, 2023)
    if content == "float64":
        np.save(path, np.arange(250, dtype=np.float64))
    elif content == "unsorted":
        np.save(path, fresh[::-1])
    elif content == "other years":
        np.save(path, build_xnys_days(2022, 2022))
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="ntrader.core.calendars"):
        days = trading_days(XNYS, date(2023, 1, 1), date(2023, 12, 31))
    np.testing.assert_array_equal(days.to_numpy().astype("datetime64[D]"), fresh)
    np.testing.assert_array_equal(np.load(path), fresh)  # replaced by the good sessions
    assert "calendar.cache_ignored" in caplog.text


def test_an_unwritable_cache_still_counts_the_sessions(sessions_cache: Path) -> None:
    sessions_cache.parent.mkdir(parents=True, exist_ok=True)
    sessions_cache.write_text("a file where the cache folder would go")
    assert periods_per_year(XNYS, date(2023, 1, 1), date(2023, 12, 31)) == 250.0
    assert sessions_cache.read_text() == "a file where the cache folder would go"
