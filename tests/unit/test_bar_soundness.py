"""``unsound_bars`` and ``broken_rule``: the rules loads hold stored and cached bars to, bar
by bar against an independent reading of them, over any float64 values (hypothesis)."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ntrader.models.bars import PRICE_MAX, QUANTITY_MAX, BarArrays, broken_rule, unsound_bars

EDGES = [
    0.0,
    -0.0,
    5e-324,
    1.0,
    PRICE_MAX,
    math.nextafter(PRICE_MAX, math.inf),
    QUANTITY_MAX,
    math.nextafter(QUANTITY_MAX, math.inf),
    math.nan,
    math.inf,
    -math.inf,
]
value = st.one_of(st.sampled_from(EDGES), st.floats(width=64), st.floats(1e-9, 1e6))


@st.composite
def plausible_bar(draw: st.DrawFn) -> tuple[float, float, float, float, float]:
    """A bar that is mostly sound, so that both answers are common."""
    low = draw(st.floats(1e-9, 1e6))
    high = low + draw(st.floats(0, 1e6))
    inside = st.floats(0, 1).map(lambda f: low + f * (high - low))
    return (draw(inside), high, low, draw(inside), draw(st.floats(0, 1e9)))


bar = st.one_of(plausible_bar(), st.tuples(value, value, value, value, value))


def _sound(open_: float, high: float, low: float, close: float, volume: float) -> bool:
    """The rules as the import states them, one bar at a time."""
    if not all(math.isfinite(v) for v in (open_, high, low, close, volume)):
        return False
    prices = (open_, high, low, close)
    if min(prices) <= 0 or max(prices) > PRICE_MAX:
        return False
    if high < low or high < max(open_, close) or low > min(open_, close):
        return False
    return 0 <= volume <= QUANTITY_MAX


def _arrays(rows: list[tuple[float, ...]], ts: list[int] | None = None) -> BarArrays:
    columns = np.array(rows, dtype=np.float64).reshape(-1, 5).T
    times = np.arange(len(rows), dtype=np.int64) * 60 if ts is None else np.array(ts, np.int64)
    return BarArrays(times, *columns, price_precision=2)


@given(st.lists(bar, min_size=1, max_size=40))
def test_unsound_bars_are_the_bars_the_rules_refuse(rows: list[tuple[float, ...]]) -> None:
    mask = unsound_bars(_arrays(rows))
    assert mask.tolist() == [not _sound(*row) for row in rows]


@given(st.lists(plausible_bar(), min_size=1, max_size=40), st.data())
def test_broken_rule_counts_the_unsound_bars_and_names_the_first(
    rows: list[tuple[float, ...]], data: st.DataObject
) -> None:
    sound = [row for row in rows if _sound(*row)]
    assert broken_rule(_arrays(sound)) is None
    index = data.draw(st.integers(0, len(sound)))
    broken = [*sound[:index], (1.0, 0.5, 1.0, 1.0, 1.0), *sound[index:]]
    problem = broken_rule(_arrays(broken))
    first = np.datetime_as_string(np.datetime64(index * 60, "ns"), unit="s")
    assert problem is not None
    assert problem.startswith(f"1 of {len(broken)} bars are not sound (")
    assert problem.endswith(f"the first at {first}Z")


@given(st.lists(st.integers(-(2**62), 2**62), min_size=2, max_size=40))
def test_times_must_increase_strictly(ts: list[int]) -> None:
    rows = [(1.0, 1.0, 1.0, 1.0, 1.0)] * len(ts)
    increasing = all(b > a for a, b in itertools.pairwise(ts))
    problem = broken_rule(_arrays(rows, ts))
    assert (problem is None) is increasing
    if not increasing:
        assert problem == "bar times are not strictly increasing"
