"""A job's progress as server-sent events, for every kind of job (backtests, sweeps)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from ntrader.api.jobs import JobRunner, Ledger, end_event

_STATUS_POLL_S = 1.0  # how often a stream re-reads a job this server does not run
EVENTS_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "Server-sent events", "content": {"text/event-stream": {}}}
}


def job_events(
    jobs: JobRunner, ledger: Ledger, job_id: str, request: Request
) -> EventSourceResponse:
    """``status`` (now, then each change), what the worker reports, and at the end
    ``done`` (completed) or ``failed`` (with the reason)."""

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async with jobs.follow(job_id) as queue:
            current = await run_in_threadpool(ledger.state, job_id)
            yield _sse({"event": "status", "status": current.status})
            while not current.terminal:
                if await request.is_disconnected():
                    return
                try:
                    event = await asyncio.wait_for(queue.get(), _STATUS_POLL_S)
                except TimeoutError:
                    latest = await run_in_threadpool(ledger.state, job_id)
                    if latest.status != current.status:
                        yield _sse({"event": "status", "status": latest.status})
                    current = latest
                    continue
                if event["event"] in {"done", "failed"}:
                    break
                yield _sse(event)
            yield _sse(end_event(await run_in_threadpool(ledger.state, job_id)))

    return EventSourceResponse(stream())


def _sse(event: dict[str, Any]) -> ServerSentEvent:
    data = {key: value for key, value in event.items() if key != "event"}
    return ServerSentEvent(data=json.dumps(data), event=str(event["event"]))
