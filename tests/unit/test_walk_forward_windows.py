"""Walk-forward window arithmetic and its figures: durations parsed strictly, windows that
cover the span without overlapping tests, anchored training that grows, and the efficiency
computed from the windows' objectives."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntrader.core.errors import UserInputError
from ntrader.services.walk_forward import (
    MAX_WINDOWS,
    Duration,
    annualised_objective,
    efficiency,
    parse_duration,
    plan_windows,
)

durations = st.builds(
    Duration,
    st.integers(1, 18),
    st.sampled_from(["D", "W", "M", "Y"]),
)
days = st.dates(date(1990, 1, 1), date(2030, 12, 31))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12M", Duration(12, "M")),
        (" 3m ", Duration(3, "M")),
        ("90D", Duration(90, "D")),
        ("1Y", Duration(1, "Y")),
        ("2w", Duration(2, "W")),
    ],
)
def test_durations_parse(text: str, expected: Duration) -> None:
    assert parse_duration(text, "--train") == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "M",
        "12",
        "0M",
        "-3M",
        "1.5Y",
        "12 M",
        "3Q",
        "12M3D",
        "1e3D",
        "101Y",
        "1300M",
        "99999D",
        "\u0661\u0662M",
        "12M\x00",
        "3" * 100 + "M",
    ],
)
def test_hostile_durations_are_refused(text: str) -> None:
    with pytest.raises(UserInputError, match="--test"):
        parse_duration(text, "--test")


@given(st.text(max_size=12))
def test_any_text_parses_to_a_valid_duration_or_is_refused(text: str) -> None:
    try:
        duration = parse_duration(text, "--step")
    except UserInputError:
        return
    assert duration.count >= 1 and duration.unit in "DWMY"
    assert f"{duration}" == text.strip().upper()


@settings(max_examples=60, deadline=None)
@given(days, st.integers(0, 3000), durations, durations, durations, st.booleans())
def test_windows_cover_the_span_and_tests_never_overlap(
    start: date, length: int, train: Duration, test: Duration, step: Duration, anchored: bool
) -> None:
    end = start + timedelta(days=length)
    try:
        windows = plan_windows(start, end, train, test, step, anchored=anchored)
    except UserInputError as error:
        refusal = str(error)
    else:
        refusal = None
    if refusal is not None:
        # Refused only for the reasons the function gives.
        reasons = ("shorter than the test window", "plus a day", f"{MAX_WINDOWS} windows")
        assert any(reason in refusal for reason in reasons)
        return
    origin = pd.Timestamp(start)
    assert windows[0].test_start == (origin + train.offset()).date()
    # The test window after the last would start past the end: the span is used up.
    assert (origin + train.offset() + step.offset(len(windows))).date() > end
    for before, after in itertools.pairwise(windows):
        assert before.test_end < after.test_start  # tests never overlap
        if step == test:
            assert after.test_start == before.test_end + timedelta(days=1)  # nor leave a gap
        if anchored:
            assert after.train_start == start and after.train_end > before.train_end
        else:
            assert after.train_start > before.train_start
    for window in windows:
        assert start <= window.train_start <= window.train_end < window.test_start
        assert window.test_start == window.train_end + timedelta(days=1)
        assert window.test_start <= window.test_end <= end
        if anchored:
            assert window.train_start == start


@settings(max_examples=40, deadline=None)
@given(days, st.integers(1, 2000), durations, st.booleans())
def test_contiguous_tests_tile_everything_after_the_first_training_window(
    start: date, length: int, test: Duration, anchored: bool
) -> None:
    """With --step = --test the test windows cover [first test day, end] day for day."""
    end = start + timedelta(days=length)
    try:
        windows = plan_windows(start, end, Duration(1, "M"), test, test, anchored=anchored)
    except UserInputError:
        return
    covered = sum((w.test_end - w.test_start).days + 1 for w in windows)
    assert covered == (end - windows[0].test_start).days + 1
    assert windows[-1].test_end == end


def test_month_windows_on_the_calendar() -> None:
    windows = plan_windows(
        date(2019, 1, 1),
        date(2020, 12, 31),
        Duration(12, "M"),
        Duration(6, "M"),
        Duration(6, "M"),
        anchored=False,
    )
    assert [(w.train_start, w.train_end, w.test_start, w.test_end) for w in windows] == [
        (date(2019, 1, 1), date(2019, 12, 31), date(2020, 1, 1), date(2020, 6, 30)),
        (date(2019, 7, 1), date(2020, 6, 30), date(2020, 7, 1), date(2020, 12, 31)),
    ]
    anchored = plan_windows(
        date(2019, 1, 1),
        date(2020, 12, 31),
        Duration(1, "Y"),
        Duration(3, "M"),
        Duration(3, "M"),
        anchored=True,
    )
    assert [w.train_start for w in anchored] == [date(2019, 1, 1)] * 4
    assert [w.test_start for w in anchored] == [
        date(2020, 1, 1),
        date(2020, 4, 1),
        date(2020, 7, 1),
        date(2020, 10, 1),
    ]


def test_refusals() -> None:
    with pytest.raises(UserInputError, match="overlap"):
        plan_windows(
            date(2019, 1, 1),
            date(2024, 1, 1),
            Duration(1, "Y"),
            Duration(3, "M"),
            Duration(1, "M"),
            anchored=False,
        )
    with pytest.raises(UserInputError, match="shorter than the training window"):
        plan_windows(
            date(2019, 1, 1),
            date(2019, 12, 31),
            Duration(1, "Y"),
            Duration(3, "M"),
            Duration(3, "M"),
            anchored=False,
        )
    with pytest.raises(UserInputError, match="more than 200 windows"):
        plan_windows(
            date(1990, 1, 1),
            date(2024, 1, 1),
            Duration(1, "M"),
            Duration(1, "D"),
            Duration(1, "D"),
            anchored=False,
        )


def test_annualised_objective_and_efficiency_from_the_figures() -> None:
    # 21% over two years is 10% a year; ratios are already yearly.
    two_years = annualised_objective("total_return", 0.21, date(2019, 1, 1), date(2020, 12, 31))
    assert two_years == pytest.approx(1.21 ** (365.25 / 731) - 1)
    assert annualised_objective("sharpe_ratio", 1.3, date(2019, 1, 1), date(2019, 3, 31)) == 1.3
    assert annualised_objective("total_return", -1.5, date(2019, 1, 1), date(2019, 3, 31)) == -1.0
    assert annualised_objective("total_return", None, date(2019, 1, 1), date(2019, 3, 31)) is None
    # Mean OOS over mean IS, on the windows that have both.
    assert efficiency([(2.0, 1.0), (1.0, 0.5), (None, 3.0)]) == pytest.approx(0.75 / 1.5)
    assert efficiency([(-1.0, 1.0)]) is None
    assert efficiency([(None, 1.0)]) is None
