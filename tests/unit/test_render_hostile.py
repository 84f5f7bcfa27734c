"""The terminal renderers and JSON output against hostile text and numbers.

Names, ids, paths and messages come from users and data files; rich reads ``[...]`` as markup,
so each must print as itself and never raise. JSON has no NaN or Infinity.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.style import Style
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from ntrader.cli import output
from ntrader.cli.render import (
    render_coverage,
    render_per_instrument,
    render_run_detail,
    render_run_list,
    render_summary_table,
)
from ntrader.cli.render_ib import render_verify
from ntrader.cli.render_strategy import render_strategy, render_strategy_list, render_validation
from ntrader.models.backtest import BacktestConfig, RunRecord
from ntrader.models.bars import BarCoverage
from ntrader.models.enums import RunStatus, StrategyStatus, Timeframe
from ntrader.models.metrics import InstrumentFigures, Metrics
from ntrader.models.strategy import StrategyRecord
from ntrader.services.ib.verify import Problem, VerifyReport
from ntrader.services.metrics import compute_metrics
from ntrader.services.reports.catalog import Kind, format_value, sign_tone
from ntrader.services.strategy_service import ValidationReport

# Markup look-alikes, escapes, wide and multi-line text, mixed with arbitrary printable text.
_PIECES = ["[", "]", "[/]", "[bold", "[red]x[/red]", "\\", "\\[", "😀", "\n", "[link=x]", "é"]
_PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"))
hostile = st.lists(st.sampled_from(_PIECES) | st.text(_PRINTABLE, max_size=4), max_size=8).map(
    "".join
)
named = hostile.filter(lambda s: s.strip() and "\n" not in s).map(lambda s: s[:100])

_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], None]], str]:
    """Run a renderer and return what it printed on stdout and stderr, never wrapped."""
    for console in (output.stdout(), output.stderr()):
        # Wide enough for any generated text; not wider, as panels pad to the full width.
        monkeypatch.setattr(console, "width", 1_000)

    def run(render: Callable[[], None]) -> str:
        with ExitStack() as stack:
            captures = [
                stack.enter_context(c.capture()) for c in (output.stdout(), output.stderr())
            ]
            render()
        return "".join(capture.get() for capture in captures)

    return run


def assert_shown(value: str, printed: str) -> None:
    """Every line of ``value`` appears, character for character (tables pad around it)."""
    for line in value.split("\n"):
        assert line.strip() in printed, (line, printed)


def _flat_metrics() -> Metrics:
    """Metrics of a run that never traded: exactly 0 % return."""
    return compute_metrics(np.full(60, 100_000.0), [])


def _run(config: BacktestConfig, **fields: Any) -> RunRecord:
    now = datetime(2024, 1, 2, tzinfo=UTC)
    return RunRecord(
        id="0f0e0d0c-0000-4000-8000-000000000000",
        configuration_id="c",
        config=config,
        status=RunStatus.COMPLETED,
        created_at=now,
        **fields,
    )


def _strategy(name: str, description: str, key: str, value: str) -> StrategyRecord:
    now = datetime(2024, 1, 2, tzinfo=UTC)
    return StrategyRecord(
        id="s-1",
        name=name,
        strategy_type=name,
        parameters={key: value},
        status=StrategyStatus.DRAFT,
        description=description,
        created_at=now,
        updated_at=now,
    )


@_SETTINGS
@given(message=hostile, hint=hostile)
def test_messages_print_hostile_text_verbatim(
    rendered: Callable[[Callable[[], None]], str], message: str, hint: str
) -> None:
    printed = rendered(lambda: output.print_error(message, hint))
    assert_shown(message, printed)
    assert_shown(hint, printed)
    assert_shown(message, rendered(lambda: output.print_warning(message)))
    assert_shown(message, rendered(lambda: output.print_success(message)))


@_SETTINGS
@given(name=named, description=hostile, key=named, value=hostile)
def test_strategy_renderers_print_hostile_text_verbatim(
    rendered: Callable[[Callable[[], None]], str],
    name: str,
    description: str,
    key: str,
    value: str,
) -> None:
    record = _strategy(name, description, key, value)
    shown = rendered(lambda: render_strategy(record, json_output=False, note=description))
    for part in (name, description, key, value):
        assert_shown(part, shown)
    listed = rendered(lambda: render_strategy_list([record], json_output=False))
    assert_shown(name, listed)
    assert_shown(f"{key}={value}", listed)
    report = ValidationReport(record, name, date(2020, 1, 1), date(2020, 12, 31), 0, "r" * 36)
    assert_shown(name, rendered(lambda: render_validation(report, json_output=False)))


@_SETTINGS
@given(
    strategy=named,
    instrument=named.filter(lambda s: "," not in s),
    error=hostile,
    value=hostile,
    title=hostile,
)
def test_run_renderers_print_hostile_text_verbatim(
    rendered: Callable[[Callable[[], None]], str],
    strategy: str,
    instrument: str,
    error: str,
    value: str,
    title: str,
) -> None:
    config = BacktestConfig(
        strategy_type="sma_crossover",
        strategy_name=strategy,
        instruments=(instrument,),
        parameters={"note": value},
        benchmark=instrument,
    )
    # Per-instrument figures as the first multi-instrument runs stored them.
    per_instrument = {
        name: InstrumentFigures(
            bars=3,
            total_trades=1,
            winning_trades=1,
            win_rate=0.5,
            net_pnl=pnl,
            return_contribution=pnl / 1e5,
            open_positions=0,
        )
        for name, pnl in ((instrument, 0.0), (f"{instrument} 2", -5.0))
    }
    metrics = _flat_metrics().model_copy(update={"per_instrument": per_instrument})
    run = _run(config, error_message=error, metrics=metrics)
    detail = rendered(lambda: render_run_detail(run, json_output=False))
    for part in (error, strategy, config.instruments[0], repr(value)):
        assert_shown(part, detail)
    assert_shown(
        strategy, rendered(lambda: render_run_list([run], json_output=False, ids_only=False))
    )
    assert_shown(instrument, rendered(lambda: render_per_instrument(metrics)))
    assert_shown(title, rendered(lambda: render_summary_table(title, metrics, 1e5, 1e5)))
    coverage = [BarCoverage(instrument, Timeframe.DAILY, 3, 0, 86_400 * 10**9)]
    assert_shown(instrument, rendered(lambda: render_coverage(coverage, json_output=False)))


def test_a_zero_return_run_lists_and_shows(rendered: Callable[[Callable[[], None]], str]) -> None:
    """0.00 % used to build ``[]0.00%[/]`` markup, and every later `backtest list` crashed."""
    run = _run(BacktestConfig(strategy_type="sma_crossover", instruments=("AAPL",)))
    run = run.model_copy(update={"metrics": _flat_metrics()})
    assert run.metrics is not None and run.metrics.returns.total_return == 0
    assert "0.00%" in rendered(lambda: render_run_list([run], json_output=False, ids_only=False))
    assert "Total return" in rendered(lambda: render_run_detail(run, json_output=False))


@given(st.none() | st.floats(allow_nan=True, allow_infinity=True))
def test_sign_tones_are_always_valid_styles(value: float | None) -> None:
    style = output.TONE_STYLE[sign_tone(value)]
    assert style and Style.parse(style) is not None
    if value is not None and not math.isnan(value):
        assert style == ("green" if value > 0 else "red" if value < 0 else "default")


@pytest.mark.parametrize(
    ("value", "number", "percent", "money"),
    [
        (math.inf, "∞", "∞", "∞"),
        (-math.inf, "-∞", "-∞", "-∞"),
        (math.nan, "n/a", "n/a", "n/a"),
        (-0.0, "0.00", "0.00%", "$0.00"),
        (None, "—", "—", "—"),
    ],
)
def test_formatters_never_print_nan_or_inf(
    value: float | None, number: str, percent: str, money: str
) -> None:
    formatted = tuple(format_value(kind, value) for kind in (Kind.RATIO, Kind.PERCENT, Kind.MONEY))
    assert formatted == (
        number,
        percent,
        money,
    )


def _strict_loads(document: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(document, parse_constant=refuse)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def _non_finite_count(value: Any) -> int:
    if isinstance(value, float):
        return 0 if math.isfinite(value) else 1
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return sum(map(_non_finite_count, items))


def _same_but_null(original: Any, written: Any) -> None:
    """``written`` is ``original`` with each non-finite float replaced by null."""
    if isinstance(original, float) and not math.isfinite(original):
        assert written is None
    elif isinstance(original, dict):
        assert list(written) == list(original)
        for key in original:
            _same_but_null(original[key], written[key])
    elif isinstance(original, list):
        assert len(written) == len(original)
        for a, b in zip(original, written, strict=True):
            _same_but_null(a, b)
    else:
        assert written == original and type(written) is type(original)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_print_json_is_strict_and_keeps_every_finite_value(payload: Any) -> None:
    """Strict JSON whatever the payload; finite values exactly as they were."""
    clean, notes = output.json_safe(payload)
    _same_but_null(payload, _strict_loads(json.dumps(clean, allow_nan=False)))
    assert len(notes) == _non_finite_count(payload)


def test_print_json_names_each_non_finite_field(capsys: pytest.CaptureFixture[str]) -> None:
    payload = {
        "metrics": {"trading": {"profit_factor": math.inf}, "risk": {"sharpe_ratio": math.nan}},
        "curve": [1.5, -math.inf, np.float64(math.inf), Decimal("NaN")],
        "kept": [np.float32(0.5), Decimal("1.25")],
    }
    output.print_json(payload)
    written = capsys.readouterr()
    assert _strict_loads(written.out) == {
        "metrics": {"trading": {"profit_factor": None}, "risk": {"sharpe_ratio": None}},
        "curve": [1.5, None, None, None],
        "kept": [0.5, "1.25"],
    }
    assert written.err == (
        "Warning: metrics.trading.profit_factor is infinite (no losing trades); "
        "metrics.risk.sharpe_ratio is not a number (NaN); curve[1] is negative infinite; "
        "curve[2] is infinite; curve[3] is not a number (NaN); written as null.\n"
    )


def test_print_json_error_is_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    output.print_json_error("No backtest matches '[/]'.", 1, None)
    assert _strict_loads(capsys.readouterr().out) == {
        "error": "No backtest matches '[/]'.",
        "exit_code": 1,
        "hint": None,
    }


@pytest.fixture
def sql_error(tmp_path: Path) -> SQLAlchemyError:
    """A real SQLAlchemy error whose text embeds the statement and a secret parameter."""
    with sqlite3.connect(tmp_path / "x.db") as connection:
        connection.execute("CREATE TABLE users (name TEXT PRIMARY KEY)")
        connection.execute("INSERT INTO users VALUES ('hunter2-secret')")
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with (
        pytest.raises(SQLAlchemyError, match="INSERT INTO users") as raised,
        engine.begin() as connection,
    ):
        connection.execute(text("INSERT INTO users VALUES (:n)"), {"n": "hunter2-secret"})
    engine.dispose()
    assert "hunter2-secret" in str(raised.value)  # what the old message showed
    return raised.value


def test_unexpected_sql_errors_are_described_without_sql_or_parameters(
    sql_error: SQLAlchemyError,
) -> None:
    described = output.describe_exception(sql_error)
    assert described == "IntegrityError: UNIQUE constraint failed: users.name"


@pytest.mark.parametrize(
    ("error", "described"),
    [
        (
            RuntimeError("cannot reach postgresql+psycopg://bob:hunter2@db:5432/x\nmore detail"),
            "RuntimeError: cannot reach postgresql+psycopg://bob:***@db:5432/x",
        ),
        (
            ValueError("bad dsn host=db user=bob password=hunter2 dbname=x"),
            "ValueError: bad dsn host=db user=bob password=*** dbname=x",
        ),
        (KeyError(), "KeyError"),
        (ValueError("x" * 500), "ValueError: " + "x" * 199 + "…"),
    ],
)
def test_unexpected_errors_are_short_and_hide_passwords(error: Exception, described: str) -> None:
    assert output.describe_exception(error) == described


@_SETTINGS
@given(instrument=named, check=named, example=hostile)
def test_a_verification_with_problems_prints_its_series_and_each_problem_as_itself(
    rendered: Callable[[Callable[[], None]], str], instrument: str, check: str, example: str
) -> None:
    report = VerifyReport(
        instrument_id=instrument,
        timeframe=Timeframe.MINUTE_1,
        first_day=date(2024, 1, 2),
        last_day=date(2024, 3, 28),
        bars=31_590,
        problems=[Problem(check=check, count=12_345, examples=[example, "2024-01-03 14:31Z"])],
    )
    printed = rendered(lambda: render_verify(report, json_output=False))
    assert_shown(f"{instrument} 1MIN: 31,590 bars, 2024-01-02 to 2024-03-28", printed)
    assert_shown(check, printed)
    assert "12,345" in printed
    assert_shown(example, printed)
