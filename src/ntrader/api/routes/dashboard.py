"""The dashboard at ``/``: server-rendered pages and a little JavaScript, nothing to build.

``/`` is a shell (no data, open without the token, so it can ask for one); its script fetches
the fragments under ``/dashboard`` with the bearer header and places them. The run page and the
comparison reuse the HTML report's pieces: its metric tables (the catalog's formats), charts,
trade table, offline plotly.js and table-sorting script.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from ntrader.api.state import ApiState, api_state
from ntrader.core import strategy_registry
from ntrader.models.backtest import RunRecord
from ntrader.models.enums import RunStatus
from ntrader.services.data_service import DataService
from ntrader.services.reports import html
from ntrader.services.reports.catalog import by_key, format_metric, metric_tone, value_of
from ntrader.services.reports.comparison_report import render_comparison_html
from ntrader.services.reports.data import load_run_data
from ntrader.services.reports.html_report import Charts, curves, metric_tables, trades_table
from ntrader.services.reports.service import ReportService
from ntrader.services.run_history import RunHistory
from ntrader.services.strategy_service import StrategyService
from ntrader.utils.timeutil import ns_to_datetime

router = APIRouter(include_in_schema=False)
State = Annotated[ApiState, Depends(api_state)]
ASSETS = "/dashboard/assets"
RUNS_SHOWN = 500
# The metrics of the runs table, in the catalog's formats.
_COLUMNS = tuple(by_key(key) for key in ("total_return", "sharpe_ratio", "max_drawdown"))
_TITLES = {"runs": "Runs", "run": "Run", "compare": "Compare", "new": "New backtest"}
_NO_STORE = {"Cache-Control": "no-store"}


@cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("ntrader.api", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(template: str, **values: Any) -> HTMLResponse:
    return HTMLResponse(_templates().get_template(template).render(**values), headers=_NO_STORE)


@router.get("/")
def shell(page: Literal["runs", "run", "compare", "new"] = "runs") -> HTMLResponse:
    return _render("shell.html", page=page, title=_TITLES[page], css=html.CSS, assets=ASSETS)


@router.get(f"{ASSETS}/{{name}}")
def asset(name: Literal["dashboard.js", "dashboard.css", "plotly.js", "report.js"]) -> Response:
    if name == "plotly.js":
        text, media = html.plotly_js(), "text/javascript"
    elif name == "report.js":
        text, media = html.SCRIPT, "text/javascript"
    else:
        text = files("ntrader.api").joinpath("assets", name).read_text(encoding="utf-8")
        media = "text/css" if name.endswith(".css") else "text/javascript"
    return Response(text, media_type=media, headers={"Cache-Control": "max-age=3600"})


def _row(run: RunRecord) -> dict[str, Any]:
    metrics = run.metrics
    cells = []
    for metric in _COLUMNS:
        if metrics is None:
            cells.append(html.Cell("—", "", ""))
            continue
        value = value_of(metrics, metric)
        cells.append(
            html.Cell(
                format_metric(metrics, metric),
                html.tone_class(metric_tone(metrics, metric)),
                "" if value is None else value,
            )
        )
    return {
        "id": run.id,
        "strategy": run.config.strategy_name or run.config.strategy_type,
        "instruments": ", ".join(run.config.instruments),
        "status": run.status.value,
        "created": run.created_at.isoformat(),
        "cells": cells,
    }


@router.get("/dashboard/runs")
def runs_fragment(
    api: State,
    status: RunStatus | None = None,
    strategy: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    page = RunHistory(api.database).page(status=status, strategy=strategy, limit=RUNS_SHOWN)
    stored = [record.name for record in StrategyService(api.database).list()]
    return _render(
        "runs.html",
        runs=[_row(run) for run in page.runs],
        columns=_COLUMNS,
        limit=RUNS_SHOWN,
        strategies=sorted({*strategy_registry.known_names(), *stored}),
        strategy=strategy,
        statuses=[member.value for member in RunStatus],
        status=status.value if status else None,
    )


@router.get("/dashboard/runs/{run_id}")
def run_fragment(api: State, run_id: Annotated[str, Path(max_length=100)]) -> HTMLResponse:
    run = RunHistory(api.database).get(run_id)
    title = f"{run.config.strategy_name or run.config.strategy_type} on " + ", ".join(
        run.config.instruments
    )
    if run.status is not RunStatus.COMPLETED:
        return _render("run.html", run=run, title=title, completed=False, figures="{}")
    data = load_run_data(api.database, run.id)
    charts = Charts()
    return _render(
        "run.html",
        run=run,
        title=data.title,
        completed=True,
        metric_tables=metric_tables(data),
        curves=curves(data, charts),
        trades=trades_table(data.trades),
        trade_count=len(data.trades),
        figures=html.figures_json(charts.figures),
    )


@router.get("/dashboard/compare")
def compare_fragment(
    api: State, ids: Annotated[list[str], Query(min_length=2, max_length=2)]
) -> HTMLResponse:
    comparison = ReportService(api.database).compare(ids)
    document = render_comparison_html(comparison, datetime.now(UTC))
    return _render("compare.html", document=document)


@router.get("/dashboard/new")
def new_fragment(api: State) -> HTMLResponse:
    coverage = [row for row in DataService(api.database).coverage() if row.rows]
    first = coverage[0] if coverage else None
    return _render(
        "new.html",
        types=[strategy_registry.resolve(name) for name in strategy_registry.known_names()],
        instrument=first.instrument_id if first else "",
        start=ns_to_datetime(first.first_ts).date().isoformat() if first else "",
        end=ns_to_datetime(first.last_ts).date().isoformat() if first else "",
    )
