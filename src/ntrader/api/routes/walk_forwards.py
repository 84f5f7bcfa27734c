"""/api/v1/walk-forwards: walk-forward analyses as jobs, shown as `backtest walk-forward
--json` prints them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from ntrader.api.events import EVENTS_RESPONSE, job_events
from ntrader.api.problems import ERROR_RESPONSES
from ntrader.api.schemas import Accepted, TakeOver, WalkForwardPage, WalkForwardRequest
from ntrader.api.state import ApiState, api_state, client_of
from ntrader.models.enums import RunStatus
from ntrader.models.walk_forward import WalkForwardListItem, WalkForwardView
from ntrader.services.liveness import is_stale
from ntrader.services.walk_forward import WalkForwardService, parse_duration
from ntrader.services.walk_forward_history import WalkForwardHistory
from ntrader.utils.config_loader import ConfigSources, validate_config

router = APIRouter(prefix="/walk-forwards", tags=["walk-forwards"], responses=ERROR_RESPONSES)
State = Annotated[ApiState, Depends(api_state)]
WalkForwardRef = Annotated[str, "an analysis id, a unique prefix of one, or `latest`"]


@router.post("", status_code=202)
async def submit(
    api: State, body: WalkForwardRequest, request: Request, response: Response
) -> Accepted:
    """Check an analysis as `backtest walk-forward` does (the windows, the space, the bars
    of every window), store it PENDING and queue it. It is one job of the server's pool:
    each window's training sweep runs its points one after another in that job's process.
    A refusal is a 422 (404 for missing bars) with the CLI's sentence, nothing stored."""
    client = client_of(request)
    api.jobs.check_accepting(client)
    sources = ConfigSources(file=Path("request body"), file_keys=body.key_paths())
    base = validate_config(body.config_values(), sources)
    train = parse_duration(body.train, "--train")
    test = parse_duration(body.test, "--test")
    step = parse_duration(body.step, "--step") if body.step is not None else None
    walk_forward_id = await run_in_threadpool(
        lambda: WalkForwardService(api.database).create(
            base, body.sweep, train=train, test=test, step=step, anchored=body.anchored
        )
    )
    api.jobs.enqueue(api.jobs.walk_forwards, walk_forward_id, client)
    return _accepted(walk_forward_id, response)


@router.get("")
def list_walk_forwards(
    api: State,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> WalkForwardPage:
    """Analyses, newest first, each with its settings, status, efficiency and how many
    windows it finished, but not the windows (`backtest walk-forward list`)."""
    page = WalkForwardHistory(api.database).page(limit=limit, cursor=cursor)
    return WalkForwardPage(
        items=[WalkForwardListItem.of(record, stale=is_stale(record)) for record in page.records],
        next_cursor=page.next_cursor,
    )


@router.get("/{walk_forward_id}")
def get_walk_forward(api: State, walk_forward_id: WalkForwardRef) -> WalkForwardView:
    """The analysis: status, each window (dates, training sweep, chosen parameters, test
    run, in- and out-of-sample objective) and the walk-forward efficiency. While it runs,
    or once it stopped, the windows done so far."""
    return WalkForwardHistory(api.database).show(walk_forward_id).view()


@router.get(
    "/{walk_forward_id}/events", response_class=EventSourceResponse, responses=EVENTS_RESPONSE
)
async def events(
    api: State, walk_forward_id: WalkForwardRef, request: Request
) -> EventSourceResponse:
    """Progress as server-sent events: ``status``, ``progress`` (``windows_done`` of
    ``windows``; ``runs`` of ``total`` in the current training sweep), and at the end
    ``done`` (COMPLETED) or ``failed`` (FAILED or INTERRUPTED, with the reason)."""
    record = await run_in_threadpool(WalkForwardHistory(api.database).get, walk_forward_id)
    return job_events(api.jobs, api.jobs.walk_forwards, record.id, request)


@router.post("/{walk_forward_id}/cancel")
async def cancel(api: State, walk_forward_id: WalkForwardRef) -> WalkForwardView:
    """Stop a queued or running analysis: the windows it finished are kept, it is stored
    INTERRUPTED, and ``resume`` runs the rest."""
    history = WalkForwardHistory(api.database)
    record = await run_in_threadpool(history.get, walk_forward_id)
    await api.jobs.cancel(api.jobs.walk_forwards, record.id)
    return (await run_in_threadpool(history.show, record.id)).view()


@router.post("/{walk_forward_id}/resume", status_code=202)
async def resume(
    api: State,
    walk_forward_id: WalkForwardRef,
    request: Request,
    response: Response,
    force: TakeOver = False,
) -> Accepted:
    """Queue the windows an INTERRUPTED or FAILED analysis did not finish (`backtest
    walk-forward resume`): the finished ones are kept, and a training sweep cut short is
    continued. Any other status is a 409."""
    client = client_of(request)
    api.jobs.check_accepting(client)
    record = await run_in_threadpool(
        WalkForwardHistory(api.database).requeue, walk_forward_id, force=force
    )
    api.jobs.enqueue(api.jobs.walk_forwards, record.id, client)
    return _accepted(record.id, response)


def _accepted(walk_forward_id: str, response: Response) -> Accepted:
    location = f"/api/v1/walk-forwards/{walk_forward_id}"
    response.headers["Location"] = location
    return Accepted(
        id=walk_forward_id,
        status=RunStatus.PENDING,
        location=location,
        events=f"{location}/events",
    )
