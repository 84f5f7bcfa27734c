"""/api/v1/data: stored instruments, their bars (streamed), and CSV import."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated

import numpy as np
import pyarrow as pa
from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from ntrader.api.events import EVENTS_RESPONSE, job_events
from ntrader.api.problems import ERROR_RESPONSES
from ntrader.api.schemas import Accepted, FetchJobPage, Imported, Instrument
from ntrader.api.state import ApiState, api_state, client_of
from ntrader.core.errors import NtraderError, UserInputError
from ntrader.models.bars import VALUE_COLUMNS, BarArrays
from ntrader.models.enums import AssetClass, Timeframe
from ntrader.models.ib_connection import ConnectionView
from ntrader.models.ib_fetch import FetchJob, FetchRequestBody
from ntrader.services.data_service import (
    BarStream,
    DataService,
    ImportRequest,
    bar_texts,
    bars_csv,
)
from ntrader.services.ib.fetch import FetchRequest, checked
from ntrader.services.ib.gateway import GatewayConfig, connect
from ntrader.services.ib.jobs import FetchJobs
from ntrader.utils.timeutil import ns_to_datetime

router = APIRouter(prefix="/data", tags=["data"], responses=ERROR_RESPONSES)
State = Annotated[ApiState, Depends(api_state)]
FetchRef = Annotated[str, "a fetch job id, a unique prefix of one, or `latest`"]

CSV = "text/csv"
ARROW = "application/vnd.apache.arrow.stream"
JSON = "application/json"
_UPLOAD_CHUNK = 1024 * 1024


@router.get("/instruments")
def instruments(api: State) -> list[Instrument]:
    """Every stored instrument and timeframe with its number of bars and its range."""
    return [
        Instrument(
            instrument_id=row.instrument_id,
            timeframe=row.timeframe,
            rows=row.rows,
            first=ns_to_datetime(row.first_ts),
            last=ns_to_datetime(row.last_ts),
        )
        for row in DataService(api.database).coverage()
    ]


@router.get(
    "/bars",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The bars, streamed: JSON (an array), CSV (as `data export` "
            "writes it) or Arrow IPC stream, chosen by the Accept header.",
            "content": {JSON: {}, CSV: {}, ARROW: {}},
        }
    },
)
def bars(
    api: State,
    instrument: str,
    timeframe: Timeframe = Timeframe.DAILY,
    start: date | None = None,
    end: date | None = None,
    accept: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Stored bars of one instrument and timeframe over a range (whole days, UTC)."""
    if start and end and end < start:
        raise UserInputError(f"The end date {end} is before the start date {start}.")
    stream = DataService(api.database).open_bars(instrument, timeframe, start, end)
    media = _chosen(accept)
    writer = {CSV: _csv, ARROW: _arrow, JSON: _json}[media]
    return StreamingResponse(
        writer(stream),
        media_type=media,
        headers={"X-Instrument-Id": stream.instrument_id, "X-Row-Count": str(stream.rows)},
    )


def _chosen(accept: str | None) -> str:
    """The first of JSON, CSV and Arrow the Accept header names (JSON when none is named)."""
    for part in (accept or "").split(","):
        media = part.split(";")[0].strip().lower()
        if media in {CSV, ARROW, JSON}:
            return media
    return JSON


def _csv(stream: BarStream) -> Iterator[bytes]:
    for index, chunk in enumerate(stream.chunks()):
        yield bars_csv(chunk, stream.price_precision, header=index == 0).encode()


def _json(stream: BarStream) -> Iterator[bytes]:
    # The decimal texts are JSON numbers: the values exactly as `data export` writes them.
    yield b"["
    first = True
    for chunk in stream.chunks():
        texts = bar_texts(chunk, stream.price_precision)
        rows = []
        for i, timestamp in enumerate(texts["timestamp"]):
            values = ",".join(f'"{name}":{texts[name][i]}' for name in list(texts)[1:])
            rows.append(f'{{"timestamp":{json.dumps(str(timestamp))},{values}}}')
        yield (("" if first else ",") + ",".join(rows)).encode()
        first = False
    yield b"]"


_ARROW_SCHEMA = pa.schema(
    [
        ("timestamp", pa.timestamp("ns", tz="UTC")),
        *((name, pa.float64()) for name in VALUE_COLUMNS),
    ]
)


def _arrow(stream: BarStream) -> Iterator[bytes]:
    sink = _Pending()
    with pa.ipc.new_stream(sink, _ARROW_SCHEMA) as writer:
        yield sink.drain()
        for chunk in stream.chunks():
            writer.write_batch(_batch(chunk))
            yield sink.drain()
    yield sink.drain()


class _Pending(io.RawIOBase):
    """A write-only file that hands over what was written since the last ``drain``."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _batch(chunk: BarArrays) -> pa.RecordBatch:
    columns = [pa.array(chunk.ts.astype(np.int64), type=pa.timestamp("ns", tz="UTC"))]
    columns += [pa.array(getattr(chunk, name)) for name in VALUE_COLUMNS]
    return pa.RecordBatch.from_arrays(columns, schema=_ARROW_SCHEMA)


@router.post("/import", status_code=201)
async def import_csv(
    api: State,
    file: Annotated[UploadFile, File(description="The CSV file, as `data import` reads it.")],
    instrument: Annotated[str, Form(min_length=1, max_length=50)],
    timeframe: Annotated[Timeframe, Form()] = Timeframe.DAILY,
    venue: Annotated[str | None, Form(max_length=20)] = None,
    asset_class: Annotated[AssetClass | None, Form()] = None,
    currency: Annotated[str | None, Form(max_length=10)] = None,
    timezone: Annotated[str, Form(max_length=64)] = "UTC",
    replace: Annotated[bool, Form()] = False,
) -> Imported:
    """Import a CSV of bars with exactly `data import`'s validation: all rows stored, or
    none (422 with the rows and rules it breaks; 409 if bars differ from stored ones and
    ``replace`` is false)."""
    name = Path(file.filename or "upload.csv").name or "upload.csv"
    with tempfile.TemporaryDirectory(prefix="ntrader-upload-") as directory:
        path = Path(directory) / name
        with path.open("wb") as target:
            while chunk := await file.read(_UPLOAD_CHUNK):
                target.write(chunk)
        request = ImportRequest(
            file=path,
            instrument=instrument,
            timeframe=timeframe,
            venue=venue,
            asset_class=asset_class,
            currency=currency,
            timezone=timezone,
            replace=replace,
        )
        try:
            result = await run_in_threadpool(DataService(api.database).import_csv, request)
        except NtraderError as exc:
            # The loader names the file by its path; the client knows it by its own name.
            exc.message = exc.message.replace(str(path), name).replace(directory, "")
            raise
    return Imported(
        instrument_id=result.instrument_id,
        timeframe=result.timeframe,
        rows_in_file=result.rows_in_file,
        rows_imported=result.rows_imported,
        rows_replaced=result.rows_replaced,
        rows_already_present=result.rows_already_present,
        first=ns_to_datetime(result.first_ts),
        last=ns_to_datetime(result.last_ts),
        data_version=result.data_version,
    )


@router.get("/ib/connection")
async def ib_connection(api: State) -> ConnectionView:
    """Connect to the server's gateway (``NTRADER_IB_*``, never the request's) and describe
    the session, as `data connect --json` does; 503 with what to check when it does not
    answer (refused, silent, API disabled, client id taken, the other mode)."""
    report = await run_in_threadpool(connect, GatewayConfig.from_settings(api.settings))
    return report.view()


@router.post("/ib/fetch", status_code=202)
async def ib_fetch(
    api: State, body: FetchRequestBody, request: Request, response: Response
) -> Accepted:
    """Fetch historical bars from Interactive Brokers into the store, as a job (`data
    fetch`). The gateway is the server's (``NTRADER_IB_*``), never the request's; 503 when
    it does not answer. The job is stored PENDING before this answers; each chunk is
    validated like `data import` and stored as it arrives, so the same request again
    fetches only what is missing."""
    client = client_of(request)
    api.jobs.check_accepting(client)
    checked(FetchRequest.of(body))
    await run_in_threadpool(connect, GatewayConfig.from_settings(api.settings))
    job = await run_in_threadpool(FetchJobs(api.database).submit, body)
    return _fetch_accepted(api, job, client, response)


@router.get("/ib/fetch")
def ib_fetch_jobs(
    api: State,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> FetchJobPage:
    """The stored fetch jobs, newest first, a page at a time (pass ``next_cursor`` back)."""
    page = FetchJobs(api.database).page(limit=limit, cursor=cursor)
    return FetchJobPage(items=list(page.jobs), next_cursor=page.next_cursor)


@router.get("/ib/fetch/{job_id}")
def ib_fetch_job(api: State, job_id: FetchRef) -> FetchJob:
    """A fetch job: its request, progress, and once done what it stored per instrument
    (what `data fetch --json` prints), or why it stopped."""
    return FetchJobs(api.database).get(job_id)


@router.post("/ib/fetch/{job_id}/resume", status_code=202)
async def ib_fetch_resume(
    api: State, job_id: FetchRef, request: Request, response: Response
) -> Accepted:
    """Run a FAILED or INTERRUPTED fetch job's request again under the same id; it fetches
    only what is still missing. 503 when the gateway does not answer."""
    client = client_of(request)
    api.jobs.check_accepting(client)
    jobs = FetchJobs(api.database)
    stopped = await run_in_threadpool(jobs.get, job_id)
    await run_in_threadpool(connect, GatewayConfig.from_settings(api.settings))
    job = await run_in_threadpool(jobs.requeue, stopped.id)
    return _fetch_accepted(api, job, client, response)


@router.post("/ib/fetch/{job_id}/cancel")
async def ib_fetch_cancel(api: State, job_id: FetchRef) -> FetchJob:
    """Stop a queued or running fetch job: it is stored INTERRUPTED, the chunks it stored
    are kept, and ``resume`` fetches the rest."""
    jobs = FetchJobs(api.database)
    job = await run_in_threadpool(jobs.get, job_id)
    await api.jobs.cancel(api.jobs.fetches, job.id)
    return await run_in_threadpool(jobs.get, job.id)


@router.get(
    "/ib/fetch/{job_id}/events", response_class=EventSourceResponse, responses=EVENTS_RESPONSE
)
async def ib_fetch_events(api: State, job_id: FetchRef, request: Request) -> EventSourceResponse:
    """Progress as server-sent events: ``status``, ``progress`` (``instrument``,
    ``chunks_done`` of ``chunks_total``, ``bars_stored``), ``result``, and at the end
    ``done`` or ``failed`` (with the reason)."""
    job = await run_in_threadpool(FetchJobs(api.database).get, job_id)
    return job_events(api.jobs, api.jobs.fetches, job.id, request)


def _fetch_accepted(api: ApiState, job: FetchJob, client: str, response: Response) -> Accepted:
    api.jobs.enqueue(api.jobs.fetches, job.id, client)
    location = f"/api/v1/data/ib/fetch/{job.id}"
    response.headers["Location"] = location
    return Accepted(id=job.id, status=job.status, location=location, events=f"{location}/events")
