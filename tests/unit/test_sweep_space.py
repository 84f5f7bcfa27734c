"""Sweep planning: grids typed and bounded by the strategy's declaration, constraints parsed
safely (hostile strings are refused, never run), cross-field refusals counted."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntrader.core import strategy_registry
from ntrader.core.errors import UserInputError
from ntrader.models.sweep import SweepSpec
from ntrader.services.sweep_space import Constraint, plan_points
from ntrader.utils.config_loader import load_backtest_file

SMA = strategy_registry.resolve("sma_crossover")
NAMES = frozenset(SMA.params.model_fields)


def _plan(**spec: object) -> list[dict[str, object]]:
    return list(plan_points(SMA, {}, SweepSpec.model_validate(spec)).points)


def test_the_issues_grid_has_ninety_points() -> None:
    points = _plan(
        grid={"fast_period": "5:50:5", "slow_period": "20:200:20"},
        constraints=["fast_period < slow_period"],
    )
    assert len(points) == 90
    assert points[0] == {
        "allow_short": False,
        "fast_period": 5,
        "slow_period": 20,
        "entry_threshold": 0.0,
        "trend_filter_period": None,
    }
    assert all(isinstance(p["fast_period"], int) for p in points)


def test_points_the_strategy_refuses_are_counted_not_run() -> None:
    plan = plan_points(SMA, {}, SweepSpec(grid={"fast_period": "10,20,30", "slow_period": "20,40"}))
    assert [(p["fast_period"], p["slow_period"]) for p in plan.points] == [
        (10, 20),
        (10, 40),
        (20, 40),
        (30, 40),
    ]
    assert plan.refused == 2
    assert plan.refusal is not None
    assert "fast_period (20) must be less than slow_period (20)" in plan.refusal


def test_lists_floats_flags_and_random_draws() -> None:
    spec = {
        "grid": {"fast_period": "5:10:5", "allow_short": [True, False]},
        "random": {"samples": 3, "seed": 4, "ranges": {"entry_threshold": "0:0.5"}},
    }
    points = _plan(**spec)
    assert len(points) == 2 * 2 * 3
    assert {p["fast_period"] for p in points} == {5, 10}
    assert {p["allow_short"] for p in points} == {True, False}
    assert all(0 <= p["entry_threshold"] <= 0.5 for p in points)  # type: ignore[operator]
    assert points == _plan(**spec)  # the seed fixes the draws
    floats = _plan(grid={"entry_threshold": "0:0.02:0.01"})
    assert [p["entry_threshold"] for p in floats] == [0.0, 0.01, 0.02]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"fast_period": "0:10:5"}, "fast_period=0 is outside what fast_period accepts (>= 1"),
        ({"fast_period": "5:20000:5000"}, "outside what fast_period accepts"),
        ({"entry_threshold": "0.5:1:0.5"}, "entry_threshold=1.0 is outside"),
        ({"fast_period": "2.5,3"}, "fast_period takes whole numbers"),
        ({"fast_period": "5.5:10:1"}, "fast_period takes whole numbers"),
        ({"fast_period": "5:10"}, "is not START:STOP:STEP"),
        ({"fast_period": "10:5:1"}, "needs a positive STEP and STOP >= START"),
        ({"fast_period": "5:10:0"}, "needs a positive STEP"),
        ({"fast_period": "1:10:nan"}, "give finite numbers"),
        ({"fast_period": "a,b"}, "'a' in the grid of fast_period is not a number"),
        ({"fast_period": ","}, "has no values"),
        ({"fast_period": "1:1e9:1"}, "a sweep runs at most 10,000 points"),
        ({"no_such": "1,2"}, "has no parameter 'no_such'"),
        ({"allow_short": "maybe"}, "'maybe' is not true or false"),
    ],
)
def test_a_value_outside_the_declaration_is_refused(grid: dict[str, str], message: str) -> None:
    with pytest.raises(UserInputError) as caught:
        _plan(grid=grid, constraints=[])
    assert message in caught.value.message


def test_too_many_points_together_are_refused() -> None:
    with pytest.raises(UserInputError, match="at most 10,000 are run"):
        _plan(grid={"fast_period": "1:200:1", "slow_period": "2:200:1"})


def test_a_sweep_that_leaves_nothing_is_refused() -> None:
    with pytest.raises(UserInputError, match="No point of the sweep is left"):
        _plan(grid={"fast_period": "30,40"}, constraints=["fast_period > 100"])
    with pytest.raises(UserInputError, match="varies no parameter"):
        _plan()


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("fast_period < slow_period", {"fast_period": 5, "slow_period": 20}, True),
        ("slow_period >= 2 * fast_period + 1", {"fast_period": 10, "slow_period": 20}, False),
        (
            "not fast_period == 5 or slow_period % 20 == 0",
            {"fast_period": 5, "slow_period": 40},
            True,
        ),
        (
            "3 < fast_period <= 10 and -slow_period < -5",
            {"fast_period": 10, "slow_period": 6},
            True,
        ),
        ("slow_period / fast_period > 2.5", {"fast_period": 10, "slow_period": 20}, False),
        ("slow_period // fast_period - 1 != 1", {"fast_period": 10, "slow_period": 20}, False),
    ],
)
def test_constraints_evaluate_like_python(
    text: str, values: dict[str, int], expected: bool
) -> None:
    assert Constraint(text, NAMES).holds(values) is expected


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/pwned')",
        "fast_period.__class__ == 1",
        "open('/etc/passwd')",
        "fast_period ** 99999999 > 1",
        "[x for x in ()] == []",
        "lambda: 1",
        "'a' < 'b'",
        "True",
        "fast_period",
        "fast_period < slow_period; import os",
        "fast_period if 1 else slow_period",
        "fast_period in (1, 2)",
        "fast_period is None",
        "unknown_name < 3",
        "(" * 300 + "1" + ")" * 300,
        "x" * 600,
        "",
        "fast_period < True",
        "(fast_period and slow_period) > 1",
        "fast_period < slow_period + (fast_period < 3)",
        "not fast_period",
        "fast_period := 3",
        "fast_period < 1j",
    ],
)
def test_hostile_constraints_are_refused(text: str) -> None:
    with pytest.raises(UserInputError):
        Constraint(text, NAMES)


def test_a_constraint_that_cannot_be_evaluated_says_where() -> None:
    constraint = Constraint("slow_period / (fast_period - 5) > 1", NAMES)
    with pytest.raises(UserInputError, match="cannot be evaluated at fast_period=5"):
        constraint.holds({"fast_period": 5, "slow_period": 20})


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_a_constraint_or_a_clear_refusal(text: str) -> None:
    refusal: UserInputError | None = None
    try:
        constraint = Constraint(text, NAMES)
        holds = constraint.holds(dict.fromkeys(NAMES, 7))
    except UserInputError as exc:
        refusal = exc
    if refusal is None:
        assert isinstance(holds, bool)
    else:
        assert refusal.message.startswith("The constraint")


_NUMBERS = st.recursive(
    st.sampled_from(["fast_period", "slow_period", "3", "2.5", "0", "-1"]),
    lambda inner: st.builds(
        lambda a, op, b: f"({a} {op} {b})",
        inner,
        st.sampled_from(["+", "-", "*", "/", "//", "%"]),
        inner,
    ),
    max_leaves=6,
)
_COMPARISONS = st.builds(
    lambda a, op, b: f"{a} {op} {b}",
    _NUMBERS,
    st.sampled_from(["<", "<=", "==", "!=", ">"]),
    _NUMBERS,
)
_CONDITIONS = st.recursive(
    _COMPARISONS,
    lambda inner: st.one_of(
        st.builds(
            lambda a, op, b: f"({a}) {op} ({b})", inner, st.sampled_from(["and", "or"]), inner
        ),
        st.builds(lambda a: f"not ({a})", inner),
    ),
    max_leaves=4,
)


@settings(max_examples=200, deadline=None)
@given(_CONDITIONS, st.integers(1, 50), st.integers(1, 50))
def test_allowed_expressions_agree_with_python(text: str, fast: int, slow: int) -> None:
    values = {"fast_period": fast, "slow_period": slow}
    try:
        expected = bool(eval(text, {"__builtins__": {}}, values))  # the test's own oracle
    except ZeroDivisionError:
        with pytest.raises(UserInputError, match="cannot be evaluated"):
            Constraint(text, NAMES).holds(values)
        return
    assert Constraint(text, NAMES).holds(values) is expected


def test_the_example_sweep_file_plans_the_issues_grid(tmp_path: Path) -> None:
    file = load_backtest_file(Path("configs/examples/sma_sweep.yaml"))
    assert file.sweep is not None
    assert len(plan_points(SMA, {}, file.sweep).points) == 90
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "strategy: {type: sma}\ninstruments: [AAPL]\n"
        "sweep: {grid: {fast_period: '5,10'}, objective: luck, extra: 1}\n"
    )
    with pytest.raises(UserInputError) as caught:
        load_backtest_file(bad)
    assert "sweep.objective" in caught.value.message
    assert "sweep.extra" in caught.value.message
