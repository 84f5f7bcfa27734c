"""One catalog formats every metric: the terminal tables, the text report and the HTML report
show the same string for the same figure, and the formatters hold up on any number."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from html import escape

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ntrader.cli import output
from ntrader.cli.render import render_per_instrument, render_summary_table
from ntrader.cli.report import render_summary
from ntrader.models.backtest import BacktestConfig, PortfolioSnapshot, RunRecord, TradeRecord
from ntrader.models.enums import RunStatus
from ntrader.models.metrics import InstrumentFigures, Metrics
from ntrader.services.metrics import compute_metrics
from ntrader.services.reports.analytics import trade_stats
from ntrader.services.reports.catalog import (
    INFINITE_PROFIT_FACTOR,
    INSTRUMENT_FIGURES,
    METRICS,
    Kind,
    by_key,
    format_metric,
    format_value,
)
from ntrader.services.reports.data import DailyCurve, RunData
from ntrader.services.reports.html_report import render_html
from ntrader.services.reports.text import REPORT_FIGURES, render_text
from tests.factories import OLD_ROW, trade_with_pnl

_DAYS = pd.bdate_range("2024-01-02", periods=60)
_SUMMARY_KEYS = (
    "total_return",
    "cagr",
    "sharpe_ratio",
    "max_drawdown",
    "volatility",
    "win_rate",
    "profit_factor",
    "benchmark_return",
)


def _run_data(trades: list[TradeRecord]) -> RunData:
    """A two-instrument run held in memory: a wobbling curve, the given closed trades."""
    equity = 1e5 * (1 + 0.002 * np.sin(np.arange(61) / 3) + np.arange(61) * 1e-4)
    per_instrument = {
        name: InstrumentFigures.model_validate(figures)
        for name, figures in OLD_ROW["per_instrument"].items()
    }
    metrics = compute_metrics(equity, trades).model_copy(update={"per_instrument": per_instrument})
    run = RunRecord(
        id="0f0e0d0c-0000-4000-8000-000000000000",
        configuration_id="c",
        config=BacktestConfig(strategy_type="sma_crossover", instruments=("AAPL", "MSFT")),
        status=RunStatus.COMPLETED,
        created_at=datetime(2024, 4, 1, tzinfo=UTC),
        metrics=metrics,
    )
    snapshots = [
        PortfolioSnapshot(
            ts=day.tz_localize("America/New_York").replace(hour=16).tz_convert(UTC),
            cash=value,
            positions={},
            total_value=value,
            buying_power=3 * value,
        )
        for day, value in zip(_DAYS, equity[1:], strict=True)
    ]
    return RunData(
        run=run,
        trades=trades,
        snapshots=snapshots,
        curve=DailyCurve(initial=1e5, dates=_DAYS, values=equity[1:]),
        benchmark=None,
        metrics=metrics,
        risk_free_rate=0.0,
    )


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], None]], str]:
    """What a terminal renderer prints, on a console wide enough never to wrap."""
    monkeypatch.setattr(output.stdout(), "width", 400)

    def run(render: Callable[[], None]) -> str:
        with ExitStack() as stack:
            capture = stack.enter_context(output.stdout().capture())
            render()
        return capture.get()

    return run


def _pair(label: str, value: str) -> re.Pattern[str]:
    """``label`` and then ``value`` in one row of a rich table or a text report."""
    return re.compile(rf"{re.escape(label)}[\s│]+{re.escape(value)}(?=[\s│]|$)", re.MULTILINE)


def _html_row(label: str, value: str) -> re.Pattern[str]:
    return re.compile(rf"<td>{re.escape(escape(label))}</td><td[^>]*>{re.escape(escape(value))}<")


def _expected(data: RunData, keys: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    for key in keys:
        metric = by_key(key)
        yield metric.label, format_metric(data.metrics, metric)


@pytest.mark.parametrize(
    "pnls", [[20.0, -5.0, -5.0], [20.0, 40.0]], ids=["with-losses", "no-losses"]
)
def test_terminal_text_and_html_show_the_same_string(
    terminal: Callable[[Callable[[], None]], str], pnls: list[float]
) -> None:
    data = _run_data([trade_with_pnl(pnl) for pnl in pnls])
    generated = datetime(2024, 4, 2, tzinfo=UTC)
    text = render_text(data, trade_stats(data), generated)
    html = render_html(data, trade_stats(data), generated)
    summary = terminal(lambda: render_summary_table("Metrics", data.metrics, 1.01e5, 1e5))
    report_summary = terminal(lambda: render_summary(data, None))
    all_keys = tuple(m.key for m in METRICS)
    for label, value in _expected(data, all_keys):
        assert _pair(label, value).search(text), (label, value)
        assert _html_row(label, value).search(html), (label, value)
        assert _pair(label, value).search(report_summary), (label, value)
    for label, value in _expected(data, _SUMMARY_KEYS):
        assert _pair(label, value).search(summary), (label, value)
    shown = format_metric(data.metrics, by_key("profit_factor"))
    if len(pnls) == 2:
        assert shown == INFINITE_PROFIT_FACTOR
    else:
        assert shown == "2.00"
        assert format_metric(data.metrics, by_key("avg_loss")) == "-$5.00"


def _row(cells: list[str]) -> re.Pattern[str]:
    return re.compile(r"MSFT\.NASDAQ[\s│]+" + r"[\s│]+".join(map(re.escape, cells)))


def test_per_instrument_tables_agree(terminal: Callable[[Callable[[], None]], str]) -> None:
    data = _run_data([trade_with_pnl(-5.0)])
    generated = datetime(2024, 4, 2, tzinfo=UTC)
    text = render_text(data, trade_stats(data), generated)
    html = render_html(data, trade_stats(data), generated)
    table = terminal(lambda: render_per_instrument(data.metrics))
    figures = (data.metrics.per_instrument or {})["MSFT.NASDAQ"]
    cells = [m.format(figures.value(m.key)) for m in REPORT_FIGURES]
    assert cells == ["2", "0.00%", "-$10.00", "-0.01%"]
    assert _row(cells).search(text)
    # The terminal has room for every figure; this old row has no exposures.
    every = [m.format(figures.value(m.key)) for m in INSTRUMENT_FIGURES]
    assert every == ["2", "0.00%", "-$10.00", "—", "-0.01%", "0", "—", "—"]
    assert _row(every).search(table)
    html_cells = "".join(rf"<td[^>]*>{re.escape(cell)}</td>" for cell in cells)
    assert re.search(rf"<td>MSFT\.NASDAQ</td>{html_cells}", html)


_MONEY = re.compile(r"^(-?)\$(\d{1,3}(?:,\d{3})*)\.(\d{2})$")
_PERCENT = re.compile(r"^([+-]?)(\d+)\.(\d{2})%$")
finite = st.floats(allow_nan=False, allow_infinity=False)
# Where rounding bites: around a cent and a hundredth of a percent, either side of zero.
edges = st.sampled_from([0.0, -0.0, 0.005, -0.005, 0.0049999, -0.00499, 1e-300, -1e-300])
numbers = finite | edges | st.floats(-1.0, 1.0) | st.sampled_from([1e308, -1e308, 1e15 + 0.5])


def _read(sign: str, whole: str, cents: str) -> float:
    magnitude = float(f"{whole.replace(',', '')}.{cents}")
    return -magnitude if sign == "-" else magnitude


@given(numbers)
def test_money_is_dollars_and_cents_with_the_sign_in_front(value: float) -> None:
    text = format_value(Kind.MONEY, value)
    match = _MONEY.match(text)
    assert match, text
    shown = _read(*match.groups())
    assert math.isclose(shown, value, rel_tol=1e-15, abs_tol=0.005 + 1e-12)
    if shown == 0:
        assert text == "$0.00"  # never "-$0.00"
    else:
        assert (shown < 0) == (value < 0)


@given(numbers)
def test_percent_is_signed_and_rate_is_not(value: float) -> None:
    percent, rate = format_value(Kind.PERCENT, value), format_value(Kind.RATE, value)
    match = _PERCENT.match(percent)
    assert match, percent
    shown = _read(*match.groups())
    assert math.isclose(shown, value * 100, rel_tol=1e-15, abs_tol=0.005 + 1e-12)
    if shown == 0:
        assert percent == rate == "0.00%"
    else:
        assert match.group(1) == ("-" if value < 0 else "+")
        assert rate == percent.removeprefix("+")


@pytest.mark.parametrize("kind", [Kind.MONEY, Kind.PERCENT, Kind.RATE, Kind.RATIO])
def test_non_finite_and_missing_values_have_a_symbol(kind: Kind) -> None:
    shown = [format_value(kind, value) for value in (math.inf, -math.inf, math.nan, None)]
    assert shown == ["∞", "-∞", "n/a", "—"]


def test_every_metric_with_no_value_shows_a_dash() -> None:
    empty = Metrics.model_validate(
        {
            "returns": {"total_return": 0.0, "cagr": None, "annualized_return": None},
            "risk": {
                "max_drawdown": 0.0,
                "sharpe_ratio": None,
                "sortino_ratio": None,
                "calmar_ratio": None,
                "volatility": None,
            },
            "trading": dict.fromkeys(
                ("win_rate", "avg_win", "avg_loss", "profit_factor", "expectancy")
            )
            | {"total_trades": 0, "winning_trades": 0, "losing_trades": 0},
        }
    )
    shown = {m.key: format_metric(empty, m) for m in METRICS}
    assert shown["total_return"] == shown["max_drawdown"] == "0.00%"
    assert shown["total_trades"] == "0"
    assert shown["closed_trades"] == shown["profit_factor"] == shown["beta"] == "—"
