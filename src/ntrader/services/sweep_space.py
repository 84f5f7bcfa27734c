"""The points a sweep runs: grids and random draws checked against the strategy's own
parameter declaration, filtered by constraints parsed safely (never evaluated as code)."""

from __future__ import annotations

import ast
import itertools
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ntrader.core.errors import UserInputError
from ntrader.core.strategy_registry import ParameterSpec, StrategyType
from ntrader.models.sweep import MAX_CONSTRAINT_LENGTH, MAX_SWEEP_POINTS, SweepSpec

_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
# No power: 9**9**9 would run for ever. Everything else stays as small as its operands.
_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_CONSTRAINT_HINT = (
    "Write comparisons of parameters and numbers joined by and/or, e.g. "
    "'fast_period < slow_period' or 'slow_period >= 2 * fast_period and fast_period > 3'."
)


class Constraint:
    """A boolean expression over parameter names and numbers: comparisons, + - * / // %,
    unary minus, not, and/or. Anything else (calls, attributes, strings, **) is refused."""

    def __init__(self, text: str, names: frozenset[str]) -> None:
        self.text = text
        if len(text) > MAX_CONSTRAINT_LENGTH:
            raise UserInputError(
                f"The constraint is {len(text)} characters long; at most "
                f"{MAX_CONSTRAINT_LENGTH} are accepted.",
                hint=_CONSTRAINT_HINT,
            )
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            raise UserInputError(
                f"The constraint {text!r} is not an expression ntrader can read.",
                hint=_CONSTRAINT_HINT,
            ) from exc
        self._body = tree.body
        self._check(self._body, names)

    def _check(self, node: ast.AST, names: frozenset[str], *, boolean: bool = True) -> None:
        """Refuse anything outside the grammar: and/or/not join conditions, comparisons
        and arithmetic take numbers (so a condition is never used as a number)."""
        if boolean:
            if isinstance(node, ast.BoolOp):
                for value in node.values:
                    self._check(value, names)
                return
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                self._check(node.operand, names)
                return
            if isinstance(node, ast.Compare) and all(type(op) in _COMPARISONS for op in node.ops):
                for operand in (node.left, *node.comparators):
                    self._check(operand, names, boolean=False)
                return
            self._refuse(node, "is not a condition")
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise UserInputError(
                    f"The constraint {self.text!r} names {node.id!r}, which is not a "
                    f"parameter; parameters: {', '.join(sorted(names))}.",
                    hint=_CONSTRAINT_HINT,
                )
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                self._refuse(node, "is not a number")
        elif isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            self._check(node.left, names, boolean=False)
            self._check(node.right, names, boolean=False)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            self._check(node.operand, names, boolean=False)
        else:
            self._refuse(node, "is not a number")

    def _refuse(self, node: ast.AST, what: str) -> None:
        shown = ast.get_source_segment(self.text.strip(), node) or type(node).__name__
        raise UserInputError(
            f"The constraint {self.text!r} cannot be used: {shown[:80]!r} {what}.",
            hint=_CONSTRAINT_HINT,
        )

    def holds(self, values: Mapping[str, Any]) -> bool:
        try:
            return bool(self._evaluate(self._body, values))
        except (TypeError, ZeroDivisionError, OverflowError) as exc:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
            raise UserInputError(
                f"The constraint {self.text!r} cannot be evaluated at {shown}: {exc}.",
                hint="Guard the division or give every parameter it uses a number.",
            ) from exc

    def _evaluate(self, node: ast.AST, values: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Name):
            return values[node.id]
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BinOp):
            left, right = self._evaluate(node.left, values), self._evaluate(node.right, values)
            return _ARITHMETIC[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            operand = self._evaluate(node.operand, values)
            if isinstance(node.op, ast.Not):
                return not operand
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.BoolOp):
            results = (bool(self._evaluate(value, values)) for value in node.values)
            return all(results) if isinstance(node.op, ast.And) else any(results)
        if isinstance(node, ast.Compare):
            left = self._evaluate(node.left, values)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self._evaluate(comparator, values)
                if not _COMPARISONS[type(op)](left, right):
                    return False
                left = right
            return True
        raise AssertionError(f"unchecked node {type(node).__name__}")  # _check refused it


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """The validated points of a sweep, and the points the strategy refused (with one
    reason) so the user hears how many were left out."""

    points: tuple[dict[str, Any], ...]
    refused: int
    refusal: str | None


def parse_grid_value(name: str, text: str | list[Any], spec: ParameterSpec) -> list[Any]:
    """``START:STOP:STEP`` (STOP included), ``A,B,C``, or a list, as values of the
    parameter's type, each inside its declared bounds."""
    if isinstance(text, list):
        raw: list[Any] = text
    elif ":" in text:
        raw = _range(name, text, spec)
    else:
        raw = [part.strip() for part in text.split(",") if part.strip()]
    if not raw:
        raise UserInputError(f"The grid of {name} has no values.", hint=_GRID_HINT)
    values = [_typed(name, value, spec) for value in raw]
    return list(dict.fromkeys(values))


_GRID_HINT = "Write a grid as NAME=START:STOP:STEP (STOP included) or NAME=A,B,C."


def _range(name: str, text: str, spec: ParameterSpec) -> list[Any]:
    parts = text.split(":")
    if len(parts) != 3:
        raise UserInputError(f"The grid {name}={text} is not START:STOP:STEP.", hint=_GRID_HINT)
    start, stop, step = (_number(name, part) for part in parts)
    if step <= 0 or stop < start:
        raise UserInputError(
            f"The grid {name}={text} needs a positive STEP and STOP >= START.", hint=_GRID_HINT
        )
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_SWEEP_POINTS:
        raise UserInputError(
            f"The grid {name}={text} has {count:,} values; a sweep runs at most "
            f"{MAX_SWEEP_POINTS:,} points.",
            hint="Use a larger STEP or a narrower range.",
        )
    # Whole-number parameters keep the raw values: _typed refuses a fractional one.
    digits = None if spec.kind is int else 12
    return [
        start + i * step if digits is None else round(start + i * step, digits)
        for i in range(count)
    ]


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise UserInputError(
            f"{text.strip()!r} in the grid of {name} is not a number.", hint=_GRID_HINT
        ) from exc
    if not math.isfinite(value):
        raise UserInputError(f"The grid of {name} holds {text.strip()!r}; give finite numbers.")
    return value


def _typed(name: str, value: Any, spec: ParameterSpec) -> Any:
    """``value`` as the parameter's type, refused when it is another type or out of bounds."""
    if spec.kind is bool:
        text = str(value).strip().lower()
        if text in {"true", "1", "yes"}:
            return True
        if text in {"false", "0", "no"}:
            return False
        raise UserInputError(f"{value!r} is not true or false (parameter {name}).")
    if spec.kind not in (int, float):
        raise UserInputError(
            f"{name} is a {spec.kind.__name__} parameter; a sweep varies numbers and flags only."
        )
    number = _number(name, str(value)) if not isinstance(value, bool) else math.nan
    if math.isnan(number):
        raise UserInputError(f"{value!r} is not a number (parameter {name}).")
    if spec.kind is int and number != int(number):
        raise UserInputError(f"{name} takes whole numbers; {value!r} is not one.", hint=_GRID_HINT)
    typed: int | float = int(number) if spec.kind is int else number
    if not spec.admits(typed):
        raise UserInputError(
            f"{name}={typed} is outside what {name} accepts ({_bounds(spec)}).",
            hint="Keep the grid inside the bounds `ntrader strategy types` shows.",
        )
    return typed


def _bounds(spec: ParameterSpec) -> str:
    parts = []
    if spec.minimum is not None:
        parts.append(f">= {spec.minimum:g}")
    if spec.exclusive_minimum is not None:
        parts.append(f"> {spec.exclusive_minimum:g}")
    if spec.maximum is not None:
        parts.append(f"<= {spec.maximum:g}")
    if spec.exclusive_maximum is not None:
        parts.append(f"< {spec.exclusive_maximum:g}")
    return " and ".join(parts) or "any value"


def _random_draws(spec_of: Mapping[str, ParameterSpec], sweep: SweepSpec) -> list[dict[str, Any]]:
    if sweep.random is None:
        return [{}]
    rng = np.random.default_rng(sweep.random.seed)
    ranges: dict[str, tuple[Any, Any]] = {}
    for name, text in sweep.random.ranges.items():
        spec = _spec(spec_of, name)
        bounds = text.split(":")
        if len(bounds) != 2 or spec.kind not in (int, float):
            raise UserInputError(
                f"The random range {name}={text} is not LOW:HIGH of a numeric parameter.",
                hint="Write a random range as NAME=LOW:HIGH, e.g. fast_period=5:50.",
            )
        low, high = (_typed(name, bound, spec) for bound in bounds)
        if high < low:
            raise UserInputError(f"The random range {name}={text} has HIGH below LOW.")
        ranges[name] = (low, high)
    draws = []
    for _ in range(sweep.random.samples):
        draw: dict[str, Any] = {}
        for name, (low, high) in ranges.items():
            if spec_of[name].kind is int:
                draw[name] = int(rng.integers(low, high + 1))
            else:
                draw[name] = float(rng.uniform(low, high))
        draws.append(draw)
    return draws


def _spec(spec_of: Mapping[str, ParameterSpec], name: str) -> ParameterSpec:
    found = spec_of.get(name)
    if found is None:
        raise UserInputError(
            f"The strategy has no parameter {name!r}; its parameters: {', '.join(spec_of)}.",
            hint="`ntrader strategy types` lists each strategy's parameters.",
        )
    return found


def plan_points(
    strategy_type: StrategyType, base_parameters: Mapping[str, Any], sweep: SweepSpec
) -> SweepPlan:
    """Every point of the sweep as a complete, validated parameter set (the base's values
    where the sweep does not vary them), in grid order. Bad grids and constraints are
    refused; points the strategy's cross-field rules refuse are left out and counted."""
    spec_of = {spec.name: spec for spec in strategy_type.parameter_specs()}
    grids = {
        name: parse_grid_value(name, text, _spec(spec_of, name))
        for name, text in sweep.grid.items()
    }
    draws = _random_draws(spec_of, sweep)
    overlap = set(grids) & set(sweep.random.ranges if sweep.random else {})
    if overlap:
        raise UserInputError(
            f"{', '.join(sorted(overlap))} is both in the grid and in the random ranges.",
            hint="Vary each parameter one way.",
        )
    if not grids and sweep.random is None:
        raise UserInputError(
            "The sweep varies no parameter.",
            hint="Give at least one --grid NAME=START:STOP:STEP (or a random range).",
        )
    total = math.prod(len(values) for values in grids.values()) * len(draws)
    if total > MAX_SWEEP_POINTS:
        raise UserInputError(
            f"The sweep has {total:,} points; at most {MAX_SWEEP_POINTS:,} are run.",
            hint="Use coarser grids or fewer random samples.",
        )
    names = frozenset(spec_of)
    constraints = [Constraint(text, names) for text in sweep.constraints]
    defaults = {spec.name: spec.default for spec in spec_of.values()}
    points: list[dict[str, Any]] = []
    refused, refusal = 0, None
    seen: set[tuple[tuple[str, Any], ...]] = set()
    for combo in itertools.product(*grids.values()):
        for draw in draws:
            varied = {**dict(zip(grids, combo, strict=True)), **draw}
            values = {**defaults, **base_parameters, **varied}
            if not all(constraint.holds(values) for constraint in constraints):
                continue
            try:
                parameters = strategy_type.validate(values).model_dump()
            except UserInputError as exc:
                refused += 1
                refusal = refusal or exc.message
                continue
            key = tuple(sorted(parameters.items()))
            if key not in seen:
                seen.add(key)
                points.append(parameters)
    if not points:
        raise UserInputError(
            "No point of the sweep is left to run"
            + (f": the strategy refuses all {refused} ({refusal})" if refused else "")
            + ".",
            hint="Loosen the constraints or change the grids.",
        )
    return SweepPlan(points=tuple(points), refused=refused, refusal=refusal)
