"""/api/v1/backtests: submit runs to the job pool, follow them, read and remove them."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from ntrader.api.events import EVENTS_RESPONSE, job_events
from ntrader.api.problems import ERROR_RESPONSES
from ntrader.api.schemas import Accepted, BacktestRequest, Deleted, EquityCurve, RunPage, TradePage
from ntrader.api.state import ApiState, api_state, client_of
from ntrader.core.errors import UserInputError
from ntrader.models.backtest import RunRecord
from ntrader.models.enums import ReportType, RunStatus
from ntrader.services.backtest_service import BacktestService
from ntrader.services.reports.comparison_report import comparison_document
from ntrader.services.reports.service import ReportService
from ntrader.services.run_history import RunHistory
from ntrader.utils.config_loader import ConfigSources, explain_parameter_error, validate_config

router = APIRouter(prefix="/backtests", tags=["backtests"], responses=ERROR_RESPONSES)
State = Annotated[ApiState, Depends(api_state)]
RunRef = Annotated[str, "a run id, a unique prefix of one, or `latest`"]
_MEDIA = {
    ReportType.HTML: "text/html; charset=utf-8",
    ReportType.JSON: "application/json",
    ReportType.TEXT: "text/plain; charset=utf-8",
    ReportType.CSV: "application/zip",
}


@router.post("", status_code=202)
async def submit(
    api: State, body: BacktestRequest, request: Request, response: Response
) -> Accepted:
    """Check a run configuration (the YAML file's keys, as JSON) and queue the backtest.

    The run is stored PENDING before this answers; it runs in the server's job pool. Follow
    it at ``events`` (server-sent events) or poll ``location``.
    """
    client = client_of(request)
    api.jobs.check_accepting(client)
    sources = ConfigSources(file=Path("request body"), file_keys=body.key_paths())
    config = validate_config(body.config_values(), sources)
    try:
        run = await run_in_threadpool(BacktestService(api.database).submit, config)
    except UserInputError as exc:
        raise explain_parameter_error(exc, sources) from exc
    api.jobs.enqueue(api.jobs.runs, run.id, client)
    location = f"/api/v1/backtests/{run.id}"
    response.headers["Location"] = location
    return Accepted(id=run.id, status=run.status, location=location, events=f"{location}/events")


@router.get("")
def list_runs(
    api: State,
    status: RunStatus | None = None,
    strategy: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> RunPage:
    """Runs, newest first, filtered by status and strategy (type or stored name)."""
    page = RunHistory(api.database).page(
        status=status, strategy=strategy, limit=limit, cursor=cursor
    )
    return RunPage(items=list(page.runs), next_cursor=page.next_cursor)


@router.get("/compare")
def compare(
    api: State,
    ids: Annotated[list[str], Query(min_length=2, max_length=20)],
    risk_free_rate: Annotated[float | None, Query(ge=-0.5, le=1.0)] = None,
) -> dict[str, Any]:
    """The runs' metrics side by side and whether their daily returns differ significantly
    (what `backtest compare --json` prints)."""
    comparison = ReportService(api.database).compare(ids, risk_free_rate=risk_free_rate)
    document: dict[str, Any] = comparison_document(comparison)
    return document


@router.get("/{run_id}")
def get_run(api: State, run_id: RunRef) -> RunRecord:
    """One run: status, configuration, metrics."""
    return RunHistory(api.database).get(run_id)


@router.delete("/{run_id}")
def delete_run(api: State, run_id: RunRef) -> Deleted:
    """Delete a run with its trades, snapshots and report records (report files stay)."""
    history = RunHistory(api.database)
    result = history.delete(history.plan_delete([run_id]))
    return Deleted(
        run_ids=list(result.run_ids),
        trades=result.trades,
        snapshots=result.snapshots,
        reports=result.reports,
        configurations=result.configurations,
    )


@router.post("/{run_id}/cancel")
async def cancel(api: State, run_id: RunRef) -> RunRecord:
    """Stop a queued or running backtest; it is stored INTERRUPTED and can be resumed
    (`ntrader backtest resume`)."""
    history = RunHistory(api.database)
    run = await run_in_threadpool(history.get, run_id)
    await api.jobs.cancel(api.jobs.runs, run.id)
    return await run_in_threadpool(history.get, run.id)


@router.get("/{run_id}/trades")
def trades(
    api: State,
    run_id: RunRef,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TradePage:
    """The run's trades in entry order, a page at a time (pass ``next_cursor`` back)."""
    page = RunHistory(api.database).trade_page(run_id, limit=limit, cursor=cursor)
    return TradePage(items=list(page.trades), total=page.total, next_cursor=page.next_cursor)


@router.get("/{run_id}/equity")
def equity(api: State, run_id: RunRef) -> EquityCurve:
    """The portfolio's value over the run (one point per snapshot)."""
    history = RunHistory(api.database)
    run = history.get(run_id)
    return EquityCurve(run_id=run.id, points=history.snapshots(run.id))


@router.get(
    "/{run_id}/report",
    response_class=Response,
    responses={
        200: {
            "description": "The report, byte for byte what `report generate` writes "
            "(a CSV report is a zip of its files).",
            "content": {media.split(";")[0]: {} for media in _MEDIA.values()},
        }
    },
)
def report(
    api: State,
    run_id: RunRef,
    format: Literal["html", "csv", "json", "text"] = "html",
    risk_free_rate: Annotated[float | None, Query(ge=-0.5, le=1.0)] = None,
) -> Response:
    """The run's report in one format."""
    rendered = ReportService(api.database).render(run_id, format, risk_free_rate=risk_free_rate)
    if rendered.report_type is ReportType.CSV:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in rendered.files.items():
                archive.writestr(name, content)
        body, filename = buffer.getvalue(), f"{rendered.short_id}_csv.zip"
    else:
        [(filename, text)] = rendered.files.items()
        body = text.encode()
    return Response(
        body,
        media_type=_MEDIA[rendered.report_type],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/{run_id}/events", response_class=EventSourceResponse, responses=EVENTS_RESPONSE)
async def events(api: State, run_id: RunRef, request: Request) -> EventSourceResponse:
    """The run's progress as server-sent events: ``status`` (its status now, then each
    change), ``stage``, ``progress`` (bars processed of the total), and at the end ``done``
    (COMPLETED) or ``failed`` (FAILED or INTERRUPTED, with the reason)."""
    run = await run_in_threadpool(RunHistory(api.database).get, run_id)
    return job_events(api.jobs, api.jobs.runs, run.id, request)
