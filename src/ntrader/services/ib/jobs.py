"""IB fetch jobs of the HTTP API, stored: submitted PENDING before the 202, run by a worker
that stores its progress and end itself, ended INTERRUPTED when a server that ran them is
gone, and resumed by running the same request again (a fetch asks IB only for what is
missing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from ntrader.core.errors import ConflictError, NotFoundError, NtraderError
from ntrader.db.database import Database
from ntrader.db.repositories import FetchJobRepository
from ntrader.models.enums import RunStatus
from ntrader.models.ib_fetch import FetchJob, FetchProgressView, FetchRequestBody
from ntrader.services.cursors import newest_first_page, page_start
from ntrader.services.ib.fetch import (
    FetchInterruptedError,
    FetchProgress,
    FetchRequest,
    IbFetchService,
)

_LIST_HINT = "GET /api/v1/data/ib/fetch lists the stored fetch jobs."
# A job that stopped can run its request again; one that completed has nothing missing.
_RESUMABLE = (RunStatus.FAILED, RunStatus.INTERRUPTED)


@dataclass(frozen=True, slots=True)
class FetchJobPage:
    jobs: tuple[FetchJob, ...]
    next_cursor: str | None


class FetchJobs:
    def __init__(self, database: Database) -> None:
        self._database = database

    def submit(self, request: FetchRequestBody) -> FetchJob:
        """Store a job PENDING, for the server's job pool to run."""
        with self._database.transaction() as repos:
            return repos.fetch_jobs.get(repos.fetch_jobs.create(request))

    def get(self, job_ref: str) -> FetchJob:
        """A job by full id, unique prefix, or ``latest``."""
        with self._database.transaction() as repos:
            return _find(repos.fetch_jobs, job_ref)

    def page(self, *, limit: int = 50, cursor: str | None = None) -> FetchJobPage:
        """One page of the jobs, newest first; ``cursor`` is the previous page's
        ``next_cursor``."""
        with self._database.transaction() as repos:
            found = repos.fetch_jobs.list(limit + 1, page_start(cursor))
        return FetchJobPage(*newest_first_page(found, limit))

    def requeue(self, job_ref: str) -> FetchJob:
        """Store a stopped job PENDING again, to run its request under the same id."""
        with self._database.transaction() as repos:
            job = _find(repos.fetch_jobs, job_ref)
            if job.status not in _RESUMABLE:
                raise ConflictError(
                    f"IB fetch job {job.id} is {job.status.value}; only a FAILED or "
                    "INTERRUPTED job can be resumed.",
                    hint="A completed fetch is submitted again as a new job (it fetches only "
                    "what is missing).",
                )
            repos.fetch_jobs.requeue(job.id)
            return repos.fetch_jobs.get(job.id)

    def end(self, job_id: str, status: RunStatus, reason: str) -> None:
        """FAILED or INTERRUPTED with the reason: its worker could not say so itself."""
        with self._database.transaction() as repos:
            repos.fetch_jobs.end(job_id, status, reason)

    def interrupt_abandoned(self, started_before: datetime) -> list[str]:
        """Mark INTERRUPTED the jobs a stopped server left PENDING or RUNNING (created
        before ``started_before``, when this server started); returns their ids. Only a
        server runs fetch jobs, and a server's workers end with it."""
        with self._database.transaction() as repos:
            abandoned = repos.fetch_jobs.unfinished(started_before)
            for job_id in abandoned:
                repos.fetch_jobs.end(
                    job_id,
                    RunStatus.INTERRUPTED,
                    "the server running it stopped before it finished",
                )
        return abandoned

    def run(
        self,
        job_id: str,
        service: IbFetchService,
        on_progress: Callable[[FetchProgress], None],
    ) -> FetchJob:
        """Run a PENDING job's request, storing its progress and its end; a refusal or an
        interruption is stored with its sentence, then raised."""
        with self._database.transaction() as repos:
            job = repos.fetch_jobs.get(job_id)
            if job.status is not RunStatus.PENDING:
                raise ConflictError(
                    f"IB fetch job {job.id} is {job.status.value}; only a PENDING job can run."
                )
            repos.fetch_jobs.start(job.id)

        def progress(update: FetchProgress) -> None:
            with self._database.transaction() as repos:
                repos.fetch_jobs.set_progress(job.id, FetchProgressView(**asdict(update)))
            on_progress(update)

        try:
            report = service.fetch(FetchRequest.of(job.request), progress)
        except KeyboardInterrupt:  # stopped before the fetch took over the signal
            self.end(job.id, RunStatus.INTERRUPTED, "stopped before it fetched anything")
            raise
        except FetchInterruptedError as exc:
            self.end(job.id, RunStatus.INTERRUPTED, exc.message)
            raise
        except NtraderError as exc:
            self.end(job.id, RunStatus.FAILED, exc.message)
            raise
        with self._database.transaction() as repos:
            repos.fetch_jobs.complete(job.id, report.summary(job.request.timeframe))
            return repos.fetch_jobs.get(job.id)


def _find(jobs: FetchJobRepository, job_ref: str) -> FetchJob:
    try:
        return jobs.get(job_ref)
    except NotFoundError as error:
        error.hint = _LIST_HINT  # the store knows no endpoints
        raise
