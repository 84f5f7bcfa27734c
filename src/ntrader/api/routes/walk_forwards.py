"""/api/v1/walk-forwards: walk-forward analyses as jobs, shown as `backtest walk-forward
--json` prints them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from ntrader.api.events import EVENTS_RESPONSE, job_events
from ntrader.api.problems import ERROR_RESPONSES
from ntrader.api.schemas import Accepted, WalkForwardRequest
from ntrader.api.state import ApiState, api_state, client_of
from ntrader.models.enums import RunStatus
from ntrader.models.walk_forward import WalkForwardView
from ntrader.services.walk_forward import WalkForwardService, parse_duration
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
    location = f"/api/v1/walk-forwards/{walk_forward_id}"
    response.headers["Location"] = location
    return Accepted(
        id=walk_forward_id,
        status=RunStatus.PENDING,
        location=location,
        events=f"{location}/events",
    )


@router.get("/{walk_forward_id}")
def get_walk_forward(api: State, walk_forward_id: WalkForwardRef) -> WalkForwardView:
    """The analysis: status, each window (dates, training sweep, chosen parameters, test
    run, in- and out-of-sample objective) and the walk-forward efficiency. While it runs,
    the windows done so far."""
    return WalkForwardService(api.database).show(walk_forward_id)


@router.get(
    "/{walk_forward_id}/events", response_class=EventSourceResponse, responses=EVENTS_RESPONSE
)
async def events(
    api: State, walk_forward_id: WalkForwardRef, request: Request
) -> EventSourceResponse:
    """Progress as server-sent events: ``status``, ``progress`` (``windows_done`` of
    ``windows``; ``runs`` of ``total`` in the current training sweep), and at the end
    ``done`` (COMPLETED) or ``failed`` (FAILED or INTERRUPTED, with the reason)."""
    record = await run_in_threadpool(WalkForwardService(api.database).get, walk_forward_id)
    return job_events(api.jobs, api.jobs.walk_forwards, record.id, request)
