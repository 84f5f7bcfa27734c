"""/api/v1/sweeps: parameter sweeps as jobs, ranked as `backtest sweep show` ranks them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from ntrader.api.events import EVENTS_RESPONSE, job_events
from ntrader.api.problems import ERROR_RESPONSES
from ntrader.api.schemas import Accepted, SweepPage, SweepRequest, TakeOver
from ntrader.api.state import ApiState, api_state, client_of
from ntrader.models.sweep import SweepListItem, SweepRecord, SweepView
from ntrader.services.liveness import is_stale
from ntrader.services.sweep_executors import InProcessExecutor
from ntrader.services.sweep_history import SweepHistory
from ntrader.services.sweep_service import SweepService
from ntrader.utils.config_loader import ConfigSources, validate_config

router = APIRouter(prefix="/sweeps", tags=["sweeps"], responses=ERROR_RESPONSES)
State = Annotated[ApiState, Depends(api_state)]
SweepRef = Annotated[str, "a sweep id, a unique prefix of one, or `latest`"]


@router.post("", status_code=202)
async def submit(api: State, body: SweepRequest, request: Request, response: Response) -> Accepted:
    """Check a sweep (a run configuration with its ``sweep:`` section, as JSON) as
    `backtest sweep --config` does, store it PENDING with its points, and queue it.

    The sweep is one job of the server's pool: its points run one after another in that
    job's process. A space the strategy refuses (a value outside a parameter's declared
    range, a bad constraint) is a 422 with the CLI's sentence, and nothing is stored.
    """
    client = client_of(request)
    api.jobs.check_accepting(client)
    sources = ConfigSources(file=Path("request body"), file_keys=body.key_paths())
    base = validate_config(body.config_values(), sources)
    service = SweepService(api.database)
    sweep, _plan = await run_in_threadpool(service.create, base, body.sweep, InProcessExecutor.name)
    confirm_top = str(body.confirm_top) if body.screen else "none"
    api.jobs.enqueue(api.jobs.sweeps, sweep.id, client, ("new", confirm_top))
    return _accepted(sweep, response)


@router.get("")
def list_sweeps(
    api: State,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> SweepPage:
    """Sweeps, newest first, without their points (`backtest sweep list`)."""
    page = SweepHistory(api.database).page(limit=limit, cursor=cursor)
    return SweepPage(
        items=[SweepListItem.of(sweep, stale=is_stale(sweep)) for sweep in page.sweeps],
        next_cursor=page.next_cursor,
    )


@router.get("/{sweep_id}")
def get_sweep(api: State, sweep_id: SweepRef) -> SweepView:
    """The sweep's status and its points ranked best first by its objective, with the
    deflated Sharpe ratio and PBO (`backtest sweep show --json`)."""
    return SweepHistory(api.database).show(sweep_id).view()


@router.get("/{sweep_id}/events", response_class=EventSourceResponse, responses=EVENTS_RESPONSE)
async def events(api: State, sweep_id: SweepRef, request: Request) -> EventSourceResponse:
    """The sweep's progress as server-sent events: ``status``, ``progress`` (``runs`` done
    of ``total``, and the ``best`` point so far), and at the end ``done`` (COMPLETED) or
    ``failed`` (INTERRUPTED)."""
    sweep = await run_in_threadpool(SweepHistory(api.database).get, sweep_id)
    return job_events(api.jobs, api.jobs.sweeps, sweep.id, request)


@router.post("/{sweep_id}/cancel")
async def cancel(api: State, sweep_id: SweepRef) -> SweepView:
    """Stop a queued or running sweep: finished runs are kept, it is stored INTERRUPTED,
    and ``resume`` runs the rest."""
    history = SweepHistory(api.database)
    sweep = await run_in_threadpool(history.get, sweep_id)
    await api.jobs.cancel(api.jobs.sweeps, sweep.id)
    return (await run_in_threadpool(history.show, sweep.id)).view()


@router.post("/{sweep_id}/resume", status_code=202)
async def resume(
    api: State, sweep_id: SweepRef, request: Request, response: Response, force: TakeOver = False
) -> Accepted:
    """Queue the points of a stopped sweep that have no finished run (`backtest sweep
    resume`); the finished ones are kept."""
    client = client_of(request)
    api.jobs.check_accepting(client)
    sweep = await run_in_threadpool(SweepHistory(api.database).requeue, sweep_id, force=force)
    api.jobs.enqueue(api.jobs.sweeps, sweep.id, client, ("resume",))
    return _accepted(sweep, response)


def _accepted(sweep: SweepRecord, response: Response) -> Accepted:
    location = f"/api/v1/sweeps/{sweep.id}"
    response.headers["Location"] = location
    return Accepted(
        id=sweep.id, status=sweep.status, location=location, events=f"{location}/events"
    )
