"""The walk-forward HTML report: the stitched out-of-sample equity against buy-and-hold of
the first instrument, and each window's chosen parameters and objectives."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ntrader.models.walk_forward import WalkForwardResult
from ntrader.services.reports import charts
from ntrader.services.reports.catalog import Kind, format_value, sign_tone
from ntrader.services.reports.files import write_atomic
from ntrader.services.reports.html import Cell, card, chart, kpi, page, table

EQUITY_CHART_ID = "walk-forward-equity"


def _curve(series: pd.Series) -> tuple[list[str], list[float | None]]:
    index = pd.DatetimeIndex(series.index)
    return charts.days(index), charts.values(series.to_numpy())


def equity_figure(result: WalkForwardResult) -> charts.Figure:
    x, y = _curve(result.equity)
    traces = [
        charts.line(x, y, "Out-of-sample (stitched)", charts.BLUE, hovertemplate="%{y:$,.2f}")
    ]
    if len(result.buy_and_hold):
        bx, by = _curve(result.buy_and_hold)
        traces.append(
            charts.line(
                bx,
                by,
                f"{result.benchmark_symbol} buy & hold",
                charts.GREY,
                hovertemplate="%{y:$,.2f}",
            )
        )
    shapes = [
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": w.window.test_start.isoformat(),
            "x1": w.window.test_start.isoformat(),
            "y0": 0,
            "y1": 1,
            "line": {"color": "#cbd5e1", "width": 1, "dash": "dot"},
        }
        for w in result.windows[1:]
    ]
    return charts.figure(traces, 380, shapes=shapes, yaxis=charts.axis(tickformat="$,.0f"))


def _windows_table(result: WalkForwardResult) -> str:
    varied = [
        name
        for name in (result.windows[0].parameters if result.windows else {})
        if len({repr(w.parameters.get(name)) for w in result.windows}) > 1
    ] or list(result.windows[0].parameters if result.windows else {})
    header = [
        "#",
        Cell("Train", "text"),
        Cell("Test", "text"),
        Cell("Parameters", "text"),
        "In-sample",
        "Out-of-sample",
        Cell("Test run", "text"),
    ]
    rows = [
        [
            Cell(str(number), sort=number),
            Cell(f"{w.window.train_start} → {w.window.train_end}", "text"),
            Cell(f"{w.window.test_start} → {w.window.test_end}", "text"),
            Cell(", ".join(f"{n}={w.parameters.get(n)}" for n in varied), "text"),
            Cell(format_value(Kind.RATIO, w.in_sample), sort=w.in_sample),
            Cell(format_value(Kind.RATIO, w.out_of_sample), sort=w.out_of_sample),
            Cell(w.test_run_id[:8], "text"),
        ]
        for number, w in enumerate(result.windows, start=1)
    ]
    return table(header, rows, css="sortable")


def render(result: WalkForwardResult) -> str:
    config = result.config
    settings = result.settings
    mode = "anchored" if settings["anchored"] else "rolling"
    final = float(result.equity.iloc[-1]) if len(result.equity) else None
    oos_return = final / config.initial_capital - 1.0 if final is not None else None
    held = (
        float(result.buy_and_hold.iloc[-1]) / config.initial_capital - 1.0
        if len(result.buy_and_hold)
        else None
    )
    kpis = [
        kpi("Out-of-sample return", format_value(Kind.PERCENT, oos_return), sign_tone(oos_return)),
        kpi(f"{result.benchmark_symbol} buy & hold", format_value(Kind.PERCENT, held)),
        kpi("Walk-forward efficiency", format_value(Kind.RATIO, result.efficiency)),
        kpi("Windows", str(len(result.windows))),
    ]
    body = card(
        "Stitched out-of-sample equity",
        chart(EQUITY_CHART_ID),
        note="Each test window's run chained from where the previous one ended; dotted "
        "lines mark where a window's parameters take over.",
        wide=True,
    ) + card(
        "Windows",
        _windows_table(result),
        small=f"objective: {result.objective}",
        note="In-sample: the best training run's objective; out-of-sample: the test run's.",
        wide=True,
    )
    return page(
        title=f"Walk-forward {result.id[:8]}",
        subtitle=f"{config.strategy_type} on {', '.join(config.instruments)} · "
        f"{config.start} → {config.end} · train {settings['train']}, test {settings['test']}, "
        f"step {settings['step']}, {mode}",
        tag="walk-forward",
        kpis=kpis,
        body=body,
        figures={EQUITY_CHART_ID: equity_figure(result)},
    )


def write(result: WalkForwardResult, output: Path) -> Path:
    path = output.expanduser().resolve()
    write_atomic(path, render(result))
    return path
