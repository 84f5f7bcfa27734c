"""Stored IB fetch jobs (the HTTP API's), on SQLite and PostgreSQL: a job stores its
progress and how it ended, a stopped one runs its request again under the same id and
fetches only what is missing, and a server's start-up ends what a previous one left."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from ntrader.core.errors import (
    ConflictError,
    NotFoundError,
    ServiceUnavailableError,
    UserInputError,
)
from ntrader.db.database import Database
from ntrader.models.enums import RunStatus
from ntrader.models.ib_fetch import FetchRequestBody
from ntrader.services.ib.fetch import FetchOptions, FetchProgress, IbFetchService
from ntrader.services.ib.gateway import GatewayConfig
from ntrader.services.ib.jobs import FetchJobs
from ntrader.services.ib.pacing import FakeClock
from tests.fakes.tws import FakeTws, Fault

REQUEST = FetchRequestBody(
    instruments=["AAPL"], start=date(2023, 11, 20), end=date(2023, 11, 28), timeframe="1MIN"
)


@pytest.fixture
def store(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def _service(store: Database, tws: FakeTws) -> IbFetchService:
    config = GatewayConfig("127.0.0.1", tws.port, 7, "paper", connect_timeout=2.0)
    options = FetchOptions(request_timeout=2.0, retries=0, backoff_seconds=0.0)
    return IbFetchService(store, config, options, FakeClock())


def test_a_stopped_job_resumes_under_its_id_and_fetches_only_what_is_missing(
    store: Database,
) -> None:
    jobs = FetchJobs(store)
    job = jobs.submit(REQUEST)
    assert (job.status, job.request, job.started_at) == (RunStatus.PENDING, REQUEST, None)
    assert jobs.get(job.id[:8]) == jobs.get("latest") == job
    heard: list[FetchProgress] = []
    with FakeTws() as tws:
        tws.script.extend([None, None, Fault(drop_after=25)])  # the gateway goes, day 3
        with pytest.raises(ServiceUnavailableError) as lost:
            jobs.run(job.id, _service(store, tws), heard.append)
        failed = jobs.get(job.id)
        assert failed.status is RunStatus.FAILED and failed.error_message == lost.value.message
        assert failed.progress is not None and failed.progress.chunks_done == 2 == len(heard)
        assert failed.result is None and failed.started_at and failed.ended_at

        with pytest.raises(ConflictError, match="only a PENDING job can run"):
            jobs.run(job.id, _service(store, tws), heard.append)
        requeued = jobs.requeue(job.id[:8])
        assert (requeued.id, requeued.status, requeued.created_at) == (
            job.id,
            RunStatus.PENDING,
            job.created_at,
        )
        assert requeued.error_message is requeued.progress is requeued.ended_at is None
        with pytest.raises(ConflictError, match="only a FAILED or INTERRUPTED"):
            jobs.requeue(job.id)
        done = jobs.run(job.id, _service(store, tws), heard.append)
    assert done.status is RunStatus.COMPLETED and done.error_message is None
    assert done.result is not None
    [instrument] = done.result.instruments
    assert (instrument.chunks_already_stored, instrument.chunks_fetched) == (2, 4)
    assert done.result.bars_stored == 4 * 390 - 180  # the half day after Thanksgiving
    assert jobs.get(job.id) == done
    with pytest.raises(ConflictError, match="COMPLETED"):
        jobs.requeue(job.id)


def test_start_up_interrupts_what_a_previous_server_left_and_pages_list_every_job(
    store: Database,
) -> None:
    jobs = FetchJobs(store)
    pending, running, ended = (jobs.submit(REQUEST) for _ in range(3))
    with store.transaction() as repos:
        repos.fetch_jobs.start(running.id)
        repos.fetch_jobs.start(ended.id)
    jobs.end(ended.id, RunStatus.FAILED, "No security definition for AAPL.")
    assert jobs.interrupt_abandoned(pending.created_at) == []
    started = datetime.now(UTC) + timedelta(seconds=1)
    assert sorted(jobs.interrupt_abandoned(started)) == sorted([pending.id, running.id])
    for job_id in (pending.id, running.id):
        left = jobs.get(job_id)
        assert left.status is RunStatus.INTERRUPTED and left.ended_at is not None
        assert left.error_message == "the server running it stopped before it finished"
    assert jobs.get(ended.id).error_message == "No security definition for AAPL."

    seen = []
    page = jobs.page(limit=2)
    seen += page.jobs
    while page.next_cursor:
        page = jobs.page(limit=2, cursor=page.next_cursor)
        seen += page.jobs
    assert [job.id for job in seen] == [ended.id, running.id, pending.id]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_references_are_refused_with_a_sentence(store: Database) -> None:
    jobs = FetchJobs(store)
    with pytest.raises(NotFoundError) as missing:
        jobs.get("latest")
    assert missing.value.message == "No IB fetch job matches 'latest'."
    assert "GET /api/v1/data/ib/fetch" in (missing.value.hint or "")
    with pytest.raises(UserInputError, match="An empty IB fetch job id"):
        jobs.get("  ")
    with pytest.raises(NotFoundError):
        jobs.requeue("'; DROP TABLE ib_fetch_jobs; --")
    with pytest.raises(UserInputError, match="not a cursor"):
        jobs.page(cursor="garbage!")
    with pytest.raises(NotFoundError):
        jobs.end("no-such-job", RunStatus.FAILED, "why")
    assert jobs.page().jobs == ()
